#include "ui/chat/chat_types.h"

namespace ql::ui {

QString conversation_title(const ChatMessage& first_question) {
  // Long enough to recognise in the list, short enough for one line of it.
  constexpr int kMaxChars = 60;
  const QString first_line = first_question.text.trimmed().section(QLatin1Char('\n'), 0, 0).trimmed();
  if (!first_line.isEmpty()) {
    if (first_line.size() <= kMaxChars) return first_line;
    return first_line.left(kMaxChars - 1).trimmed() + QChar(0x2026);  // ellipsis
  }
  if (!first_question.images.isEmpty()) return QStringLiteral("Image: %1").arg(first_question.images.front().label);
  return QStringLiteral("Untitled chat");
}

}  // namespace ql::ui
