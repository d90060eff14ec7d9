// The model panel: the planner's estimate before loading (with a plain "does
// not fit" and its numbers), presets and per-component policies, parallel
// requests and the memory budget feeding the planner, the machine's RAM as
// the default budget, and folders that are not models.
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>

#include "core/quant/memory_budget.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "tests/ui/ui_test_support.h"
#include "ui/engine/engine_controller.h"
#include "ui/model/model_panel.h"
#include "ui/model/plan_estimate.h"
#include "ui/model/precision_editor.h"
#include "ui/model/system_memory.h"
#include "ui/settings/app_settings.h"

using namespace ql;
using namespace ql::ui;
namespace t = ql::ui::test;

class TestModelPanel : public QObject {
  Q_OBJECT

  QTemporaryDir home_;

  // The plan the panel should show, made directly with the planner.
  static quant::MemoryPlan expected_plan(const char* precision, int64_t context, int64_t batch) {
    auto config = model::load_model_config(t::full_model_config_dir().toStdString());
    auto choice = quant::parse_precision(precision);
    quant::PlanRequest r;
    r.context_tokens = context;
    r.batch = batch;
    auto plan = quant::plan_precision(*config, *choice, r, std::nullopt);
    return *plan;
  }

 private slots:
  void initTestCase() {
    QVERIFY(home_.isValid());
    t::use_private_home(home_);
  }
  void init() { QSettings().clear(); }

  void doesNotFitSaysSoWithTheNumbers() {
    EngineController engine;
    AppSettings settings;
    ModelPanel panel(&engine, &settings);
    QVERIFY(panel.openFolder(t::full_model_config_dir()));  // the published config, no weights
    panel.contextSpin()->setValue(8192);
    panel.batchSpin()->setValue(1);
    panel.budgetSpin()->setValue(24.0);
    QVERIFY(panel.precisionEditor()->setPrecision("bf16"));

    const QString text = panel.estimateLabel()->text();
    const quant::MemoryPlan plan = expected_plan("bf16", 8192, 1);
    QVERIFY2(text.startsWith("Does not fit"), qPrintable(text));
    QVERIFY2(text.contains(human_bytes(plan.total_bytes())), qPrintable(text));  // 63.04 GiB
    QVERIFY2(text.contains(human_bytes(plan.weights_bytes)), qPrintable(text));
    QVERIFY2(text.contains("24.0 GiB"), qPrintable(text));
    QVERIFY2(text.contains("23.50 GiB usable"), qPrintable(text));  // 24 GiB minus the driver's 0.5
    QVERIFY(!panel.loadButton()->isEnabled());
    QVERIFY(panel.loadButton()->toolTip().startsWith("Does not fit"));
    QCOMPARE(plan.total_bytes() > quant::kGiB * 63, true);

    // The recommended mix fits a 24 GiB card: the same panel says so and allows loading.
    QVERIFY(panel.precisionEditor()->setPrecision("nf4-mixed"));
    const QString fits = panel.estimateLabel()->text();
    QVERIFY2(fits.startsWith("Fits: nf4-mixed"), qPrintable(fits));
    QVERIFY2(fits.contains(human_bytes(expected_plan("nf4-mixed", 8192, 1).total_bytes())), qPrintable(fits));
    QVERIFY(panel.loadButton()->isEnabled());
  }

  void autoPicksTheHighestPresetThatFits() {
    EngineController engine;
    AppSettings settings;
    ModelPanel panel(&engine, &settings);
    QVERIFY(panel.openFolder(t::full_model_config_dir()));
    panel.contextSpin()->setValue(8192);
    panel.budgetSpin()->setValue(24.0);
    QVERIFY(panel.precisionEditor()->setPrecision("auto"));
    QCOMPARE(panel.estimate().resolved_precision, QString("nf4-mixed"));
    panel.budgetSpin()->setValue(80.0);
    QCOMPARE(panel.estimate().resolved_precision, QString("bf16"));
    QCOMPARE(panel.loadSettings().precision, QString("auto"));  // the engine resolves it again at load
  }

  void perComponentPolicyFeedsThePlanner() {
    EngineController engine;
    AppSettings settings;
    ModelPanel panel(&engine, &settings);
    QVERIFY(panel.openFolder(t::full_model_config_dir()));
    PrecisionEditor* editor = panel.precisionEditor();
    editor->presetCombo()->setCurrentIndex(editor->presetCombo()->findData("custom"));
    QVERIFY(editor->isCustom());
    editor->componentCombo(quant::PolicyKey::kExperts)->setCurrentText("nf4");
    editor->componentCombo(quant::PolicyKey::kAttention)->setCurrentText("int8");
    const QString expected = "vision=bf16,attention=int8,router=bf16,experts=nf4,embeddings=bf16,lm_head=bf16,norms=bf16";
    QCOMPARE(editor->precision(), expected);
    QCOMPARE(panel.loadSettings().precision, expected);
    QCOMPARE(panel.estimate().plan->weights_bytes,
             expected_plan(expected.toLatin1().constData(), panel.contextSpin()->value(), 1).weights_bytes);
    // Norms take a 16-bit dtype only.
    QCOMPARE(editor->componentCombo(quant::PolicyKey::kNorms)->findText("nf4"), -1);
    // A per-component list round-trips through the settings text.
    PrecisionEditor other;
    QVERIFY(other.setPrecision(expected));
    QVERIFY(other.isCustom());
    QCOMPARE(other.precision(), expected);
  }

  void parallelRequestsAndContextSizeTheKvCache() {
    EngineController engine;
    AppSettings settings;
    ModelPanel panel(&engine, &settings);
    QVERIFY(panel.openFolder(t::full_model_config_dir()));
    panel.contextSpin()->setValue(4096);
    panel.batchSpin()->setValue(1);
    const uint64_t one = panel.estimate().plan->kv_cache_bytes;
    panel.batchSpin()->setValue(4);
    QCOMPARE(panel.estimate().plan->kv_cache_bytes, 4 * one);
    QCOMPARE(panel.estimate().plan->kv_cache_bytes, expected_plan("bf16", 4096, 4).kv_cache_bytes);
    QCOMPARE(panel.loadSettings().batch, 4);
    // The load gets as many sequence slots (the local server decodes them together).
    QCOMPARE(ql::ui::to_load_options(panel.loadSettings()).parallel, 4);
    QCOMPARE(panel.batchSpin()->maximum(), ql::engine::kMaxParallel);
    QVERIFY(panel.batchSpin()->toolTip().contains("local server"));
    // Persisted.
    QCOMPARE(settings.batch(), 4);
  }

  void budgetDefaultsToTheMachinesRam() {
    EngineController engine;
    AppSettings settings;
    ModelPanel panel(&engine, &settings);
    const auto ram = machine_ram_gib();
    QVERIFY(ram.has_value());  // Linux: /proc/meminfo
    QCOMPARE(panel.machineRamGib(), *ram);
    QVERIFY(std::abs(panel.budgetSpin()->value() - *ram) < 0.051);  // shown with one decimal
    QCOMPARE(parse_meminfo_total_gib("MemFree: 1 kB\nMemTotal:       16777216 kB\n").value(), 16.0);
    QVERIFY(!parse_meminfo_total_gib("MemTotal: lots\n").has_value());
    QVERIFY(!parse_meminfo_total_gib("").has_value());
  }

  void aFolderWithoutConfigIsRefusedWithTheReason() {
    EngineController engine;
    AppSettings settings;
    ModelPanel panel(&engine, &settings);
    QTemporaryDir empty;
    QSignalSpy errors(&panel, &ModelPanel::errorRaised);
    QVERIFY(!panel.openFolder(empty.path()));
    QCOMPARE(errors.count(), 1);
    QVERIFY(errors.at(0).at(0).toString().contains("not a model folder"));
    QVERIFY(errors.at(0).at(1).toString().contains("config.json"));
    QVERIFY(panel.selectedDir().isEmpty());
    QVERIFY(!panel.loadButton()->isEnabled());
  }

  void aBudgetBelowTheRuntimeOverheadDoesNotFitEvenTheDemo() {
    EngineController engine;
    AppSettings settings;
    ModelPanel panel(&engine, &settings);
    QVERIFY(panel.openFolder(t::demo_model()));
    panel.budgetSpin()->setValue(0.6);  // 0.1 GiB usable: less than the 0.5 GiB runtime alone
    const QString text = panel.estimateLabel()->text();
    QVERIFY2(text.startsWith("Does not fit: bf16 needs"), qPrintable(text));
    QVERIFY2(text.contains("102.4 MiB usable"), qPrintable(text));
    QVERIFY(!panel.loadSelected());
  }
};

QTEST_MAIN(TestModelPanel)
#include "test_model_panel.moc"
