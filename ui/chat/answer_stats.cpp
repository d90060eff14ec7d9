#include "ui/chat/answer_stats.h"

#include <QStringList>

namespace ql::ui {

AnswerStats answer_stats(const engine::GenerationResult& result) {
  AnswerStats s;
  s.tokens = static_cast<qint64>(result.generated_ids.size());
  s.ttft_ms = result.metrics.ttft_ms;
  s.tokens_per_s = result.metrics.decode_tokens_per_s;
  s.stop_reason = QString::fromLatin1(engine::stop_reason_name(result.stop_reason));
  return s;
}

QString answer_stats_text(const AnswerStats& s) {
  QStringList parts;
  parts << (s.tokens == 1 ? QStringLiteral("1 token") : QStringLiteral("%1 tokens").arg(s.tokens));
  if (s.tokens > 0) {
    parts << (s.ttft_ms < 1000 ? QStringLiteral("first token %1 ms").arg(s.ttft_ms, 0, 'f', 0)
                               : QStringLiteral("first token %1 s").arg(s.ttft_ms / 1000, 0, 'f', 2));
  }
  // Decode speed needs two tokens (it is measured after the first).
  if (s.tokens > 1 && s.tokens_per_s > 0) parts << QStringLiteral("%1 tokens/s").arg(s.tokens_per_s, 0, 'f', 1);
  if (s.stop_reason == "stopped") parts << QStringLiteral("stopped");
  if (s.stop_reason == "max_tokens") parts << QStringLiteral("length limit reached");
  if (s.stop_reason == "context_full") parts << QStringLiteral("context full");
  return parts.join(QStringLiteral(" \u00b7 "));
}

}  // namespace ql::ui
