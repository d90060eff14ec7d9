// The compose box of the chat: images come in by drop (file URLs, image
// data), paste (Ctrl+V with image data or copied files) and addImageFiles;
// thumbnails can be removed; bad images are refused inline, naming the file
// and the reason, with the typed text untouched; folders are left to the
// window; sending with no model loaded says so. No model is loaded here.
#include <QApplication>
#include <QClipboard>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QTimer>
#include <QLabel>
#include <QMimeData>
#include <QPushButton>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>
#include <QtTest>

#include "ui/chat/attachment_strip.h"
#include "ui/chat/chat_history.h"
#include "ui/chat/chat_panel.h"
#include "ui/chat/compose_edit.h"
#include "ui/chat/inline_notice.h"
#include "ui/engine/engine_controller.h"

using namespace ql::ui;

namespace {

const QString kImages = QStringLiteral(QL_SOURCE_DIR "/resources/images");

// Stands for the main window: takes what the chat leaves (folders).
class DropCatcher : public QWidget {
 public:
  DropCatcher() { setAcceptDrops(true); }
  int enters = 0;

 protected:
  void dragEnterEvent(QDragEnterEvent* e) override {
    ++enters;
    e->acceptProposedAction();
  }
};

// A drag over the compose box and the drop, as a real one arrives: at the
// editor's viewport. Returns whether the drop was taken.
bool drop_on(QWidget* target, QMimeData* mime, bool* enter_accepted = nullptr) {
  const QPointF at(10, 10);
  QDragEnterEvent enter(at.toPoint(), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(target, &enter);
  if (enter_accepted) *enter_accepted = enter.isAccepted();
  QDropEvent drop(at, Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(target, &drop);
  return drop.isAccepted();
}

QMimeData* urls_mime(const QStringList& paths) {
  auto* mime = new QMimeData;
  QList<QUrl> urls;
  for (const QString& p : paths) urls << QUrl::fromLocalFile(p);
  mime->setUrls(urls);
  return mime;
}

QStringList labels(const AttachmentStrip* strip) {
  QStringList out;
  for (const ChatImage& image : strip->images()) out << image.label;
  return out;
}

}  // namespace

class TestChatCompose : public QObject {
  Q_OBJECT

  EngineController* engine_ = nullptr;
  DropCatcher* window_ = nullptr;
  ChatPanel* panel_ = nullptr;
  QTemporaryDir store_;

  QWidget* composeArea() const { return panel_->composeEdit()->viewport(); }

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(store_.isValid());
  }

  void init() {
    engine_ = new EngineController;
    window_ = new DropCatcher;
    auto* layout = new QVBoxLayout(window_);
    panel_ = new ChatPanel(engine_, window_);
    panel_->setStoreRoot(store_.path());
    layout->addWidget(panel_);
    window_->resize(800, 600);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_));
    panel_->composeEdit()->setFocus();
    panel_->composeEdit()->setPlainText("typed text");
  }

  void cleanup() {
    delete window_;
    delete engine_;
  }

  void dropOfImageFilesAddsThumbnails() {
    bool entered = false;
    std::unique_ptr<QMimeData> mime(urls_mime({kImages + "/shapes.png", kImages + "/stop_sign.png"}));
    QVERIFY(drop_on(composeArea(), mime.get(), &entered));
    QVERIFY(entered);
    QCOMPARE(labels(panel_->thumbnailStrip()), QStringList({"shapes.png", "stop_sign.png"}));
    QVERIFY(panel_->thumbnailStrip()->isVisible());
    QVERIFY(!panel_->thumbnailStrip()->images()[0].thumbnail.isNull());
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text"));  // no path typed in
    QVERIFY(panel_->notice()->isHidden());
  }

  void dropOfImageDataAddsThumbnail() {
    QImage image(40, 30, QImage::Format_RGB32);
    image.fill(Qt::blue);
    auto mime = std::make_unique<QMimeData>();
    mime->setImageData(image);
    QVERIFY(drop_on(composeArea(), mime.get()));
    QCOMPARE(panel_->thumbnailStrip()->count(), 1);
    const ChatImage& added = panel_->thumbnailStrip()->images()[0];
    QCOMPARE(added.label, QString("dropped image"));
    QCOMPARE(added.pixels.size(), QSize(40, 30));
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text"));
  }

  void dropOnTheHistoryAlsoAttaches() {
    std::unique_ptr<QMimeData> mime(urls_mime({kImages + "/bar_chart.png"}));
    QVERIFY(drop_on(panel_->historyView()->viewport(), mime.get()));
    QCOMPARE(labels(panel_->thumbnailStrip()), QStringList({"bar_chart.png"}));
  }

  void dropOfAFolderIsLeftToTheWindow() {
    bool entered = true;
    std::unique_ptr<QMimeData> mime(urls_mime({QStringLiteral(QL_SOURCE_DIR "/resources/demo-model")}));
    drop_on(composeArea(), mime.get(), &entered);
    // The chat ignored it; the drag went on up to the window, which took it.
    QCOMPARE(window_->enters, 1);
    QCOMPARE(panel_->thumbnailStrip()->count(), 0);
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text"));
    QVERIFY(panel_->notice()->isHidden());
  }

  void pasteOfImageData() {
    QImage image(16, 16, QImage::Format_ARGB32);
    image.fill(Qt::red);
    QGuiApplication::clipboard()->setImage(image);
    QTest::keyClick(panel_->composeEdit(), Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(panel_->thumbnailStrip()->count(), 1);
    QCOMPARE(panel_->thumbnailStrip()->images()[0].label, QString("pasted image"));
    QCOMPARE(panel_->thumbnailStrip()->images()[0].pixels.size(), QSize(16, 16));
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text"));
    // A second paste gets a name of its own.
    QTest::keyClick(panel_->composeEdit(), Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(labels(panel_->thumbnailStrip()), QStringList({"pasted image", "pasted image 2"}));
  }

  void pasteOfCopiedFiles() {
    QGuiApplication::clipboard()->setMimeData(urls_mime({kImages + "/stop_sign.png"}));
    QTest::keyClick(panel_->composeEdit(), Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(labels(panel_->thumbnailStrip()), QStringList({"stop_sign.png"}));
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text"));
  }

  void pasteOfTextStillPastesText() {
    QGuiApplication::clipboard()->setText(" and more");
    panel_->composeEdit()->moveCursor(QTextCursor::End);
    QTest::keyClick(panel_->composeEdit(), Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text and more"));
    QCOMPARE(panel_->thumbnailStrip()->count(), 0);
  }

  void removeAThumbnail() {
    panel_->addImageFiles({kImages + "/shapes.png", kImages + "/stop_sign.png", kImages + "/bar_chart.png"});
    QCOMPARE(panel_->thumbnailStrip()->removeButtons().size(), 3);
    QTest::mouseClick(panel_->thumbnailStrip()->removeButtons()[1], Qt::LeftButton);
    QCOMPARE(labels(panel_->thumbnailStrip()), QStringList({"shapes.png", "bar_chart.png"}));
    QCOMPARE(panel_->thumbnailStrip()->removeButtons().size(), 2);
    QTest::mouseClick(panel_->thumbnailStrip()->removeButtons()[0], Qt::LeftButton);
    QTest::mouseClick(panel_->thumbnailStrip()->removeButtons()[0], Qt::LeftButton);
    QCOMPARE(panel_->thumbnailStrip()->count(), 0);
    QVERIFY(panel_->thumbnailStrip()->isHidden());
  }

  void badImagesAreRefusedInlineNamingTheFile() {
    QTemporaryDir dir;
    const QString garbage = dir.filePath("garbage.png");
    QFile file(garbage);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(QByteArray("this is not a PNG, only bytes that claim to be one").repeated(20));
    file.close();
    const QString missing = dir.filePath("missing.png");

    panel_->addImageFiles({kImages + "/shapes.png"});
    panel_->addImageFiles({garbage, missing});
    InlineNotice* notice = panel_->notice();
    QVERIFY(!notice->isHidden());
    QVERIFY(notice->isError());
    QVERIFY2(notice->text().contains("garbage.png"), qPrintable(notice->text()));
    QVERIFY2(notice->text().contains("not an image"), qPrintable(notice->text()));
    QVERIFY2(notice->text().contains("missing.png"), qPrintable(notice->text()));
    QVERIFY2(notice->text().contains("not found"), qPrintable(notice->text()));
    // What was typed and the good image stay.
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text"));
    QCOMPARE(labels(panel_->thumbnailStrip()), QStringList({"shapes.png"}));

    // The same through a drop.
    notice->dismiss();
    std::unique_ptr<QMimeData> mime(urls_mime({garbage}));
    drop_on(composeArea(), mime.get());
    QVERIFY(!notice->isHidden());
    QVERIFY2(notice->text().contains("garbage.png"), qPrintable(notice->text()));
    QCOMPARE(panel_->thumbnailStrip()->count(), 1);
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text"));
  }

  void imageTheModelWouldRefuseIsRefusedAtOnce() {
    panel_->addImageFiles({QStringLiteral(QL_TEST_DATA "/preprocess/elongated_1x250.png")});
    QVERIFY(!panel_->notice()->isHidden());
    QVERIFY2(panel_->notice()->text().contains("elongated_1x250.png"), qPrintable(panel_->notice()->text()));
    QVERIFY2(panel_->notice()->text().contains("too elongated"), qPrintable(panel_->notice()->text()));
    QCOMPARE(panel_->thumbnailStrip()->count(), 0);
  }

  void attachButtonOpensAFileDialog() {
    bool dialog_seen = false;
    QTimer::singleShot(0, this, [&dialog_seen] {
      auto* dialog = qobject_cast<QFileDialog*>(QApplication::activeModalWidget());
      if (!dialog) return;
      dialog_seen = true;
      dialog->setDirectory(kImages);
      dialog->selectFile("stop_sign.png");
      static_cast<QDialog*>(dialog)->accept();  // Open, as a click would
    });
    QTest::mouseClick(panel_->attachButton(), Qt::LeftButton);
    QVERIFY(dialog_seen);
    QCOMPARE(labels(panel_->thumbnailStrip()), QStringList({"stop_sign.png"}));
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text"));
  }

  void enterMakesANewLineCtrlEnterSends() {
    panel_->composeEdit()->moveCursor(QTextCursor::End);
    QTest::keyClick(panel_->composeEdit(), Qt::Key_Return);
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text\n"));
    QVERIFY(panel_->notice()->isHidden());
    // No model is loaded: Ctrl+Enter says so instead of sending, and keeps everything.
    panel_->addImageFiles({kImages + "/shapes.png"});
    QTest::keyClick(panel_->composeEdit(), Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(!panel_->notice()->isHidden());
    QVERIFY2(panel_->notice()->text().contains("No model is loaded"), qPrintable(panel_->notice()->text()));
    QCOMPARE(panel_->composeEdit()->toPlainText(), QString("typed text\n"));
    QCOMPARE(panel_->thumbnailStrip()->count(), 1);
    QCOMPARE(panel_->historyView()->count(), 0);
    QVERIFY(!panel_->generating());
  }
};

QTEST_MAIN(TestChatCompose)
#include "test_chat_compose.moc"
