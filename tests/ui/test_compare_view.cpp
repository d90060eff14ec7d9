// The compare view on the real engine (demo model): one question with an
// image at bf16, int8 and nf4 gives three columns in run order whose answers
// stream in token by token and end as the report's, each with its time to
// first token, speed, weight memory and fidelity; the planner's notice before
// running (held together within this machine's RAM, or one after another in
// a small budget) and the report's placement after; the comparison saved
// as Markdown with its table and answers. Stopping mid-way, and a precision
// that does not parse, are reported in the view.
#include <QComboBox>
#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "core/engine/compare_memory.h"
#include "core/engine/compare_plan.h"
#include "ui/compare/compare_column.h"
#include "ui/compare/compare_markdown.h"
#include "ui/compare/compare_memory_estimate.h"
#include "ui/compare/compare_view.h"
#include "ui/engine/engine_controller.h"

using namespace ql::ui;
using namespace ql::engine;

namespace {

const QString kDemoModel = QStringLiteral(QL_SOURCE_DIR "/resources/demo-model");
const QString kShapes = QStringLiteral(QL_SOURCE_DIR "/resources/images/shapes.png");

void choose(CompareView& view, const QStringList& precisions, int tokens) {
  for (int i = 0; i < CompareView::kPrecisionSlots; ++i) {
    auto* combo = view.findChild<QComboBox*>(QStringLiteral("precision%1").arg(i));
    QVERIFY(combo);
    combo->setCurrentText(i < precisions.size() ? precisions[i] : QString());
  }
  auto* spin = view.findChild<QSpinBox*>("tokensSpin");
  QVERIFY(spin);
  spin->setValue(tokens);
}

QString labelText(QWidget* parent, const char* name) {
  auto* label = parent->findChild<QLabel*>(name);
  return label ? label->text() : QStringLiteral("<no label %1>").arg(name);
}

std::vector<CompareColumn*> columnsOf(CompareView& view) {
  std::vector<CompareColumn*> out;
  for (int i = 0;; ++i) {
    auto* c = view.findChild<CompareColumn*>(QStringLiteral("column%1").arg(i));
    if (!c) return out;
    out.push_back(c);
  }
}

}  // namespace

class TestCompareView : public QObject {
  Q_OBJECT
 private:
  EngineController* engine_ = nullptr;

 private slots:
  void initTestCase() { engine_ = new EngineController(this); }

  void comparesThreePrecisionsSideBySide() {
    CompareView view(engine_);
    view.setModelDir(kDemoModel);
    view.setQuestion("What is in this picture?", {kShapes});
    choose(view, {"bf16", "int8", "nf4"}, 8);

    // Before running: the planner's figures and its decision within this
    // machine's RAM (the demo's three plans need a few GiB together).
    const QString before = labelText(&view, "planNotice");
    QVERIFY2(before.contains("for these 3 precisions each loaded alone"), qPrintable(before));
    QVERIFY2(before.contains("The comparison will be held together: 3 precisions need"), qPrintable(before));
    QVERIFY2(before.contains("this machine's RAM"), qPrintable(before));

    // Each streamed token, seen after the view handled it (connected after the view).
    struct Seen {
      int tokens = 0;
      QString text_at_first_token;
      bool prefix_of_final = true;
      QStringList texts;
    };
    std::map<int, Seen> seen;
    connect(engine_, &EngineController::compareToken, &view, [&](int row, int prompt, const QString&) {
      QCOMPARE(prompt, 0);
      auto columns = columnsOf(view);
      QVERIFY(row >= 0 && row < int(columns.size()));
      Seen& s = seen[row];
      if (s.tokens++ == 0) s.text_at_first_token = columns[size_t(row)]->answer();
      s.texts << columns[size_t(row)]->answer();
    });
    QSignalSpy finished(engine_, &EngineController::compareFinished);
    auto* run = view.findChild<QPushButton*>("runButton");
    QVERIFY(run && run->isEnabled());
    run->click();
    QVERIFY(view.isRunning());
    QVERIFY(finished.wait(60000));
    QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(3).toString()));
    const auto report = finished.first().at(2).value<CompareReport>();

    const auto columns = columnsOf(view);
    QCOMPARE(columns.size(), size_t{3});
    const char* names[] = {"bf16", "int8", "nf4"};
    for (size_t i = 0; i < 3; ++i) {
      CompareColumn* c = columns[i];
      QVERIFY2(labelText(c, "title").contains(names[i]), qPrintable(labelText(c, "title")));
      const PrecisionRow& row = report.precisions[i];
      const QString answer = QString::fromStdString(row.prompts[0].answer);
      QVERIFY(!answer.isEmpty());
      QCOMPARE(c->answer(), answer);
      // Streamed: every token grew the column's text towards the final answer.
      const Seen& s = seen[int(i)];
      QVERIFY2(s.tokens >= int(row.prompts[0].answer_ids.size()), qPrintable(QString::number(s.tokens)));
      for (const QString& t : s.texts) QVERIFY2(answer.startsWith(t), qPrintable(t));
      QVERIFY(s.texts.size() >= 2);
      QVERIFY(s.texts.last().size() > s.texts.first().size() || s.texts.first() == answer);

      QVERIFY2(QRegularExpression("^\\d+ ms$").match(labelText(c, "ttft")).hasMatch(), qPrintable(labelText(c, "ttft")));
      QVERIFY2(labelText(c, "tokensPerSecond").endsWith("tokens/s"), qPrintable(labelText(c, "tokensPerSecond")));
      QVERIFY2(labelText(c, "weights").contains("MiB"), qPrintable(labelText(c, "weights")));
      QVERIFY2(labelText(c, "status").startsWith("done"), qPrintable(labelText(c, "status")));
      if (i == 0) {
        QCOMPARE(labelText(c, "klMean"), QStringLiteral("reference"));
        QCOMPARE(labelText(c, "top1"), QStringLiteral("reference"));
      } else {
        bool ok = false;
        const double kl = labelText(c, "klMean").toDouble(&ok);
        QVERIFY2(ok && kl >= 0, qPrintable(labelText(c, "klMean")));
        QCOMPARE(kl, QString::number(row.fidelity.kl_mean, 'g', 4).toDouble());
        QVERIFY(labelText(c, "klP99").toDouble(&ok) >= 0 && ok);
        QVERIFY2(labelText(c, "top1").contains(QStringLiteral("% of %1 positions").arg(row.fidelity.positions)),
                 qPrintable(labelText(c, "top1")));
      }
    }
    // The figures are the report's (on the demo model the 16-bit embeddings
    // dominate, so the sizes barely differ; bf16 is still the largest).
    for (size_t i = 0; i < 3; ++i) {
      QCOMPARE(labelText(columns[i], "weights"), QString::fromStdString(format_bytes(report.precisions[i].weight_bytes)));
      QCOMPARE(labelText(columns[i], "ttft"), QStringLiteral("%1 ms").arg(report.precisions[i].ttft_ms, 0, 'f', 0));
    }
    QVERIFY(report.precisions[0].weight_bytes > report.precisions[1].weight_bytes);
    QVERIFY(report.precisions[0].weight_bytes > report.precisions[2].weight_bytes);

    // After: the report's placement, which the notice before had foretold.
    const QString after = labelText(&view, "planNotice");
    QVERIFY(!report.sequential);
    QVERIFY2(QString::fromStdString(report.placement).startsWith("held together: 3 precisions need"),
             report.placement.c_str());
    QCOMPARE(after, "H" + QString::fromStdString(report.placement).mid(1) + ".");
    QVERIFY2(before.contains(QString::fromStdString(report.placement)), qPrintable(before));

    // Saved as Markdown: the table and every answer.
    QTemporaryDir dir;
    const QString path = dir.filePath("comparison.md");
    QVERIFY(view.findChild<QPushButton*>("saveMarkdownButton")->isEnabled());
    QVERIFY(view.saveMarkdown(path));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QString md = QString::fromUtf8(file.readAll());
    QVERIFY(md.contains("| precision | loaded as | weights | time to first token | decode | KL mean | KL p99 | top-1 agreement |"));
    QVERIFY(md.contains("| bf16 (reference) | bf16 |"));
    QVERIFY(md.contains("| int8 | int8 |"));
    QVERIFY(md.contains("| nf4 | nf4 |"));
    QVERIFY2(md.contains("Run: Held together: 3 precisions need"), qPrintable(md));
    QVERIFY(md.contains("shapes.png"));
    for (const PrecisionRow& row : report.precisions) {
      QVERIFY2(md.contains(QString::fromStdString(row.prompts[0].answer)), row.name.c_str());
    }
    QCOMPARE(md, view.markdown());
  }

  void stoppingMidwayIsReported() {
    CompareView view(engine_);
    view.setModelDir(kDemoModel);
    view.setQuestion("Say something.", {});
    choose(view, {"bf16", "nf4"}, 32);
    QSignalSpy finished(engine_, &EngineController::compareFinished);
    // Stop at the first token of the second precision.
    connect(engine_, &EngineController::compareToken, &view, [&](int row, int, const QString&) {
      if (row == 1) view.findChild<QPushButton*>("stopButton")->click();
    });
    QVERIFY(view.run());
    QVERIFY(view.findChild<QPushButton*>("stopButton")->isEnabled());
    QVERIFY(finished.wait(60000));
    QVERIFY(!finished.first().at(0).toBool());
    QVERIFY(finished.first().at(1).toBool());  // cancelled
    QVERIFY2(labelText(&view, "compareStatus").startsWith("Stopped"), qPrintable(labelText(&view, "compareStatus")));
    const auto columns = columnsOf(view);
    QCOMPARE(columns.size(), size_t{2});
    QCOMPARE(labelText(columns[1], "status"), QStringLiteral("stopped"));
    QVERIFY(!columns[0]->answer().isEmpty());  // the reference had answered
    QVERIFY(!view.hasReport());
    QVERIFY(!view.findChild<QPushButton*>("saveMarkdownButton")->isEnabled());
    QTRY_VERIFY(!engine_->busy());
  }

  void thePlannerNoticeFollowsTheBudget() {
    CompareView view(engine_);
    view.setModelDir(kDemoModel);
    choose(view, {"int8", "nf4"}, 4);
    QString notice = labelText(&view, "planNotice");
    // No 16-bit entry: bf16 is added as the reference, so three are planned.
    QVERIFY2(notice.contains("these 3 precisions") && notice.contains("(reference, added)"), qPrintable(notice));
    view.setMemoryBudgetGiB(1.0);  // 0.5 GiB usable: the demo's plans need about 1.5 GiB each
    notice = labelText(&view, "planNotice");
    QVERIFY2(notice.contains("the memory budget of 1 GiB") &&
                 notice.contains("will be run one after another: together they would need") &&
                 notice.contains("Even the largest alone"),
             qPrintable(notice));
    view.setMemoryBudgetGiB(64);
    notice = labelText(&view, "planNotice");
    QVERIFY2(notice.contains("will be held together: 3 precisions need") &&
                 notice.contains("of 63.50 GiB usable") && !notice.contains("Even the largest"),
             qPrintable(notice));

    // The figures behind it: the one-at-a-time peak is the largest single plan.
    auto e = estimate_compare_memory(kDemoModel.toStdString(), {"bf16", "int8", "nf4"}, 0, std::nullopt);
    QVERIFY2(e.ok(), e.ok() ? "" : e.message().c_str());
    QCOMPARE(e->rows.size(), size_t{3});
    uint64_t largest_total = 0, sum_totals = 0;
    for (const PrecisionMemory& row : e->rows) {
      largest_total = std::max(largest_total, row.total_bytes);
      sum_totals += row.total_bytes;
      QVERIFY(row.total_bytes > row.weights_bytes);
    }
    QCOMPARE(e->one_at_a_time_bytes, largest_total);
    // The engine's decision sums the same plans: each precision is its own engine.
    auto plan = plan_compare_precisions(std::vector<std::string>{"bf16", "int8", "nf4"});
    QVERIFY(plan.ok());
    LoadOptions load;
    load.memory_budget_gib = 64;
    auto placement = decide_compare_memory(kDemoModel.toStdString(), *plan, load);
    QVERIFY2(placement.ok(), placement.ok() ? "" : placement.message().c_str());
    QCOMPARE(placement->precision_bytes.size(), size_t{3});
    QCOMPARE(placement->sum_bytes, sum_totals);
    QVERIFY(placement->together);
    auto missing = estimate_compare_memory("/no/such/model", {"bf16", "int8"}, 0, std::nullopt);
    QVERIFY(!missing.ok());
    QVERIFY(QString::fromStdString(missing.message()).contains("/no/such/model"));
  }

  void markdownEscapesCellsAndFencesAnswers() {
    CompareReport r;
    r.reference = "bf16";
    r.tokens = 4;
    r.prompts = {{"q", 10, 4}};
    PrecisionRow ref;
    ref.name = ref.loaded_precision = "bf16";
    ref.reference = true;
    ref.weight_bytes = uint64_t{3} << 20;
    ref.ttft_ms = 12.4;
    ref.decode_tok_s = 100;
    ref.prompts.resize(1);
    ref.prompts[0].answer = "a | b\n```code```";
    PrecisionRow q = ref;
    q.name = q.loaded_precision = "experts=nf4|x";
    q.reference = false;
    q.fidelity.kl_mean = 0.5;
    q.fidelity.kl_p99 = 1.25;
    q.fidelity.top1_agreement = 0.75;
    q.prompts[0].answer = "plain";
    r.precisions = {ref, q};
    CompareMarkdownInput in;
    in.model_dir = "/m";
    in.question = "What | is it?";
    in.report = &r;
    const QString md = QString::fromStdString(compare_markdown(in));
    QVERIFY2(md.contains("- Question: What \\| is it?"), qPrintable(md));
    QVERIFY2(md.contains("| experts=nf4\\|x | experts=nf4\\|x | 3.0 MiB | 12 ms | 100.0 tokens/s | 0.5 | 1.25 | 75.0% |"),
             qPrintable(md));
    QVERIFY2(md.contains("| bf16 (reference) | bf16 | 3.0 MiB | 12 ms | 100.0 tokens/s | reference | reference | reference |"),
             qPrintable(md));
    // An answer holding ``` gets a longer fence, so it cannot close its block.
    QVERIFY2(md.contains("````text\na | b\n```code```\n````"), qPrintable(md));
    QVERIFY2(md.contains("```text\nplain\n```"), qPrintable(md));
  }

  // With an evaluation set its questions replace the question, and each
  // column adds its task accuracy (scored by core/engine/eval_score.h; the
  // demo's random weights answer noise, so the figures are what is checked).
  void anEvaluationSetAddsAccuracyBesideKl() {
    CompareView view(engine_);
    view.setModelDir(kDemoModel);
    QVERIFY(!view.setEvalSet(QStringLiteral(QL_SOURCE_DIR "/tests/data/eval/none.json")));
    QVERIFY2(labelText(&view, "compareError").contains("none.json"), qPrintable(labelText(&view, "compareError")));
    QVERIFY(view.setEvalSet(QStringLiteral(QL_SOURCE_DIR "/tests/data/eval/smoke-set.json")));
    QVERIFY(labelText(&view, "evalSetLabel").contains("3 questions"));
    choose(view, {"bf16", "int8"}, 4);
    QSignalSpy finished(&view, &CompareView::comparisonFinished);
    QVERIFY(view.run());  // no question written: the set is the question
    QVERIFY(finished.wait(120000));
    QVERIFY(finished.first().at(0).toBool());
    QVERIFY(view.evalReport());
    QCOMPARE(view.evalReport()->rows.size(), size_t{2});
    auto columns = columnsOf(view);
    QCOMPARE(columns.size(), size_t{2});
    for (size_t i = 0; i < 2; ++i) {
      const auto& row = view.evalReport()->rows[i];
      QCOMPARE(row.overall.total, int64_t{3});
      const QString shown = labelText(columns[i], "accuracy");
      QVERIFY2(shown.contains(QStringLiteral("(%1 of 3)").arg(row.overall.right)), qPrintable(shown));
      QVERIFY2(shown.contains("box IoU"), qPrintable(shown));
    }
    QVERIFY(labelText(columns[1], "accuracy").contains("of the reference's"));
    // The saved Markdown has the accuracy table, one row per precision.
    const QString md = view.markdown();
    QVERIFY2(md.contains("## Task accuracy") && md.contains("| colour | count | grounding |"), qPrintable(md));
    QVERIFY2(md.contains(QStringLiteral("(%1 of 3)").arg(view.evalReport()->rows[1].overall.right)), qPrintable(md));
    // Back to the question: a run needs one again.
    QVERIFY(view.setEvalSet({}));
    view.setQuestion(QString(), {});
    QVERIFY(!view.run());
  }

  void aBadPrecisionIsNamedBeforeRunning() {
    CompareView view(engine_);
    view.setModelDir(kDemoModel);
    view.setQuestion("Hello?", {});
    choose(view, {"bf16", "int3"}, 4);
    const QString notice = labelText(&view, "planNotice");
    QVERIFY2(notice.startsWith("Cannot plan") && notice.contains("int3"), qPrintable(notice));
    QVERIFY(!view.findChild<QPushButton*>("runButton")->isEnabled());
    QVERIFY(!view.run());
    QVERIFY2(labelText(&view, "compareError").contains("int3"), qPrintable(labelText(&view, "compareError")));
    QVERIFY(!engine_->busy());

    // No model: said, and nothing runs.
    CompareView empty(engine_);
    QVERIFY(labelText(&empty, "planNotice").contains("Open a model"));
    QVERIFY(!empty.findChild<QPushButton*>("runButton")->isEnabled());
  }
};

QTEST_MAIN(TestCompareView)
#include "test_compare_view.moc"
