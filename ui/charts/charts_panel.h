#pragma once
// The live charts (issue 7, part 3): memory, per-token latency, decode
// tokens/s against time, time to first token as one bar per answer, and
// (with the local server's hook) its batch occupancy and aggregate tokens/s,
// sampled from EngineController::metrics() every 100 ms while the engine
// works (and once when it stops). Hovering a chart shows the values under
// the mouse; Pause stops recording, Clear empties the charts, Save PNG writes
// all four charts into one image. The data lives in MetricsHistory (bounded
// to the last 10 minutes); this widget only draws it.
#include <QElapsedTimer>
#include <QTimer>
#include <QWidget>
#include <functional>
#include <optional>
#include <vector>

#include "ui/charts/metrics_history.h"

class QCustomPlot;
class QCPAxisRect;
class QCPGraph;
class QCPBars;
class QCPLegend;
class QLabel;
class QMouseEvent;
class QPushButton;

namespace ql::ui {

class EngineController;

class ChartsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ChartsPanel(EngineController* engine, QWidget* parent = nullptr);

  // The GPU memory hook: the CUDA backend's reader (used and total bytes of
  // the device). When set, the memory chart adds "GPU memory used" and "GPU
  // memory total"; a reader that returns nullopt draws nothing that time.
  using DeviceMemoryReader = std::function<std::optional<DeviceMemory>()>;
  void setDeviceMemoryReader(DeviceMemoryReader reader);
  // The local server's hook: its batch as it runs (nullopt while it does not
  // serve). When set, a fifth chart draws batch occupancy (%) and aggregate
  // tokens/s; samples are taken while the engine works or setServing(true).
  using BatchReader = std::function<std::optional<BatchReading>()>;
  void setBatchReader(BatchReader reader);

  bool isPaused() const { return paused_; }
  const MetricsHistory& history() const { return history_; }

  // What the hover tooltip says at a position in the plot's coordinates
  // ("" where no chart or no point is near).
  QString hoverTextAt(const QPoint& plot_pos) const;

 public slots:
  void setPaused(bool paused);
  void clear();
  // Writes the four charts into one PNG; false (and says why in the panel) on failure.
  bool savePng(const QString& path);
  // Takes one sample now (the timer calls it every 100 ms while the engine is busy).
  void sampleNow();
  // The local server started or stopped: it answers without the window's
  // engine being busy, so the charts sample while it serves too.
  void setServing(bool serving);

 private slots:
  void onBusyChanged(bool busy);
  void onMouseMove(QMouseEvent* event);
  void chooseAndSavePng();

 private:
  // One chart of the stack: its axes, what its values are and how to print them.
  struct Chart {
    QCPAxisRect* rect = nullptr;
    QString unit;
    int decimals = 1;
    double scale = 1;  // history value * scale = plotted value (bytes -> GiB)
  };
  // Samples every 100 ms while `active` (the engine works or the server serves).
  void updateSampling(bool active);
  void buildPlot();
  Chart addChart(int row, const QString& value_label, const QString& unit, int decimals, double scale);
  QCPGraph* addGraph(const Chart& chart, const QString& name, const QColor& color, Qt::PenStyle style = Qt::SolidLine);
  void redraw();
  // "machine RAM total: 23.0 GiB": the legend carries the figure, which may lie above the scale.
  void nameTotal(QCPGraph* graph, const QString& what, const TimedSeries& series);

  EngineController* engine_;
  QCustomPlot* plot_ = nullptr;
  QPushButton* pause_button_ = nullptr;
  QLabel* status_ = nullptr;
  QTimer timer_;
  QElapsedTimer clock_;
  MetricsHistory history_;
  DeviceMemoryReader device_reader_;
  BatchReader batch_reader_;
  bool paused_ = false;
  bool serving_ = false;

  Chart memory_, latency_, speed_, ttft_, batch_;  // batch_.rect: made by setBatchReader
  QCPLegend* memory_legend_ = nullptr;
  QCPGraph* process_graph_ = nullptr;
  QCPGraph* machine_used_graph_ = nullptr;
  QCPGraph* machine_total_graph_ = nullptr;
  QCPGraph* engine_graph_ = nullptr;
  QCPGraph* device_used_graph_ = nullptr;   // created by setDeviceMemoryReader
  QCPGraph* device_total_graph_ = nullptr;
  QCPGraph* latency_graph_ = nullptr;
  QCPGraph* speed_graph_ = nullptr;
  QCPBars* ttft_bars_ = nullptr;
  QCPGraph* occupancy_graph_ = nullptr;    // created by setBatchReader
  QCPGraph* batch_rate_graph_ = nullptr;   // on the batch chart's right axis
};

}  // namespace ql::ui
