#include "ui/chat/conversation_json.h"

#include <QDir>
#include <QJsonArray>

namespace ql::ui {
namespace {

QString role_name(ChatRole role) { return role == ChatRole::kUser ? "user" : "assistant"; }

QJsonObject stats_to_json(const AnswerStats& s) {
  return QJsonObject{{"tokens", s.tokens},
                     {"ttft_ms", s.ttft_ms},
                     {"tokens_per_s", s.tokens_per_s},
                     {"stop_reason", s.stop_reason}};
}

QJsonObject message_to_json(const ChatMessage& m) {
  QJsonObject out{{"role", role_name(m.role)}, {"text", m.text}};
  if (!m.images.isEmpty()) {
    QJsonArray images;
    for (const ChatImage& image : m.images) {
      images.append(QJsonObject{{"file", image.stored_name}, {"label", image.label}});
    }
    out["images"] = images;
  }
  if (m.stats) out["stats"] = stats_to_json(*m.stats);
  return out;
}

Error field_error(const QString& where, const char* what) {
  return err("conversation.json: {} {}", where.toStdString(), what);
}

Result<QString> string_field(const QJsonObject& o, const QString& key, const QString& where,
                             bool required = true) {
  const QJsonValue v = o.value(key);
  if (v.isUndefined() && !required) return QString();
  if (!v.isString()) return field_error(where + "." + key, "is missing or not a string");
  return v.toString();
}

Result<QDateTime> date_field(const QJsonObject& o, const QString& key) {
  auto text = string_field(o, key, "conversation");
  if (!text) return text.error();
  QDateTime when = QDateTime::fromString(*text, Qt::ISODateWithMs);
  if (!when.isValid()) return field_error("conversation." + key, "is not an ISO 8601 date");
  return when;
}

Result<AnswerStats> stats_from_json(const QJsonObject& o, const QString& where) {
  AnswerStats s;
  for (const char* key : {"tokens", "ttft_ms", "tokens_per_s"}) {
    if (!o.value(key).isDouble()) return field_error(where + "." + key, "is missing or not a number");
  }
  s.tokens = o.value("tokens").toInteger();
  s.ttft_ms = o.value("ttft_ms").toDouble();
  s.tokens_per_s = o.value("tokens_per_s").toDouble();
  auto reason = string_field(o, "stop_reason", where, /*required=*/false);
  if (!reason) return reason.error();
  s.stop_reason = *reason;
  return s;
}

Result<ChatImage> image_from_json(const QJsonValue& v, const QString& where, const QDir& folder) {
  if (!v.isObject()) return field_error(where, "is not an object");
  const QJsonObject o = v.toObject();
  auto file = string_field(o, "file", where);
  if (!file) return file.error();
  if (!is_plain_file_name(*file)) return field_error(where + ".file", "is not a plain file name");
  auto label = string_field(o, "label", where, /*required=*/false);
  if (!label) return label.error();
  ChatImage image;
  image.stored_name = *file;
  image.label = label->isEmpty() ? *file : *label;
  image.source_path = folder.filePath(*file);
  return image;
}

Result<ChatMessage> message_from_json(const QJsonValue& v, const QString& where, const QDir& folder) {
  if (!v.isObject()) return field_error(where, "is not an object");
  const QJsonObject o = v.toObject();
  ChatMessage m;
  auto role = string_field(o, "role", where);
  if (!role) return role.error();
  if (*role == "user") {
    m.role = ChatRole::kUser;
  } else if (*role == "assistant") {
    m.role = ChatRole::kAssistant;
  } else {
    return field_error(where + ".role", "is neither \"user\" nor \"assistant\"");
  }
  auto text = string_field(o, "text", where);
  if (!text) return text.error();
  m.text = *text;
  const QJsonValue images = o.value("images");
  if (!images.isUndefined()) {
    if (!images.isArray()) return field_error(where + ".images", "is not an array");
    const QJsonArray list = images.toArray();
    for (qsizetype i = 0; i < list.size(); ++i) {
      auto image = image_from_json(list[i], QStringLiteral("%1.images[%2]").arg(where).arg(i), folder);
      if (!image) return image.error();
      m.images.append(std::move(image).value());
    }
  }
  const QJsonValue stats = o.value("stats");
  if (!stats.isUndefined()) {
    if (!stats.isObject()) return field_error(where + ".stats", "is not an object");
    auto s = stats_from_json(stats.toObject(), where + ".stats");
    if (!s) return s.error();
    m.stats = *s;
  }
  return m;
}

}  // namespace

bool is_plain_file_name(const QString& name) {
  return !name.isEmpty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\\') &&
         !name.contains(QChar(0));
}

QJsonObject conversation_to_json(const ChatConversation& c) {
  QJsonArray messages;
  for (const ChatMessage& m : c.messages) messages.append(message_to_json(m));
  return QJsonObject{{"format", kConversationFormat},
                     {"version", kConversationVersion},
                     {"id", c.id},
                     {"title", c.title},
                     {"created", c.created.toUTC().toString(Qt::ISODateWithMs)},
                     {"updated", c.updated.toUTC().toString(Qt::ISODateWithMs)},
                     {"system_prompt", c.system_prompt},
                     {"messages", messages}};
}

Result<ChatConversation> conversation_from_json(const QJsonObject& json, const QString& folder) {
  if (json.value("format").toString() != kConversationFormat) {
    return err("conversation.json: \"format\" is not \"{}\"", kConversationFormat);
  }
  const int version = json.value("version").toInt(-1);
  if (version != kConversationVersion) {
    return err("conversation.json: version {} is not supported (this build reads {})", version,
               kConversationVersion);
  }
  ChatConversation c;
  auto id = string_field(json, "id", "conversation");
  if (!id) return id.error();
  if (!is_plain_file_name(*id)) return field_error("conversation.id", "is not a plain name");
  c.id = *id;
  auto title = string_field(json, "title", "conversation");
  if (!title) return title.error();
  c.title = *title;
  auto created = date_field(json, "created");
  if (!created) return created.error();
  c.created = *created;
  auto updated = date_field(json, "updated");
  if (!updated) return updated.error();
  c.updated = *updated;
  auto system_prompt = string_field(json, "system_prompt", "conversation", /*required=*/false);
  if (!system_prompt) return system_prompt.error();
  c.system_prompt = *system_prompt;
  const QJsonValue messages = json.value("messages");
  if (!messages.isArray()) return field_error("conversation.messages", "is missing or not an array");
  const QJsonArray list = messages.toArray();
  const QDir dir(folder);
  for (qsizetype i = 0; i < list.size(); ++i) {
    auto m = message_from_json(list[i], QStringLiteral("messages[%1]").arg(i), dir);
    if (!m) return m.error();
    c.messages.append(std::move(m).value());
  }
  return c;
}

}  // namespace ql::ui
