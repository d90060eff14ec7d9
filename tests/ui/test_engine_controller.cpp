// EngineController + EngineWorker on the demo model: loads with throttled
// progress, streams tokens, stops, refuses a second job, keeps the previous
// model when a load is cancelled, reloads it after a comparison, exports.
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "core/engine/compare_request.h"
#include "tests/ui/ui_test_support.h"
#include "ui/engine/engine_controller.h"

using namespace ql;
using ql::ui::EngineController;
using ql::ui::LoadSettings;
namespace t = ql::ui::test;

class TestEngineController : public QObject {
  Q_OBJECT

 private:
  static LoadSettings demo(const QString& precision) {
    LoadSettings s;
    s.model_dir = t::demo_model();
    s.precision = precision;
    return s;
  }
  static engine::GenerationRequest question(int64_t tokens) {
    engine::GenerationRequest r;
    engine::Conversation c;
    c.messages.push_back(engine::Message::user("Count to ten."));
    r.prompt = c;
    r.max_new_tokens = tokens;
    r.ignore_eos = true;
    r.sampling.temperature = 0.0;
    return r;
  }
  // Loads and waits; fails the test when the load does not succeed.
  static void load(EngineController& c, const QString& precision) {
    QSignalSpy done(&c, &EngineController::loadFinished);
    QVERIFY(c.loadModel(demo(precision)));
    QVERIFY(t::wait_for(done));
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(2).toString()));
  }

 private slots:
  void loadReportsThrottledProgress() {
    EngineController c;
    QSignalSpy progress(&c, &EngineController::loadProgress);
    QSignalSpy done(&c, &EngineController::loadFinished);
    QSignalSpy busy(&c, &EngineController::busyChanged);
    QElapsedTimer clock;
    clock.start();
    QVERIFY(c.loadModel(demo("bf16")));
    QVERIFY(c.busy());
    QCOMPARE(c.currentJob(), QString("load"));
    QVERIFY(t::wait_for(done));
    const double seconds = clock.elapsed() / 1000.0;
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(2).toString()));
    QVERIFY(!c.busy());
    QCOMPARE(busy.count(), 2);  // true, then false
    QVERIFY(progress.count() >= 2);
    // One per 33 ms, the first one, and those at 100% (always let through).
    QVERIFY2(progress.count() <= int(seconds * 31) + 3,
             qPrintable(QString("%1 progress signals in %2 s").arg(progress.count()).arg(seconds)));
    for (const auto& args : progress) {
      const double f = args.at(0).toDouble();
      QVERIFY(f >= 0 && f <= 1);
      QVERIFY(!args.at(1).toString().isEmpty());
    }
    const auto info = c.modelInfo();
    QVERIFY(info.has_value());
    QCOMPARE(QDir::cleanPath(QString::fromStdString(info->dir)), t::demo_model());
    QCOMPARE(QString::fromStdString(info->precision), QString("bf16"));
  }

  void streamsEveryTokenThenFinishes() {
    EngineController c;
    load(c, "bf16");
    QSignalSpy tokens(&c, &EngineController::tokenArrived);
    QSignalSpy done(&c, &EngineController::generationFinished);
    QVERIFY(c.generate(7, question(24)));
    QVERIFY(t::wait_for(done));
    QCOMPARE(done.at(0).at(0).toULongLong(), 7ull);
    QVERIFY2(done.at(0).at(1).toBool(), qPrintable(done.at(0).at(3).toString()));
    const auto result = done.at(0).at(2).value<engine::GenerationResult>();
    QCOMPARE(result.generated_ids.size(), size_t{24});
    int real_tokens = 0;
    QString text;
    for (const auto& args : tokens) {
      QCOMPARE(args.at(0).toULongLong(), 7ull);
      if (args.at(1).toInt() != engine::kFlushTokenId) ++real_tokens;
      text += args.at(2).toString();
    }
    QCOMPARE(real_tokens, 24);
    QCOMPARE(text, QString::fromStdString(result.text));  // the stream adds up to the answer
  }

  void refusesASecondJobWhileBusy() {
    EngineController c;
    QSignalSpy refused(&c, &EngineController::jobRefused);
    QSignalSpy done(&c, &EngineController::loadFinished);
    QVERIFY(c.loadModel(demo("bf16")));
    QVERIFY(!c.loadModel(demo("int8")));
    QVERIFY(!c.generate(1, question(4)));
    QCOMPARE(refused.count(), 2);
    QVERIFY(refused.at(0).at(0).toString().contains("busy"));
    QVERIFY(t::wait_for(done));
    QCOMPARE(done.count(), 1);
  }

  void stopEndsGenerationEarly() {
    EngineController c;
    load(c, "bf16");
    QSignalSpy tokens(&c, &EngineController::tokenArrived);
    QSignalSpy done(&c, &EngineController::generationFinished);
    QVERIFY(c.generate(1, question(100000)));
    QVERIFY(t::wait_for(tokens, 5));
    c.stop();
    QVERIFY(t::wait_for(done, 1, 10000));
    QVERIFY(done.at(0).at(1).toBool());
    const auto result = done.at(0).at(2).value<engine::GenerationResult>();
    QCOMPARE(result.stop_reason, engine::StopReason::kStopped);
    QVERIFY(result.generated_ids.size() < 100000);
    QVERIFY(!c.busy());
  }

  void cancelledLoadKeepsThePreviousModel() {
    EngineController c;
    load(c, "bf16");
    QSignalSpy done(&c, &EngineController::loadFinished);
    QVERIFY(c.loadModel(demo("nf4")));
    c.stop();  // before the engine thread has even started: must still count
    QVERIFY(t::wait_for(done));
    QCOMPARE(done.at(0).at(0).toBool(), false);
    QCOMPARE(done.at(0).at(1).toBool(), true);  // cancelled
    const auto info = c.modelInfo();
    QVERIFY(info.has_value());
    QCOMPARE(QString::fromStdString(info->precision), QString("bf16"));
    // And the kept model still answers.
    QSignalSpy gen(&c, &EngineController::generationFinished);
    QVERIFY(c.generate(2, question(3)));
    QVERIFY(t::wait_for(gen));
    QVERIFY(gen.at(0).at(1).toBool());
  }

  void failedLoadSaysWhyAndKeepsThePreviousModel() {
    EngineController c;
    load(c, "bf16");
    QSignalSpy done(&c, &EngineController::loadFinished);
    LoadSettings bad = demo("bf16");
    bad.model_dir = t::source_path("resources/no-such-model");
    QVERIFY(c.loadModel(bad));
    QVERIFY(t::wait_for(done));
    QCOMPARE(done.at(0).at(0).toBool(), false);
    QCOMPARE(done.at(0).at(1).toBool(), false);
    QVERIFY2(done.at(0).at(2).toString().contains("no-such-model"), qPrintable(done.at(0).at(2).toString()));
    QVERIFY(c.modelInfo().has_value());
  }

  void resetCacheMakesTheNextRequestRunItsWholePrompt() {
    EngineController c;
    load(c, "bf16");
    QSignalSpy done(&c, &EngineController::generationFinished);
    QVERIFY(c.generate(1, question(2)));
    QVERIFY(t::wait_for(done, 1));
    QVERIFY(c.generate(2, question(2)));  // same prompt: reuses the cache
    QVERIFY(t::wait_for(done, 2));
    QVERIFY(done.at(1).at(2).value<engine::GenerationResult>().reused_tokens > 0);
    QVERIFY(c.resetCache());
    QVERIFY(c.generate(3, question(2)));
    QVERIFY(t::wait_for(done, 3));
    QCOMPARE(done.at(2).at(2).value<engine::GenerationResult>().reused_tokens, int64_t{0});
  }

  void compareReloadsTheModelLoadedBefore() {
    EngineController c;
    load(c, "int8");
    QSignalSpy steps(&c, &EngineController::compareProgress);
    QSignalSpy loads(&c, &EngineController::loadFinished);
    QSignalSpy done(&c, &EngineController::compareFinished);
    QSignalSpy tokens(&c, &EngineController::compareToken);
    engine::CompareRequest r;
    r.model_dir = t::demo_model().toStdString();
    r.precisions = {"bf16", "nf4"};
    engine::Conversation conv;
    conv.messages.push_back(engine::Message::user("Name three colours."));
    r.prompts.push_back({"colours", conv});
    r.tokens = 4;
    QVERIFY(c.compare(r));
    QCOMPARE(c.currentJob(), QString("compare"));
    QVERIFY(t::wait_for(done, 1, 60000));
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(3).toString()));
    const auto report = done.at(0).at(2).value<engine::CompareReport>();
    QCOMPARE(report.precisions.size(), size_t{2});
    QVERIFY(steps.count() > 0);
    // Each row's streamed answer adds up to its reported answer.
    for (int row = 0; row < 2; ++row) {
      QString streamed;
      for (const auto& args : tokens)
        if (args.at(0).toInt() == row && args.at(1).toInt() == 0) streamed += args.at(2).toString();
      QCOMPARE(streamed, QString::fromStdString(report.precisions[size_t(row)].prompts[0].answer));
    }
    // The reload came before compareFinished, and the int8 model is back.
    QCOMPARE(loads.count(), 1);
    QVERIFY(loads.at(0).at(0).toBool());
    QVERIFY(!c.busy());
    const auto info = c.modelInfo();
    QVERIFY(info.has_value());
    QCOMPARE(QString::fromStdString(info->precision), QString("int8"));
  }

  void exportWritesFilesAndCancelLeavesNone() {
    EngineController c;
    QTemporaryDir out;
    QSignalSpy done(&c, &EngineController::exportFinished);
    io::ExportRequest r;
    r.model_dir = t::demo_model().toStdString();
    r.format = io::ExportFormat::kSafetensors;
    r.precision = "bf16";
    r.out_dir = QDir(out.path()).filePath("cancelled").toStdString();
    QVERIFY(c.exportModel(r));
    c.stop();
    QVERIFY(t::wait_for(done, 1, 60000));
    QCOMPARE(done.at(0).at(0).toBool(), false);
    QCOMPARE(done.at(0).at(1).toBool(), true);
    QVERIFY(!QFileInfo::exists(QString::fromStdString(r.out_dir)));

    r.out_dir = QDir(out.path()).filePath("bf16").toStdString();
    QVERIFY(c.exportModel(r));
    QVERIFY(t::wait_for(done, 2, 60000));
    QVERIFY2(done.at(1).at(0).toBool(), qPrintable(done.at(1).at(3).toString()));
    const auto result = done.at(1).at(2).value<io::ExportResult>();
    QVERIFY(!result.files.empty());
    for (const auto& f : result.files) QVERIFY2(QFileInfo::exists(QString::fromStdString(f.path)), f.path.c_str());
  }
};

QTEST_MAIN(TestEngineController)
#include "test_engine_controller.moc"
