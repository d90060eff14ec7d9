// ConversationStore: conversations round-trip through conversation.json with
// their images copied beside it, writes leave no partial files, damaged files
// are refused with the field at fault, and ids cannot leave the root.
#include <QDir>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>
#include <sys/stat.h>

#include "ui/chat/conversation_store.h"

using namespace ql::ui;

namespace {

const QString kImages = QStringLiteral(QL_SOURCE_DIR "/resources/images");

QImage pixels_of(const QString& path) { return QImage(path).convertToFormat(QImage::Format_RGB888); }

ChatConversation two_turns() {
  ChatConversation c;
  c.title = "What is in the picture?";
  ChatMessage q;
  q.text = "What is in the picture?\nBe brief.";
  ChatImage file;
  file.label = "shapes.png";
  file.source_path = kImages + "/shapes.png";
  q.images.append(file);
  ChatImage pasted;
  pasted.label = "pasted image";
  pasted.pixels = QImage(20, 10, QImage::Format_RGB888);
  pasted.pixels.fill(QColor(10, 200, 30));
  q.images.append(pasted);
  c.messages.append(q);
  c.messages.append({ChatRole::kAssistant, "A **red** circle.\n\n```\ncode\n```", {}, AnswerStats{8, 312.5, 187.25, "max_tokens"}});
  return c;
}

}  // namespace

class TestConversationStore : public QObject {
  Q_OBJECT

 private slots:
  void saveCopiesImagesAndRoundTrips() {
    QTemporaryDir root;
    QVERIFY(root.isValid());
    ConversationStore store(root.path());
    ChatConversation c = two_turns();
    const ql::Status saved = store.save(c);
    QVERIFY2(saved.ok(), saved.ok() ? "" : saved.message().c_str());

    QVERIFY(!c.id.isEmpty());
    const QDir folder(root.filePath(c.id));
    QVERIFY(folder.exists("conversation.json"));
    // Both images now live beside the JSON, and the messages point at the copies.
    const ChatImage& copied = c.messages[0].images[0];
    const ChatImage& png = c.messages[0].images[1];
    QVERIFY(folder.exists(copied.stored_name));
    QVERIFY(folder.exists(png.stored_name));
    QVERIFY(png.stored_name.endsWith(".png"));
    QCOMPARE(copied.source_path, folder.filePath(copied.stored_name));
    QCOMPARE(pixels_of(copied.source_path), pixels_of(kImages + "/shapes.png"));
    QCOMPARE(pixels_of(png.source_path), c.messages[0].images[1].pixels.convertToFormat(QImage::Format_RGB888));
    // Written atomically: nothing but the JSON and the two images is left.
    QCOMPARE(folder.entryList(QDir::Files).size(), 3);

    auto loaded = store.load(c.id);
    QVERIFY2(loaded.ok(), loaded.ok() ? "" : loaded.message().c_str());
    QCOMPARE(loaded->id, c.id);
    QCOMPARE(loaded->title, c.title);
    QCOMPARE(loaded->created, c.created);
    QCOMPARE(loaded->messages.size(), 2);
    QCOMPARE(loaded->messages[0].text, c.messages[0].text);
    QCOMPARE(loaded->messages[0].images.size(), 2);
    QCOMPARE(loaded->messages[0].images[0].label, QString("shapes.png"));
    QCOMPARE(loaded->messages[0].images[0].source_path, copied.source_path);
    QVERIFY(loaded->messages[0].images[1].pixels.isNull());  // reopened images are files
    QCOMPARE(loaded->messages[1].role, ChatRole::kAssistant);
    QCOMPARE(loaded->messages[1].text, c.messages[1].text);
    QVERIFY(loaded->messages[1].stats.has_value());
    QCOMPARE(loaded->messages[1].stats->tokens, 8);
    QCOMPARE(loaded->messages[1].stats->ttft_ms, 312.5);
    QCOMPARE(loaded->messages[1].stats->stop_reason, QString("max_tokens"));
  }

  void saveAgainKeepsCopiesAndDropsOrphans() {
    QTemporaryDir root;
    ConversationStore store(root.path());
    ChatConversation c = two_turns();
    QVERIFY(store.save(c).ok());
    const QString first_copy = c.messages[0].images[0].stored_name;
    // A second question with the same picture gets its own copy; the first stays.
    ChatMessage again{ChatRole::kUser, "And now?", {}, {}};
    ChatImage file;
    file.label = "stop_sign.png";
    file.source_path = kImages + "/stop_sign.png";
    again.images.append(file);
    c.messages.append(again);
    QVERIFY(store.save(c).ok());
    QCOMPARE(c.messages[0].images[0].stored_name, first_copy);
    const QDir folder(root.filePath(c.id));
    QCOMPARE(folder.entryList(QDir::Files).size(), 4);
    // Dropping that turn deletes its image copy at the next save.
    const QString dropped = c.messages.back().images[0].stored_name;
    c.messages.pop_back();
    QVERIFY(store.save(c).ok());
    QVERIFY(!folder.exists(dropped));
    QVERIFY(folder.exists(first_copy));
  }

  void listIsNewestFirstAndSkipsDamagedFiles() {
    QTemporaryDir root;
    ConversationStore store(root.path());
    ChatConversation older = two_turns();
    older.title = "older";
    QVERIFY(store.save(older).ok());
    QTest::qWait(5);  // distinct update times
    ChatConversation newer = two_turns();
    newer.title = "newer";
    QVERIFY(store.save(newer).ok());
    QVERIFY(QDir(root.path()).mkpath("broken"));
    QFile broken(root.filePath("broken/conversation.json"));
    QVERIFY(broken.open(QIODevice::WriteOnly));
    broken.write("{ not json");
    broken.close();

    const QList<ConversationSummary> list = store.list();
    QCOMPARE(list.size(), 2);
    QCOMPARE(list[0].title, QString("newer"));
    QCOMPARE(list[1].title, QString("older"));
    QCOMPARE(list[1].id, older.id);

    auto bad = store.load("broken");
    QVERIFY(!bad.ok());
    QVERIFY2(QString::fromStdString(bad.message()).contains("broken/conversation.json"), bad.message().c_str());
  }

  void damagedFieldIsNamed() {
    QTemporaryDir root;
    ConversationStore store(root.path());
    ChatConversation c = two_turns();
    QVERIFY(store.save(c).ok());
    const QString path = root.filePath(c.id + "/conversation.json");
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QJsonObject json = QJsonDocument::fromJson(file.readAll()).object();
    file.close();

    // A message with an unknown role.
    QJsonObject edited = json;
    QJsonArray messages = edited["messages"].toArray();
    QJsonObject second = messages[1].toObject();
    second["role"] = "robot";
    messages[1] = second;
    edited["messages"] = messages;
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(QJsonDocument(edited).toJson());
    file.close();
    auto bad_role = store.load(c.id);
    QVERIFY(!bad_role.ok());
    QVERIFY2(QString::fromStdString(bad_role.message()).contains("messages[1].role"), bad_role.message().c_str());

    // An image name that tries to leave the folder.
    edited = json;
    messages = edited["messages"].toArray();
    QJsonObject first = messages[0].toObject();
    QJsonArray images = first["images"].toArray();
    QJsonObject image = images[0].toObject();
    image["file"] = "../../etc/passwd";
    images[0] = image;
    first["images"] = images;
    messages[0] = first;
    edited["messages"] = messages;
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(QJsonDocument(edited).toJson());
    file.close();
    auto escape = store.load(c.id);
    QVERIFY(!escape.ok());
    QVERIFY2(QString::fromStdString(escape.message()).contains("messages[0].images[0].file"), escape.message().c_str());
  }

  void removeDeletesTheFolderAndRefusesOtherPaths() {
    QTemporaryDir root;
    ConversationStore store(root.path());
    ChatConversation c = two_turns();
    QVERIFY(store.save(c).ok());
    QVERIFY(store.remove(c.id).ok());
    QVERIFY(!QDir(root.filePath(c.id)).exists());
    QVERIFY(store.list().isEmpty());
    QVERIFY(!store.remove(c.id).ok());  // already gone
    // Ids are plain folder names: nothing outside the root can be named.
    QVERIFY(!store.remove("..").ok());
    QVERIFY(!store.remove("a/b").ok());
    QVERIFY(!store.load("../x").ok());
    QVERIFY(QDir(root.path()).exists());
  }

  void missingSourceImageIsAnError() {
    QTemporaryDir root;
    ConversationStore store(root.path());
    ChatConversation c = two_turns();
    c.messages[0].images[0].source_path = root.filePath("gone.png");
    const ql::Status saved = store.save(c);
    QVERIFY(!saved.ok());
    QVERIFY2(QString::fromStdString(saved.message()).contains("gone.png"), saved.message().c_str());
    // The JSON is not written while an image it would name is missing.
    QVERIFY(!QFile::exists(root.filePath(c.id + "/conversation.json")));
  }

  // A FIFO or a device in a saved conversation's or a picture's place is
  // refused by name (core/common/small_file.h), never read until it ends.
  void specialFilesAreRefusedNotReadForever() {
    QTemporaryDir root;
    ConversationStore store(root.path());
    QVERIFY(QDir(root.path()).mkpath("fifo"));
    QVERIFY(::mkfifo(root.filePath("fifo/conversation.json").toLocal8Bit().constData(), 0644) == 0);
    auto fifo = store.load("fifo");
    QVERIFY(!fifo.ok());
    QVERIFY2(QString::fromStdString(fifo.message()).contains("is a FIFO"), fifo.message().c_str());
    QCOMPARE(store.list().size(), 0);  // skipped, not waited on

    ChatConversation c = two_turns();
    c.messages[0].images[0].source_path = "/dev/zero";
    const ql::Status saved = store.save(c);
    QVERIFY(!saved.ok());
    QVERIFY2(QString::fromStdString(saved.message()).contains("is a character device"), saved.message().c_str());
  }

  void newIdsAreUniqueAndPlain() {
    const QString a = ConversationStore::new_id();
    const QString b = ConversationStore::new_id();
    QVERIFY(a != b);
    QVERIFY(!a.contains('/'));
    QCOMPARE(a.size(), QString("20250101-120000-abcdef").size());
  }
};

QTEST_MAIN(TestConversationStore)
#include "test_conversation_store.moc"
