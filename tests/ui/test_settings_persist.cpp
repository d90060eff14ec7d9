// Settings survive a restart: the window is built, changed through its
// widgets, destroyed, and built again from the same settings store.
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

#include "tests/ui/ui_test_support.h"
#include "ui/engine/engine_controller.h"
#include "ui/main/main_window.h"
#include "ui/main/theme.h"
#include "ui/model/model_panel.h"
#include "ui/model/precision_editor.h"
#include "ui/model/sampling_editor.h"

using namespace ql;
using namespace ql::ui;
namespace t = ql::ui::test;

class TestSettingsPersist : public QObject {
  Q_OBJECT

  QTemporaryDir home_;

 private slots:
  void initTestCase() {
    QVERIFY(home_.isValid());
    t::use_private_home(home_);
    QSettings().clear();
  }

  void everythingTheWindowRemembersSurvivesARestart() {
    const QPalette system = QApplication::palette();
    QSize size;
    {
      MainWindow w;
      w.show();
      ModelPanel* panel = w.modelPanel();
      // A model loaded (the last model and the recent list).
      QVERIFY(panel->openFolder(t::demo_model()));
      QSignalSpy done(w.engine(), &EngineController::loadFinished);
      QTest::mouseClick(panel->loadButton(), Qt::LeftButton);
      QVERIFY(t::wait_for(done));
      QVERIFY(done.at(0).at(0).toBool());
      // Precision, budget, context, parallel requests.
      QVERIFY(panel->precisionEditor()->setPrecision("nf4-mixed"));
      panel->budgetSpin()->setValue(12.5);
      panel->contextSpin()->setValue(8192);
      panel->batchSpin()->setValue(3);
      // Sampling.
      SamplingEditor* s = panel->samplingEditor();
      s->modelDefaultsCheck()->setChecked(false);
      s->temperatureSpin()->setValue(0.3);
      s->topKSpin()->setValue(7);
      s->maxTokensSpin()->setValue(256);
      // System prompt (saved once typing pauses).
      panel->systemPromptEdit()->setPlainText("Answer in one sentence.");
      QTRY_COMPARE(w.settings().systemPrompt(), QString("Answer in one sentence."));
      // Theme and layout.
      w.themeAction(ThemeMode::kDark)->trigger();
      w.findChild<QDockWidget*>("chartsDock")->hide();
      w.resize(1234, 777);
      QTest::qWait(50);
      size = w.size();
      w.close();
    }
    // Forced to the system look in between, so the restored theme is the
    // second window's doing.
    apply_theme(ThemeMode::kSystem);
    QCOMPARE(QApplication::palette(), system);

    MainWindow w;
    w.show();
    ModelPanel* panel = w.modelPanel();
    QCOMPARE(panel->precisionEditor()->precision(), QString("nf4-mixed"));
    QCOMPARE(panel->budgetSpin()->value(), 12.5);
    QCOMPARE(panel->contextSpin()->value(), 8192);
    QCOMPARE(panel->batchSpin()->value(), 3);
    const SamplingSettings s = panel->samplingEditor()->settings();
    QCOMPARE(s.use_model_defaults, false);
    QCOMPARE(s.temperature, 0.3);
    QCOMPARE(s.top_k, 7);
    QCOMPARE(s.max_new_tokens, 256);
    QCOMPARE(panel->systemPromptEdit()->toPlainText(), QString("Answer in one sentence."));
    QVERIFY(theme_is_dark());
    QVERIFY(w.themeAction(ThemeMode::kDark)->isChecked());
    QVERIFY(!w.findChild<QDockWidget*>("chartsDock")->isVisibleTo(&w));
    QCOMPARE(w.size(), size);
    QCOMPARE(w.settings().recentModels().value(0), t::demo_model());

    // The restart reopens and reloads the last model (with the saved precision).
    QSignalSpy done(w.engine(), &EngineController::loadFinished);
    w.startUp();
    QCOMPARE(panel->selectedDir(), t::demo_model());
    QVERIFY(t::wait_for(done));
    QVERIFY(done.at(0).at(0).toBool());
    QCOMPARE(QString::fromStdString(w.engine()->modelInfo()->precision), QString("nf4-mixed"));
    apply_theme(ThemeMode::kSystem);
  }

  void theLastModelIsOnlySelectedWhenLoadingAtStartIsOff() {
    {
      MainWindow w;
      w.findChild<QAction*>("loadLastAtStart")->setChecked(false);
    }
    MainWindow w;
    QVERIFY(!w.findChild<QAction*>("loadLastAtStart")->isChecked());
    w.startUp();
    QCOMPARE(w.modelPanel()->selectedDir(), t::demo_model());  // shown with its estimate
    QVERIFY(!w.engine()->busy());                              // but not loaded
    QVERIFY(!w.engine()->modelInfo().has_value());
  }
};

QTEST_MAIN(TestSettingsPersist)
#include "test_settings_persist.moc"
