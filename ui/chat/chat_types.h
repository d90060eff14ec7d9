#pragma once
// The chat as data, without widgets: what the panel shows, what is sent to
// the engine and what the conversation store writes. One conversation is a
// list of user and assistant messages; user messages carry images.
#include <QDateTime>
#include <QImage>
#include <QList>
#include <QString>
#include <optional>

namespace ql::ui {

// An image attached to a user message.
struct ChatImage {
  QString label;        // what the user sees: the file's name, or "pasted image"
  QString source_path;  // the file the engine reads; empty while pasted pixels are not saved yet
  QImage pixels;        // pasted or dropped image data; null for files (the engine decodes them)
  QString stored_name;  // the copy's name in the conversation's folder, once saved
  QImage thumbnail;     // small preview for the strip and the history; may be null (made on demand)
};

// The figures shown under an answer (GenerationResult::metrics).
struct AnswerStats {
  qint64 tokens = 0;
  double ttft_ms = 0;        // request start -> first token
  double tokens_per_s = 0;   // decode speed after the first token (0: one token or none)
  QString stop_reason;       // core's stop_reason_name: "eos", "max_tokens", "context_full", "stopped"
};

enum class ChatRole { kUser, kAssistant };

struct ChatMessage {
  ChatRole role = ChatRole::kUser;
  QString text;                      // the user's text, or the answer's Markdown
  QList<ChatImage> images;           // user messages only
  std::optional<AnswerStats> stats;  // assistant messages only
};

struct ChatConversation {
  QString id;  // empty until first saved
  QString title;
  QDateTime created;
  QDateTime updated;
  QString system_prompt;  // the one in effect when last saved (for the record)
  QList<ChatMessage> messages;
};

// The title a conversation gets from its first question: its first line,
// shortened, or the first image's name when the question has no text.
QString conversation_title(const ChatMessage& first_question);

}  // namespace ql::ui
