#pragma once
// A conversation <-> the JSON of conversation.json. Images are named by the
// file beside the JSON (stored_name); reading turns those names back into
// paths inside the conversation's folder. Reading checks every field and
// says which one is wrong, so a damaged file is refused with a reason.
#include <QJsonObject>
#include <QString>

#include "core/common/result.h"
#include "ui/chat/chat_types.h"

namespace ql::ui {

inline constexpr const char* kConversationFormat = "quantlens-conversation";
inline constexpr int kConversationVersion = 1;

// Every image must have a stored_name (the store copies images before writing).
QJsonObject conversation_to_json(const ChatConversation& conversation);

// `folder` is the conversation's folder: images' source_path = folder/stored_name.
Result<ChatConversation> conversation_from_json(const QJsonObject& json, const QString& folder);

// True for a plain file name (no folder part, not "." or ".."): what stored
// names and ids must be so that a JSON file cannot point outside its folder.
bool is_plain_file_name(const QString& name);

}  // namespace ql::ui
