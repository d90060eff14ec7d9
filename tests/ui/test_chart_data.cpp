// The live charts' data, apart from the widgets: the /proc readers (on this
// machine's real files and on crafted texts, bad ones named in the errors),
// one TTFT per answer from sampled and finished Metrics, and the bounded
// history (points older than the window dropped, clear() not bringing the
// last answer back).
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <fstream>
#include <vector>

#include "ui/charts/answer_tracker.h"
#include "ui/charts/metrics_history.h"
#include "ui/charts/proc_memory.h"

using namespace ql::ui;
using ql::engine::Metrics;

namespace {

Metrics answering(double ttft_ms, int64_t tokens, double last_token_ms = 5, double tok_s = 200) {
  Metrics m;
  m.generating = true;
  m.ttft_ms = ttft_ms;
  m.generated_tokens = tokens;
  m.last_token_ms = tokens >= 2 ? last_token_ms : 0;
  m.decode_tokens_per_s = tokens >= 2 ? tok_s : 0;
  m.weight_bytes = 1000;
  m.kv_cache_bytes = 16;  // the engine's memory is weights + KV cache + workspace: 1024
  m.workspace_bytes = 8;
  return m;
}

MetricsSample sample(double t_s, const Metrics& m) {
  MetricsSample s;
  s.t_s = t_s;
  s.metrics = m;
  s.process_bytes = 5000;
  s.machine = MachineMemory{8000, 3000};
  return s;
}

}  // namespace

class TestChartData : public QObject {
  Q_OBJECT
 private slots:
  void batchReadingsBecomeOccupancyAndRate() {
    MetricsHistory h;
    MetricsSample a;
    a.t_s = 1;
    a.batch = BatchReading{3, 4, 120.5};
    h.add(a);
    MetricsSample none;  // the server stopped: no batch point
    none.t_s = 2;
    h.add(none);
    MetricsSample b;
    b.t_s = 3;
    b.batch = BatchReading{2, 0, 10};  // no slots reported: counted as one
    h.breakLines();
    h.add(b);
    const auto& occ = h.batchOccupancyPercent().points();
    const auto& rate = h.batchTokensPerSecond().points();
    QCOMPARE(occ.size(), size_t{3});
    QCOMPARE(occ[0].value, 75.0);
    QCOMPARE(rate[0].value, 120.5);
    QVERIFY(std::isnan(occ[1].value));  // the break before the new point
    QCOMPARE(occ[1].t_s, 2.0);
    QCOMPARE(occ[2].value, 200.0);
    QCOMPARE(rate[2].value, 10.0);
    h.clear();
    QVERIFY(h.batchOccupancyPercent().points().empty());
    QVERIFY(h.batchTokensPerSecond().points().empty());
  }

  void readsThisMachinesProcFiles() {
    auto rss = read_process_rss_bytes();
    QVERIFY2(rss.ok(), rss.ok() ? "" : rss.message().c_str());
    auto ram = read_machine_memory();
    QVERIFY2(ram.ok(), ram.ok() ? "" : ram.message().c_str());
    // A running test process holds at least a megabyte and less than the whole machine.
    QVERIFY(*rss > (uint64_t{1} << 20));
    QVERIFY(*rss < ram->total_bytes);
    QVERIFY(ram->available_bytes <= ram->total_bytes);
    QCOMPARE(ram->used_bytes(), ram->total_bytes - ram->available_bytes);
    // Our own allocation shows: touch 64 MiB and read again.
    std::vector<char> block(64u << 20, 1);
    auto more = read_process_rss_bytes();
    QVERIFY(more.ok());
    QVERIFY2(*more >= *rss + (48u << 20), qPrintable(QStringLiteral("%1 -> %2").arg(*rss).arg(*more)));
    QCOMPARE(block[12345], char(1));
  }

  void parsesStatusAndMeminfoTexts() {
    auto rss = parse_vm_rss("Name:\ttest\nVmPeak:\t  9000 kB\nVmRSS:\t   1234 kB\nThreads:\t3\n", "status");
    QVERIFY(rss.ok());
    QCOMPARE(*rss, uint64_t{1234} * 1024);
    auto ram = parse_meminfo("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n", "meminfo");
    QVERIFY(ram.ok());
    QCOMPARE(ram->total_bytes, uint64_t{24000000} * 1024);
    QCOMPARE(ram->available_bytes, uint64_t{20000000} * 1024);
    QCOMPARE(ram->used_bytes(), uint64_t{4000000} * 1024);
  }

  void badTextsAreRefusedNamingFileAndField() {
    auto missing = parse_vm_rss("Name:\ttest\nVmSize:\t 10 kB\n", "/proc/self/status");
    QVERIFY(!missing.ok());
    QVERIFY(QString::fromStdString(missing.message()).contains("/proc/self/status"));
    QVERIFY(QString::fromStdString(missing.message()).contains("VmRSS"));
    auto wrong_unit = parse_vm_rss("VmRSS:\t 10 MB\n", "s");
    QVERIFY(!wrong_unit.ok());
    QVERIFY(QString::fromStdString(wrong_unit.message()).contains("10 MB"));
    QVERIFY(!parse_vm_rss("VmRSS:\t kB\n", "s").ok());
    // "VmRSSx" is another field, not VmRSS.
    QVERIFY(!parse_vm_rss("VmRSSx:\t 10 kB\n", "s").ok());
    auto no_available = parse_meminfo("MemTotal: 100 kB\nMemFree: 50 kB\n", "/proc/meminfo");
    QVERIFY(!no_available.ok());
    QVERIFY(QString::fromStdString(no_available.message()).contains("MemAvailable"));
    auto inverted = parse_meminfo("MemTotal: 100 kB\nMemAvailable: 200 kB\n", "m");
    QVERIFY(!inverted.ok());
    QVERIFY(QString::fromStdString(inverted.message()).contains("exceeds"));
    auto no_file = read_machine_memory("/nonexistent/meminfo");
    QVERIFY(!no_file.ok());
    QVERIFY(QString::fromStdString(no_file.message()).contains("/nonexistent/meminfo"));
  }

  void readsAGivenFile() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("status").toStdString();
    std::ofstream(path) << "VmRSS:\t 42 kB\n";
    auto rss = read_process_rss_bytes(path);
    QVERIFY(rss.ok());
    QCOMPARE(*rss, uint64_t{42} * 1024);
  }

  void oneTtftPerAnswerWhicheverSourceSeesIt() {
    AnswerTracker t;
    QVERIFY(!t.observe(answering(0, 0)).has_value());  // prefilling: no first token yet
    auto first = t.observe(answering(120.5, 1));
    QVERIFY(first.has_value());
    QCOMPARE(*first, 120.5);
    QVERIFY(!t.observe(answering(120.5, 9)).has_value());   // the same answer, later sample
    Metrics finished = answering(120.5, 16);
    finished.generating = false;
    QVERIFY(!t.observe(finished).has_value());               // generationFinished of the same answer
    auto second = t.observe(answering(98.25, 3));            // a new request: a new first-token time
    QVERIFY(second.has_value());
    QCOMPARE(*second, 98.25);
  }

  void historyKeepsSeriesAndAnswers() {
    MetricsHistory h(60);
    h.add(sample(0.0, Metrics{}));            // idle: memory only
    h.add(sample(0.1, answering(150, 1)));    // first token: a TTFT, no latency yet
    h.add(sample(0.2, answering(150, 5, 4, 250)));
    h.add(sample(0.3, answering(150, 5, 4, 250)));  // no new token: no new latency point
    h.add(sample(0.4, answering(150, 9, 6, 230)));
    QCOMPARE(h.processMemory().size(), size_t{5});
    QCOMPARE(h.machineUsed().points().back().value, 5000.0);
    QCOMPARE(h.machineTotal().points().back().value, 8000.0);
    QCOMPARE(h.engineMemory().points().back().value, 1024.0);
    QCOMPARE(h.tokenLatencyMs().size(), size_t{2});
    QCOMPARE(h.tokenLatencyMs().points().back().value, 6.0);
    QCOMPARE(h.tokensPerSecond().points().front().value, 250.0);
    QCOMPARE(h.answers().size(), size_t{1});
    QCOMPARE(h.answers().front().ttft_ms, 150.0);
    QCOMPARE(h.answers().front().number, 1);
    QCOMPARE(h.deviceUsed().size(), size_t{0});  // no GPU reader on the CPU backend

    // A short answer the sampling missed arrives through generationFinished.
    h.addFinishedAnswer(answering(80, 4));
    QCOMPARE(h.answers().size(), size_t{2});
    QCOMPARE(h.answers().back().number, 2);

    // Clear empties everything, and the answer already seen does not come back.
    h.clear();
    h.add(sample(0.5, answering(80, 4)));
    QCOMPARE(h.answers().size(), size_t{0});
    QCOMPARE(h.processMemory().size(), size_t{1});
    h.add(sample(0.6, answering(70, 2)));
    QCOMPARE(h.answers().size(), size_t{1});
    QCOMPARE(h.answers().front().number, 3);  // numbering carries on
  }

  void skippedFiguresAreNotRecordedLater() {
    // What the panel found when it opened (or saw while paused) is noted, not drawn.
    MetricsHistory h;
    h.skip(answering(150, 9, 6, 230));
    h.add(sample(1, answering(150, 9, 6, 230)));
    QCOMPARE(h.answers().size(), size_t{0});
    QCOMPARE(h.tokenLatencyMs().size(), size_t{0});
    QCOMPARE(h.processMemory().size(), size_t{1});
    // The same answer going on: its new tokens are plotted, its TTFT is still not new.
    h.add(sample(2, answering(150, 12, 7, 220)));
    QCOMPARE(h.tokenLatencyMs().size(), size_t{1});
    QCOMPARE(h.answers().size(), size_t{0});
    h.add(sample(3, answering(90, 1)));
    QCOMPARE(h.answers().size(), size_t{1});
  }

  void historyStaysWithinItsWindow() {
    MetricsHistory h(10);  // ten seconds
    for (int i = 0; i <= 300; ++i) h.add(sample(i / 10.0, answering(100, 2 + i)));
    // 30 s recorded at 10 Hz, only the last 10 s (101 points) kept.
    QCOMPARE(h.processMemory().size(), size_t{101});
    QCOMPARE(h.tokenLatencyMs().size(), size_t{101});
    QVERIFY(h.processMemory().points().front().t_s >= 20.0 - 1e-9);
    for (int i = 0; i < 700; ++i) h.addFinishedAnswer(answering(1.0 + i, 2));
    QCOMPARE(h.answers().size(), MetricsHistory::kMaxAnswers);
    QCOMPARE(h.answers().back().ttft_ms, 700.0);
  }

  void anIdleGapBreaksEveryLineOnce() {
    MetricsHistory h;
    h.add(sample(0.0, answering(150, 3)));
    h.add(sample(0.1, answering(150, 5)));
    h.breakLines();
    h.breakLines();  // twice idle without a sample in between: still one break
    h.add(sample(30.0, answering(90, 3)));
    // Before the fix the line ran straight from 0.1 s to 30 s.
    QCOMPARE(h.processMemory().size(), size_t{4});
    const TimedValue gap = h.processMemory().points()[2];
    QVERIFY(std::isnan(gap.value));
    QVERIFY(gap.t_s > 0.1 && gap.t_s < 30.0);
    QVERIFY(std::isnan(h.machineUsed().points()[2].value));
    QVERIFY(std::isnan(h.engineMemory().points()[2].value));
    QVERIFY(std::isnan(h.tokenLatencyMs().points()[2].value));
    QCOMPARE(h.processMemory().points().back().value, 5000.0);
    // An empty series gets no break (nothing to separate).
    QCOMPARE(h.deviceUsed().size(), size_t{0});
  }

  void deviceMemoryIsKeptWhenGiven() {
    MetricsHistory h;
    MetricsSample s = sample(1, Metrics{});
    s.device = DeviceMemory{uint64_t{3} << 30, uint64_t{24} << 30};
    h.add(s);
    QCOMPARE(h.deviceUsed().points().back().value, double(uint64_t{3} << 30));
    QCOMPARE(h.deviceTotal().points().back().value, double(uint64_t{24} << 30));
  }
};

QTEST_GUILESS_MAIN(TestChartData)
#include "test_chart_data.moc"
