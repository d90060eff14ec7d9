// The main window on the demo model: the first start opens it with the
// noise notice, a model loads through the model panel, Cancel keeps the
// previous model, a folder dropped on the window opens it (images go to the
// chat), errors show in a non-blocking banner, Help lists every shortcut,
// and the theme can be forced and back.
#include <QAction>
#include <QApplication>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QDropEvent>
#include <QFileInfo>
#include <QLabel>
#include <QMimeData>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStatusBar>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include "tests/ui/ui_test_support.h"
#include "ui/chat/attachment_strip.h"
#include "ui/chat/chat_panel.h"
#include "ui/chat/compose_edit.h"
#include "ui/engine/engine_controller.h"
#include "ui/main/help_dialog.h"
#include "ui/main/load_progress_bar.h"
#include "ui/main/main_window.h"
#include "ui/main/message_banner.h"
#include "ui/main/theme.h"
#include "ui/model/model_panel.h"
#include "ui/model/precision_editor.h"

using namespace ql;
using namespace ql::ui;
namespace t = ql::ui::test;

class TestMainWindow : public QObject {
  Q_OBJECT

  QTemporaryDir home_;

  static void drop(QWidget* target, QMimeData* mime) {
    const QPoint at = target->rect().center();
    QDragEnterEvent enter(at, Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent dropped(QPointF(at), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &dropped);
    QVERIFY(dropped.isAccepted());
  }

  static QString loaded_precision(const MainWindow& w) {
    const auto info = w.engine()->modelInfo();
    return info ? QString::fromStdString(info->precision) : QString();
  }

  // Loads the demo model through the panel's Load button.
  static void load_demo(MainWindow& w, const QString& precision) {
    QVERIFY(w.modelPanel()->openFolder(t::demo_model()));
    QVERIFY(w.modelPanel()->precisionEditor()->setPrecision(precision));
    QSignalSpy done(w.engine(), &EngineController::loadFinished);
    QVERIFY(w.modelPanel()->loadButton()->isEnabled());
    QTest::mouseClick(w.modelPanel()->loadButton(), Qt::LeftButton);
    QVERIFY(t::wait_for(done));
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(2).toString()));
  }

 private slots:
  void initTestCase() {
    QVERIFY(home_.isValid());
    t::use_private_home(home_);
  }
  void init() { QSettings().clear(); }

  void firstStartOpensTheDemoModelAndSaysItsAnswersAreNoise() {
    MainWindow w;
    w.show();
    QVERIFY(!w.demoNotice()->isVisibleTo(&w));
    QSignalSpy done(w.engine(), &EngineController::loadFinished);
    w.startUp();
    QVERIFY(t::wait_for(done));
    QVERIFY(done.at(0).at(0).toBool());
    QCOMPARE(QDir::cleanPath(QString::fromStdString(w.engine()->modelInfo()->dir)), t::demo_model());
    QVERIFY(w.demoNotice()->isVisibleTo(&w));
    const QString notice = w.demoNotice()->summary();
    QVERIFY(notice.contains("answers are noise"));
    QVERIFY(notice.contains("Qwen/Qwen3-VL-30B-A3B-Instruct"));
    QVERIFY(notice.contains("Ctrl+O"));
    QVERIFY(w.windowTitle().contains("demo-model"));
    QVERIFY(w.settings().firstStartDone());

    // The second start does not force the demo model again: it reopens the
    // last model (which the first start's load made the demo model).
    QCOMPARE(w.settings().lastModelDir(), t::demo_model());
    QCOMPARE(w.settings().recentModels().value(0), t::demo_model());
  }

  void aModelLoadsThroughTheModelPanel() {
    MainWindow w;
    w.show();
    load_demo(w, "int8");
    QCOMPARE(loaded_precision(w), QString("int8"));
    QVERIFY(w.modelPanel()->loadedLabel()->text().contains("demo-model"));
    QVERIFY(w.modelPanel()->loadedLabel()->text().contains("int8"));
    QVERIFY(!w.loadProgress()->active());
    const auto* status = w.findChild<QLabel*>("modelStatus");
    QVERIFY(status && status->text().contains("int8"));
  }

  void loadShowsProgressAndCancelKeepsThePreviousModel() {
    MainWindow w;
    w.show();
    load_demo(w, "bf16");
    QSignalSpy progress(w.engine(), &EngineController::loadProgress);
    QSignalSpy done(w.engine(), &EngineController::loadFinished);
    QVERIFY(w.modelPanel()->precisionEditor()->setPrecision("nf4"));
    QTest::mouseClick(w.modelPanel()->loadButton(), Qt::LeftButton);
    // The status bar shows the load with its stage and a live Cancel.
    QVERIFY(w.loadProgress()->active());
    QVERIFY(w.loadProgress()->isVisibleTo(&w));
    QVERIFY(!w.loadProgress()->stageLabel()->text().isEmpty());
    QVERIFY(w.loadProgress()->cancelButton()->isEnabled());
    QTest::mouseClick(w.loadProgress()->cancelButton(), Qt::LeftButton);
    QVERIFY(t::wait_for(done));
    QCOMPARE(done.at(0).at(1).toBool(), true);  // cancelled
    QCOMPARE(loaded_precision(w), QString("bf16"));
    QVERIFY(!w.loadProgress()->isVisibleTo(&w));
    QVERIFY2(w.statusBar()->currentMessage().contains("still loaded"), qPrintable(w.statusBar()->currentMessage()));
    QVERIFY(!w.errorBanner()->isVisibleTo(&w));  // a cancel is not an error
    // Loading again after a cancel works.
    QTest::mouseClick(w.modelPanel()->loadButton(), Qt::LeftButton);
    QVERIFY(t::wait_for(done, 2));
    QVERIFY(done.at(1).at(0).toBool());
    QCOMPARE(loaded_precision(w), QString("nf4"));
  }

  void droppingAFolderOnTheWindowOpensIt() {
    MainWindow w;
    w.show();
    auto* mime = new QMimeData;
    mime->setUrls({QUrl::fromLocalFile(t::full_model_config_dir())});
    drop(&w, mime);
    QCOMPARE(w.modelPanel()->selectedDir(), t::full_model_config_dir());
    QVERIFY(w.modelPanel()->estimate().ok());  // its estimate is shown before loading
    delete mime;

    // Image files dropped on the window (outside the chat) go to the chat.
    auto* images = new QMimeData;
    images->setUrls({QUrl::fromLocalFile(t::demo_image("shapes.png"))});
    drop(&w, images);
    QTRY_COMPARE(w.chatPanel()->thumbnailStrip()->count(), 1);
    delete images;

    // A folder dropped over the chat (which takes drops of its own) still opens.
    auto* over_chat = new QMimeData;
    over_chat->setUrls({QUrl::fromLocalFile(t::demo_model())});
    drop(w.chatPanel()->composeEdit(), over_chat);
    QCOMPARE(w.modelPanel()->selectedDir(), t::demo_model());
    delete over_chat;

    // Something that is neither is refused at the door.
    QMimeData text;
    text.setText("hello");
    QDragEnterEvent enter(QPoint(5, 5), Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&w, &enter);
    QVERIFY(!enter.isAccepted());
  }

  void errorsShowInABannerWithDetailsWithoutBlocking() {
    MainWindow w;
    w.show();
    QTemporaryDir empty;
    QVERIFY(!w.modelPanel()->openFolder(empty.path()));
    MessageBanner* banner = w.errorBanner();
    QVERIFY(banner->isVisibleTo(&w));
    QVERIFY(banner->summary().contains("not a model folder"));
    QVERIFY(banner->details().contains("config.json"));
    QVERIFY(QApplication::activeModalWidget() == nullptr);  // nothing waits for a click
    QVERIFY(banner->detailsButton()->isVisibleTo(&w));
    QTest::mouseClick(banner->detailsButton(), Qt::LeftButton);
    QVERIFY(banner->detailsButton()->isChecked());
    // A failed load reaches the banner too, naming the culprit.
    w.modelPanel()->openFolder(t::full_model_config_dir());  // a config without weights
    QSignalSpy done(w.engine(), &EngineController::loadFinished);
    w.modelPanel()->budgetSpin()->setValue(512);
    QVERIFY(w.modelPanel()->loadSelected());
    QVERIFY(t::wait_for(done));
    QVERIFY(!done.at(0).at(0).toBool());
    QVERIFY2(banner->summary().startsWith("Loading qwen3-vl-30b-a3b failed"), qPrintable(banner->summary()));
    QVERIFY(!banner->details().isEmpty());
    QCOMPARE(banner->count(), 2);
  }

  void helpListsEveryShortcut() {
    MainWindow w;
    w.show();
    QStringList keys;
    for (const ShortcutEntry& e : w.shortcuts()) keys << e.keys;
    for (const char* k : {"Ctrl+O", "Ctrl+N", "Ctrl+Enter", "Esc", "Ctrl+E", "Ctrl+Q", "F1", "Ctrl+L"})
      QVERIFY2(keys.contains(k), qPrintable(QString(k) + " missing from " + keys.join(" | ")));
    // Every key appears once: no shortcut is bound to two actions.
    for (const QString& k : keys) QCOMPARE(keys.count(k), 1);

    QAction* shortcuts = w.findChild<QAction*>("shortcutsAction");
    QVERIFY(shortcuts);
    shortcuts->trigger();
    QVERIFY(w.helpDialog() && w.helpDialog()->isVisible());
    QTableWidget* table = w.helpDialog()->shortcutTable();
    QCOMPARE(table->rowCount(), int(keys.size()));
    QStringList listed;
    for (int r = 0; r < table->rowCount(); ++r) listed << table->item(r, 0)->text();
    QCOMPARE(listed, keys);
    QVERIFY(getting_started_html().contains("answers are noise"));
  }

  void escStopsTheRunningJob() {
    MainWindow w;
    w.show();
    load_demo(w, "bf16");
    engine::GenerationRequest r;
    engine::Conversation c;
    c.messages.push_back(engine::Message::user("Go on forever."));
    r.prompt = c;
    r.max_new_tokens = 100000;
    r.ignore_eos = true;
    QSignalSpy tokens(w.engine(), &EngineController::tokenArrived);
    QSignalSpy done(w.engine(), &EngineController::generationFinished);
    QVERIFY(w.engine()->generate(99, r));
    QVERIFY(t::wait_for(tokens, 3));
    // Pressed in the model panel (outside the chat, whose own Esc stops only
    // its answers): the spin box does not want it, so it reaches the window.
    QTest::keyClick(w.modelPanel()->contextSpin(), Qt::Key_Escape);
    QVERIFY(t::wait_for(done, 1, 10000));
    QCOMPARE(done.at(0).at(2).value<engine::GenerationResult>().stop_reason, engine::StopReason::kStopped);
  }

  // Quitting the app while an export runs cancels it, and the export takes
  // back what it wrote before the window is gone (issue 12, point 4).
  void quittingDuringAnExportCancelsItAndLeavesNothing() {
    QTemporaryDir dir;
    const QString out = dir.filePath("made/by/export");
    auto* w = new MainWindow;
    QTRY_VERIFY_WITH_TIMEOUT(!w->engine()->busy(), 60000);  // a first-start load, if any, is over
    QSignalSpy progress(w->engine(), &EngineController::exportProgress);
    io::ExportRequest r;
    r.model_dir = t::demo_model().toStdString();
    r.format = io::ExportFormat::kGguf;
    r.precision = "q4_k_m";  // K-quants on one thread: seconds, so the quit lands mid-export
    r.threads = 1;
    r.out_dir = out.toStdString();
    QVERIFY(w->engine()->exportModel(r));
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty() && !progress.last().at(0).value<io::ExportProgress>().tensor.empty(),
                             60000);
    w->close();
    delete w;  // stops the engine and joins its thread
    QVERIFY2(!QFileInfo::exists(dir.filePath("made")), "the cancelled export left its folders");
  }

  void themeCanBeForcedAndFollowsTheSystemAgain() {
    const QPalette system = QApplication::palette();
    MainWindow w;
    w.themeAction(ThemeMode::kDark)->trigger();
    QVERIFY(theme_is_dark());
    QCOMPARE(w.settings().theme(), ThemeMode::kDark);
    w.themeAction(ThemeMode::kLight)->trigger();
    QVERIFY(!theme_is_dark());
    w.themeAction(ThemeMode::kSystem)->trigger();
    QCOMPARE(QApplication::palette(), system);
    QCOMPARE(w.settings().theme(), ThemeMode::kSystem);
    QVERIFY(w.themeAction(ThemeMode::kSystem)->isChecked());
  }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
