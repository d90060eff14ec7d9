#include "ui/chat/conversation_store.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSaveFile>
#include <QSet>
#include <QStandardPaths>
#include <QtDebug>
#include <algorithm>

#include "core/common/small_file.h"
#include "ui/chat/conversation_json.h"

namespace ql::ui {
namespace {

// A picture kept with a conversation: far above any photo, far below a runaway read.
constexpr uint64_t kMaxImageFileBytes = 1ull << 30;

constexpr const char* kJsonName = "conversation.json";

std::string s(const QString& q) { return q.toStdString(); }

// Keeps a copied file's name recognisable but safe on every file system.
QString safe_file_name(const QString& name) {
  QString out = name;
  static const QRegularExpression unsafe(QStringLiteral("[^A-Za-z0-9._-]"));
  out.replace(unsafe, QStringLiteral("_"));
  if (out.isEmpty() || out.startsWith('.')) out.prepend("image");
  return out.right(80);
}

Status write_atomically(const QString& path, const QByteArray& bytes) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return internal_err("{}: cannot write: {}", s(path), s(file.errorString()));
  if (file.write(bytes) != bytes.size()) {
    return internal_err("{}: cannot write: {}", s(path), s(file.errorString()));
  }
  if (!file.commit()) return internal_err("{}: cannot write: {}", s(path), s(file.errorString()));
  return {};
}

Status write_png_atomically(const QString& path, const QImage& image) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return internal_err("{}: cannot write: {}", s(path), s(file.errorString()));
  if (!image.save(&file, "PNG")) return internal_err("{}: cannot encode the image as PNG", s(path));
  if (!file.commit()) return internal_err("{}: cannot write: {}", s(path), s(file.errorString()));
  return {};
}

// A name not used by the conversation nor present in the folder.
QString unused_name(const QDir& dir, const QSet<QString>& taken, const QString& base) {
  for (int n = 1;; ++n) {
    const QString name = QStringLiteral("%1-%2").arg(n, 2, 10, QLatin1Char('0')).arg(base);
    if (!taken.contains(name) && !dir.exists(name)) return name;
  }
}

Status store_image(ChatImage& image, const QDir& dir, QSet<QString>& taken) {
  if (!image.stored_name.isEmpty() && dir.exists(image.stored_name)) {
    image.source_path = dir.filePath(image.stored_name);
    return {};
  }
  const bool pasted = !image.pixels.isNull();
  const QString name =
      unused_name(dir, taken, pasted ? QStringLiteral("pasted.png") : safe_file_name(QFileInfo(image.source_path).fileName()));
  const QString target = dir.filePath(name);
  if (pasted) {
    QL_TRY(write_png_atomically(target, image.pixels));
  } else {
    // A regular file of bounded size only (small_file.h): a FIFO or a device
    // in a picture's place must not hang or fill the app.
    auto bytes = read_small_file(image.source_path.toStdString(), kMaxImageFileBytes);
    if (!bytes) return err("cannot copy the image into the conversation: {}", bytes.message());
    QL_TRY(write_atomically(target, QByteArray::fromStdString(*bytes)));
  }
  image.stored_name = name;
  image.source_path = target;
  taken.insert(name);
  return {};
}

}  // namespace

ConversationStore::ConversationStore(QString root) : root_(std::move(root)) {}

QString ConversationStore::default_root() {
  return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/conversations");
}

QString ConversationStore::new_id() {
  const QString when = QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-HHmmss"));
  const quint32 random = QRandomGenerator::global()->bounded(0x1000000u);
  return QStringLiteral("%1-%2").arg(when).arg(random, 6, 16, QLatin1Char('0'));
}

QString ConversationStore::folder(const QString& id) const { return QDir(root_).filePath(id); }

QString ConversationStore::json_path(const QString& id) const { return QDir(folder(id)).filePath(kJsonName); }

QList<ConversationSummary> ConversationStore::list() const {
  QList<ConversationSummary> out;
  const QDir root(root_);
  for (const QString& id : root.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
    if (!QFile::exists(json_path(id))) continue;  // a folder being written for the first time, or not ours
    auto c = load(id);
    if (!c) {
      qWarning().noquote() << "skipping saved conversation" << id << ":" << QString::fromStdString(c.message());
      continue;
    }
    out.append({c->id, c->title, c->created, c->updated});
  }
  std::sort(out.begin(), out.end(), [](const ConversationSummary& a, const ConversationSummary& b) {
    return a.updated != b.updated ? a.updated > b.updated : a.id > b.id;
  });
  return out;
}

Result<ChatConversation> ConversationStore::load(const QString& id) const {
  if (!is_plain_file_name(id)) return err("\"{}\" is not a conversation id", s(id));
  const QString path = json_path(id);
  auto text = read_small_file(path.toStdString());  // regular and bounded, as every JSON file (small_file.h)
  if (!text) return text.error();
  QJsonParseError parse_error;
  const QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromStdString(*text), &parse_error);
  if (doc.isNull()) {
    return err("{}: not valid JSON at offset {}: {}", s(path), parse_error.offset, s(parse_error.errorString()));
  }
  if (!doc.isObject()) return err("{}: not a JSON object", s(path));
  auto c = conversation_from_json(doc.object(), folder(id));
  if (!c) return err("{}: {}", s(path), c.message());
  if (c->id != id) return err("{}: its id \"{}\" is not its folder's name", s(path), s(c->id));
  return c;
}

Status ConversationStore::save(ChatConversation& c) {
  if (c.id.isEmpty()) c.id = new_id();
  if (!is_plain_file_name(c.id)) return err("\"{}\" is not a conversation id", s(c.id));
  const QString dir_path = folder(c.id);
  if (!QDir().mkpath(dir_path)) return internal_err("{}: cannot create the folder", s(dir_path));
  QDir dir(dir_path);

  QSet<QString> taken;
  for (const ChatMessage& m : c.messages) {
    for (const ChatImage& image : m.images) {
      if (!image.stored_name.isEmpty()) taken.insert(image.stored_name);
    }
  }
  // Images first: the JSON that names them is written only once they exist.
  for (ChatMessage& m : c.messages) {
    for (ChatImage& image : m.images) QL_TRY(store_image(image, dir, taken));
  }

  const QDateTime now = QDateTime::currentDateTimeUtc();
  if (!c.created.isValid()) c.created = now;
  c.updated = now;
  const QByteArray json = QJsonDocument(conversation_to_json(c)).toJson(QJsonDocument::Indented);
  QL_TRY(write_atomically(json_path(c.id), json));

  // Images of dropped turns (e.g. a regenerated answer's question edited away).
  QSet<QString> referenced;
  for (const ChatMessage& m : c.messages) {
    for (const ChatImage& image : m.images) referenced.insert(image.stored_name);
  }
  for (const QString& name : dir.entryList(QDir::Files)) {
    if (name != kJsonName && !referenced.contains(name)) dir.remove(name);
  }
  return {};
}

Status ConversationStore::remove(const QString& id) {
  if (!is_plain_file_name(id)) return err("\"{}\" is not a conversation id", s(id));
  QDir dir(folder(id));
  if (!dir.exists()) return err("{}: no such conversation", s(folder(id)));
  if (!dir.removeRecursively()) return internal_err("{}: cannot delete the folder", s(folder(id)));
  return {};
}

}  // namespace ql::ui
