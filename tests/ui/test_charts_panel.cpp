// The live charts on the real engine (demo model): points arrive while a
// generation runs (sampled every 100 ms) and stop while paused; one TTFT bar
// per answer, equal to the engine's figure; Clear empties every chart; Save
// PNG writes a valid PNG; hovering names the values under the mouse.
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QToolTip>
#include <QtTest>
#include <cmath>
#include <optional>
#include <qcustomplot.h>

#include "ui/charts/charts_panel.h"
#include "ui/engine/engine_controller.h"

using namespace ql::ui;
using namespace ql::engine;

namespace {

const QString kDemoModel = QStringLiteral(QL_SOURCE_DIR "/resources/demo-model");

// By name, or by the start of it ("machine RAM total: 23.0 GiB").
QCPGraph* graphNamed(QCustomPlot* plot, const QString& name) {
  for (int i = 0; i < plot->graphCount(); ++i) {
    if (plot->graph(i)->name() == name) return plot->graph(i);
  }
  for (int i = 0; i < plot->graphCount(); ++i) {
    if (plot->graph(i)->name().startsWith(name + ":")) return plot->graph(i);
  }
  return nullptr;
}

QCPBars* ttftBars(QCustomPlot* plot) {
  for (int i = 0; i < plot->plottableCount(); ++i) {
    if (auto* bars = qobject_cast<QCPBars*>(plot->plottable(i))) return bars;
  }
  return nullptr;
}

int totalPoints(QCustomPlot* plot) {
  int n = 0;
  for (int i = 0; i < plot->plottableCount(); ++i) n += plot->plottable(i)->interface1D()->dataCount();
  return n;
}

GenerationRequest question(int64_t tokens) {
  GenerationRequest r;
  r.prompt = Conversation{{Message::user("Count from one to one hundred, please.")}};
  r.sampling.temperature = 0;
  r.max_new_tokens = tokens;
  r.ignore_eos = true;  // a known length, whatever the random weights say
  return r;
}

}  // namespace

class TestChartsPanel : public QObject {
  Q_OBJECT
 private:
  EngineController* engine_ = nullptr;
  quint64 next_id_ = 1;

  // Runs one generation to its end; returns its result.
  GenerationResult generate(int64_t tokens, qint64* elapsed_ms = nullptr) {
    QSignalSpy finished(engine_, &EngineController::generationFinished);
    QElapsedTimer clock;
    clock.start();
    if (!engine_->generate(next_id_++, question(tokens))) return {};
    if (!finished.wait(30000)) return {};
    if (elapsed_ms) *elapsed_ms = clock.elapsed();
    QCoreApplication::processEvents();  // the sample taken when busy ends
    return finished.takeFirst().at(2).value<GenerationResult>();
  }

 private slots:
  void initTestCase() {
    engine_ = new EngineController(this);
    QSignalSpy loaded(engine_, &EngineController::loadFinished);
    LoadSettings s;
    s.model_dir = kDemoModel;
    QVERIFY(engine_->loadModel(s));
    QVERIFY(loaded.wait(60000));
    QVERIFY2(loaded.first().at(0).toBool(), qPrintable(loaded.first().at(2).toString()));
  }

  // The local server's hook: while it serves (the window's engine idle),
  // the batch chart gets a point per sample with the reader's figures, and
  // none once it stops; hovering names both lines in their units.
  void serverBatchIsDrawnWhileServing() {
    ChartsPanel panel(engine_);
    std::optional<BatchReading> reading;
    int reads = 0;
    panel.setBatchReader([&] {
      ++reads;
      return reading;
    });
    auto* plot = panel.findChild<QCustomPlot*>("chartsPlot");
    QCPGraph* occupancy = graphNamed(plot, "batch occupancy");
    QCPGraph* rate = graphNamed(plot, "tokens/s, all requests");
    QVERIFY(occupancy && rate);
    QCOMPARE(occupancy->dataCount(), 0);
    reading = BatchReading{3, 4, 250};
    panel.setServing(true);
    QTRY_VERIFY_WITH_TIMEOUT(occupancy->dataCount() >= 3, 3000);  // sampled every 100 ms
    QCOMPARE(occupancy->data()->at(occupancy->dataCount() - 1)->value, 75.0);
    QCOMPARE(rate->data()->at(rate->dataCount() - 1)->value, 250.0);
    reading.reset();
    panel.setServing(false);
    const int reads_when_stopped = reads;
    QTest::qWait(350);
    QCOMPARE(reads, reads_when_stopped);  // no sampling while nothing runs
    panel.resize(900, 1200);
    plot->replot(QCustomPlot::rpImmediateRefresh);
    const double t = occupancy->data()->at(occupancy->dataCount() - 1)->key;
    const QPoint at(static_cast<int>(occupancy->keyAxis()->coordToPixel(t)),
                    static_cast<int>(occupancy->valueAxis()->coordToPixel(75.0)));
    const QString hover = panel.hoverTextAt(at);
    QVERIFY2(hover.contains("batch occupancy: 75 %") && hover.contains("tokens/s, all requests: 250.0 tokens/s"),
             qPrintable(hover));
  }

  void chartsGetPointsWhileGeneratingAndStopWhenPaused() {
    ChartsPanel panel(engine_);
    auto* plot = panel.findChild<QCustomPlot*>("chartsPlot");
    QVERIFY(plot);
    QCPGraph* process = graphNamed(plot, "process memory (VmRSS)");
    QCPGraph* machine = graphNamed(plot, "machine RAM used");
    QCPGraph* machine_total = graphNamed(plot, "machine RAM total");
    QCPGraph* engine_memory = graphNamed(plot, "engine: weights + buffers");
    QCPGraph* latency = graphNamed(plot, "latency of the latest token");
    QCPGraph* speed = graphNamed(plot, "decode tokens/s");
    QCPBars* bars = ttftBars(plot);
    QVERIFY(process && machine && machine_total && engine_memory && latency && speed && bars);
    QCOMPARE(process->dataCount(), 1);  // the reading taken when the panel opened
    QCOMPARE(bars->dataCount(), 0);

    qint64 elapsed_ms = 0;
    // Long enough (about a second here) for the 100 ms timer to fire several times.
    const GenerationResult result = generate(700, &elapsed_ms);
    QCOMPARE(result.generated_ids.size(), size_t{700});
    // One reading when the job began, one every 100 ms while it ran (allow
    // half of them for a busy machine), one when it ended.
    const int expected = 3 + static_cast<int>(elapsed_ms / 100) / 2;
    qInfo("%d memory points, %d latency points over a %lld ms generation", process->dataCount(), latency->dataCount(),
          elapsed_ms);
    QVERIFY2(process->dataCount() >= expected,
             qPrintable(QStringLiteral("%1 points in %2 ms").arg(process->dataCount()).arg(elapsed_ms)));
    QCOMPARE(machine->dataCount(), process->dataCount());
    QCOMPARE(engine_memory->dataCount(), process->dataCount());
    // The engine's figure is its weights and buffers, in GiB.
    const double engine_gib = engine_memory->data()->at(engine_memory->dataCount() - 1)->value;
    QCOMPARE(engine_gib, result.metrics.memory_bytes() / double(1u << 30));
    QVERIFY(engine_gib > 0);
    QVERIFY(machine_total->data()->at(0)->value > machine->data()->at(0)->value);
    // The legend names the total with its figure.
    QVERIFY2(machine_total->name().startsWith(
                 QStringLiteral("machine RAM total: %1 GiB").arg(machine_total->data()->at(0)->value, 0, 'f', 1)),
             qPrintable(machine_total->name()));
    // Sampled while decoding: a latency point per sample that saw new tokens.
    QVERIFY(latency->dataCount() >= 1 + static_cast<int>(elapsed_ms / 100) / 3);
    QCOMPARE(speed->dataCount(), latency->dataCount());
    QCOMPARE(speed->data()->at(speed->dataCount() - 1)->value, result.metrics.decode_tokens_per_s);
    QCOMPARE(bars->dataCount(), 1);
    QCOMPARE(bars->data()->at(0)->value, result.metrics.ttft_ms);

    // Paused: another generation adds nothing.
    auto* pause = panel.findChild<QPushButton*>("pauseButton");
    QVERIFY(pause);
    pause->click();
    QVERIFY(panel.isPaused());
    QCOMPARE(pause->text(), QStringLiteral("Resume"));
    const int before = totalPoints(plot);
    QCOMPARE(generate(16).generated_ids.size(), size_t{16});
    QTest::qWait(250);  // longer than two sampling intervals
    QCOMPARE(totalPoints(plot), before);
    QCOMPARE(bars->dataCount(), 1);

    // Resumed: the next answer is recorded again.
    pause->click();
    QVERIFY(!panel.isPaused());
    const GenerationResult third = generate(16);
    QCOMPARE(bars->dataCount(), 2);
    QCOMPARE(bars->data()->at(1)->value, third.metrics.ttft_ms);
    QCOMPARE(bars->data()->at(1)->key, 2.0);  // answers are numbered in order
    QVERIFY(totalPoints(plot) > before);
  }

  // Two answers with idle time between them: the lines break there (a NaN
  // point) instead of joining across time never measured, and the time axis
  // reaches the newest point of every line.
  void idleTimeBreaksTheLinesAndTheNewestPointsAreInView() {
    ChartsPanel panel(engine_);
    auto* plot = panel.findChild<QCustomPlot*>("chartsPlot");
    QCPGraph* process = graphNamed(plot, "process memory (VmRSS)");
    QVERIFY(process);
    generate(24);
    QTest::qWait(400);  // idle: nothing sampled
    generate(24);
    int breaks = 0;
    for (int i = 0; i < process->dataCount(); ++i) breaks += std::isnan(process->data()->at(i)->value) ? 1 : 0;
    QVERIFY2(breaks >= 2, qPrintable(QStringLiteral("%1 breaks").arg(breaks)));  // before each answer
    const double axis_end = process->keyAxis()->range().upper;
    for (int i = 0; i < plot->graphCount(); ++i) {
      QCPGraph* g = plot->graph(i);
      if (g->dataCount() == 0) continue;
      QVERIFY2(g->data()->at(g->dataCount() - 1)->key <= axis_end + 1e-9, qPrintable(g->name()));
    }
  }

  void clearEmptiesTheCharts() {
    ChartsPanel panel(engine_);
    auto* plot = panel.findChild<QCustomPlot*>("chartsPlot");
    generate(24);
    QVERIFY(totalPoints(plot) > 0);
    QVERIFY(ttftBars(plot)->dataCount() == 1);
    auto* clear = panel.findChild<QPushButton*>("clearButton");
    QVERIFY(clear);
    clear->click();
    QCOMPARE(totalPoints(plot), 0);
    for (int i = 0; i < plot->graphCount(); ++i) QCOMPARE(plot->graph(i)->dataCount(), 0);
    QCOMPARE(ttftBars(plot)->dataCount(), 0);
    // The cleared answer does not come back; the next one does.
    panel.sampleNow();
    QCOMPARE(ttftBars(plot)->dataCount(), 0);
    generate(8);
    QCOMPARE(ttftBars(plot)->dataCount(), 1);
  }

  void savePngWritesAValidPng() {
    ChartsPanel panel(engine_);
    panel.resize(700, 800);
    generate(16);
    QTemporaryDir dir;
    const QString path = dir.filePath("charts.png");
    QVERIFY(panel.savePng(path));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.read(8), QByteArray("\x89PNG\r\n\x1a\n", 8));
    file.close();
    QImage image(path);
    QVERIFY(!image.isNull());
    QVERIFY(image.width() >= 700);
    QVERIFY(image.height() >= 800);
    // Not a blank canvas: the charts drew something darker than the background.
    bool drawn = false;
    for (int y = 0; y < image.height() && !drawn; y += 3) {
      for (int x = 0; x < image.width() && !drawn; x += 3) drawn = qGray(image.pixel(x, y)) < 128;
    }
    QVERIFY(drawn);
    QVERIFY(!panel.savePng(dir.filePath("no-such-folder/charts.png")));
  }

  void aGpuMemoryReaderAddsItsLines() {
    // The hook the CUDA backend fills: no GPU lines without a reader.
    ChartsPanel panel(engine_);
    auto* plot = panel.findChild<QCustomPlot*>("chartsPlot");
    QVERIFY(!graphNamed(plot, "GPU memory used"));
    panel.setDeviceMemoryReader([] { return std::optional<DeviceMemory>(DeviceMemory{uint64_t{3} << 30, uint64_t{24} << 30}); });
    panel.sampleNow();
    QCPGraph* used = graphNamed(plot, "GPU memory used");
    QCPGraph* total = graphNamed(plot, "GPU memory total");
    QVERIFY(used && total);
    QCOMPARE(used->dataCount(), 1);
    QCOMPARE(used->data()->at(0)->value, 3.0);
    QCOMPARE(total->data()->at(0)->value, 24.0);
    // A reader with nothing to say this time draws nothing, rather than a zero.
    panel.setDeviceMemoryReader([] { return std::optional<DeviceMemory>(); });
    panel.sampleNow();
    QCOMPARE(used->dataCount(), 1);
    QCOMPARE(graphNamed(plot, "process memory (VmRSS)")->dataCount(), 3);
  }

  void hoverNamesTheValuesUnderTheMouse() {
    ChartsPanel panel(engine_);
    panel.resize(700, 900);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    const GenerationResult result = generate(16);
    auto* plot = panel.findChild<QCustomPlot*>("chartsPlot");
    plot->replot(QCustomPlot::rpImmediateRefresh);

    // The last TTFT bar.
    QCPBars* bars = ttftBars(plot);
    const QPoint bar(qRound(bars->keyAxis()->coordToPixel(bars->data()->at(0)->key)),
                     qRound(bars->valueAxis()->coordToPixel(bars->data()->at(0)->value / 2)));
    const QString bar_text = panel.hoverTextAt(bar);
    QVERIFY2(bar_text.contains(QStringLiteral("first token after %1 ms").arg(result.metrics.ttft_ms, 0, 'f', 0)),
             qPrintable(bar_text));

    // The latest memory point: the tooltip lists every memory line at that time.
    QCPGraph* process = graphNamed(plot, "process memory (VmRSS)");
    const auto last = process->data()->at(process->dataCount() - 1);
    const QPoint point(qRound(process->keyAxis()->coordToPixel(last->key)),
                       qRound(process->valueAxis()->coordToPixel(last->value)));
    const QString text = panel.hoverTextAt(point);
    QVERIFY2(text.contains(QStringLiteral("process memory (VmRSS): %1 GiB").arg(last->value, 0, 'f', 3)), qPrintable(text));
    QVERIFY2(text.contains("machine RAM total"), qPrintable(text));
    QVERIFY(panel.hoverTextAt(QPoint(-5, -5)).isEmpty());

    // A real mouse move shows it as a tooltip.
    QMouseEvent move(QEvent::MouseMove, QPointF(point), plot->mapToGlobal(QPointF(point)), Qt::NoButton, Qt::NoButton,
                     Qt::NoModifier);
    QCoreApplication::sendEvent(plot, &move);
    QTRY_VERIFY(QToolTip::isVisible());
    QCOMPARE(QToolTip::text(), text);
  }
};

QTEST_MAIN(TestChartsPanel)
#include "test_charts_panel.moc"
