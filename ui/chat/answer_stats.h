#pragma once
// The small grey line under an answer: how many tokens, how long until the
// first one, how fast the rest came, and why it ended when not naturally.
#include <QString>

#include "core/engine/generation_result.h"
#include "ui/chat/chat_types.h"

namespace ql::ui {

AnswerStats answer_stats(const engine::GenerationResult& result);

// e.g. "8 tokens · first token 312 ms · 187.4 tokens/s · stopped"
QString answer_stats_text(const AnswerStats& stats);

}  // namespace ql::ui
