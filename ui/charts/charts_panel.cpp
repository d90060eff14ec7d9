#include "ui/charts/charts_panel.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPushButton>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>

#include "ui/engine/engine_controller.h"

namespace ql::ui {
namespace {

constexpr int kSampleIntervalMs = 100;  // about 10 chart updates a second (issue 7)
constexpr double kBytesPerGiB = 1024.0 * 1024.0 * 1024.0;
constexpr int kHoverReachPx = 30;  // how far from a point the tooltip still names it

// Keys and values of a series, scaled for plotting.
void setSeries(QCPGraph* graph, const TimedSeries& series, double scale) {
  QVector<double> keys, values;
  keys.reserve(static_cast<qsizetype>(series.size()));
  values.reserve(static_cast<qsizetype>(series.size()));
  for (const TimedValue& p : series.points()) {
    keys.push_back(p.t_s);
    values.push_back(p.value * scale);
  }
  graph->setData(keys, values, /*alreadySorted=*/true);
}

// 0 .. a little above the largest value shown, so lines never touch the top.
void fitValueAxis(QCPAxis* axis, double largest, double empty_upper) {
  axis->setRange(0, largest > 0 ? largest * 1.15 : empty_upper);
}

QString clockText(double t_s) {
  const int total_tenths = static_cast<int>(std::lround(t_s * 10));
  return QStringLiteral("%1:%2.%3")
      .arg(total_tenths / 600)
      .arg((total_tenths / 10) % 60, 2, 10, QLatin1Char('0'))
      .arg(total_tenths % 10);
}

}  // namespace

ChartsPanel::ChartsPanel(EngineController* engine, QWidget* parent) : QWidget(parent), engine_(engine) {
  clock_.start();
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);

  auto* buttons = new QHBoxLayout;
  pause_button_ = new QPushButton(tr("Pause"), this);
  pause_button_->setObjectName("pauseButton");
  pause_button_->setCheckable(true);
  pause_button_->setToolTip(tr("Stop recording new points (the charts keep what they have)"));
  auto* clear_button = new QPushButton(tr("Clear"), this);
  clear_button->setObjectName("clearButton");
  auto* save_button = new QPushButton(tr("Save PNG..."), this);
  save_button->setObjectName("savePngButton");
  status_ = new QLabel(this);
  status_->setObjectName("chartsStatus");
  buttons->addWidget(pause_button_);
  buttons->addWidget(clear_button);
  buttons->addWidget(save_button);
  buttons->addWidget(status_, 1);
  layout->addLayout(buttons);

  plot_ = new QCustomPlot(this);
  plot_->setObjectName("chartsPlot");
  plot_->setMinimumSize(280, 360);
  plot_->setMouseTracking(true);
  layout->addWidget(plot_, 1);
  buildPlot();

  connect(pause_button_, &QPushButton::toggled, this, &ChartsPanel::setPaused);
  connect(clear_button, &QPushButton::clicked, this, &ChartsPanel::clear);
  connect(save_button, &QPushButton::clicked, this, &ChartsPanel::chooseAndSavePng);
  connect(plot_, &QCustomPlot::mouseMove, this, &ChartsPanel::onMouseMove);

  timer_.setInterval(kSampleIntervalMs);
  connect(&timer_, &QTimer::timeout, this, &ChartsPanel::sampleNow);
  if (engine_) {
    connect(engine_, &EngineController::busyChanged, this, &ChartsPanel::onBusyChanged);
    // Exact figures of a finished chat answer, which sampling may have missed
    // when it was shorter than one interval.
    connect(engine_, &EngineController::generationFinished, this,
            [this](quint64, bool ok, const ql::engine::GenerationResult& result, const QString&) {
              if (!ok) return;
              if (paused_) {
                history_.skip(result.metrics);
                return;
              }
              history_.addFinishedAnswer(result.metrics);
              redraw();
            });
    if (engine_->busy()) timer_.start();
  }
  setPaused(false);  // the status line
  // The memory in use when the panel opens; an answer given before it opened
  // is not one of its answers.
  if (engine_) history_.skip(engine_->metrics());
  sampleNow();
}

void ChartsPanel::buildPlot() {
  plot_->plotLayout()->clear();  // replaced by our stack of four charts
  auto* margins = new QCPMarginGroup(plot_);
  memory_ = addChart(0, tr("memory (GiB)"), tr("GiB"), 3, 1.0 / kBytesPerGiB);
  latency_ = addChart(1, tr("per-token latency (ms)"), tr("ms"), 1, 1);
  speed_ = addChart(2, tr("decode tokens/s"), tr("tokens/s"), 1, 1);
  ttft_ = addChart(3, tr("time to first token (ms)"), tr("ms"), 0, 1);
  for (const Chart* c : {&memory_, &latency_, &speed_, &ttft_}) c->rect->setMarginGroup(QCP::msLeft, margins);
  plot_->plotLayout()->setRowStretchFactor(0, 1.4);  // the memory chart has the most lines

  // On the CPU backend the engine's memory is this process's; the machine's
  // RAM says how much room is left. GPU memory joins when a reader is set.
  process_graph_ = addGraph(memory_, tr("process memory (VmRSS)"), QColor(31, 119, 180));
  machine_used_graph_ = addGraph(memory_, tr("machine RAM used"), QColor(214, 39, 40));
  machine_total_graph_ = addGraph(memory_, tr("machine RAM total"), QColor(214, 39, 40), Qt::DashLine);
  engine_graph_ = addGraph(memory_, tr("engine: weights + buffers"), QColor(44, 160, 44));
  latency_graph_ = addGraph(latency_, tr("latency of the latest token"), QColor(148, 103, 189));
  speed_graph_ = addGraph(speed_, tr("decode tokens/s"), QColor(255, 127, 14));

  auto* time_ticker = new QCPAxisTickerTime;
  time_ticker->setTimeFormat("%m:%s");
  QSharedPointer<QCPAxisTicker> shared_time(time_ticker);
  for (const Chart* c : {&memory_, &latency_, &speed_}) {
    c->rect->axis(QCPAxis::atBottom)->setTicker(shared_time);
  }
  memory_.rect->axis(QCPAxis::atBottom)->setLabel(tr("time (min:s since the panel opened)"));

  QCPAxis* answer_axis = ttft_.rect->axis(QCPAxis::atBottom);
  auto fixed = QSharedPointer<QCPAxisTickerFixed>::create();
  fixed->setTickStep(1);
  fixed->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  answer_axis->setTicker(fixed);
  answer_axis->setLabel(tr("answer"));
  ttft_bars_ = new QCPBars(answer_axis, ttft_.rect->axis(QCPAxis::atLeft));
  ttft_bars_->setName(tr("time to first token"));
  ttft_bars_->setWidth(0.6);
  ttft_bars_->setPen(QPen(QColor(23, 190, 207).darker(130)));
  ttft_bars_->setBrush(QColor(23, 190, 207));

  // The legend sits in its own row above the memory chart: inside it, it
  // would hide the lines it names.
  memory_legend_ = new QCPLegend;
  plot_->plotLayout()->insertRow(0);
  plot_->plotLayout()->addElement(0, 0, memory_legend_);
  plot_->plotLayout()->setRowStretchFactor(0, 0.001);  // as tall as its entries, no more
  memory_legend_->setLayer("legend");
  memory_legend_->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  memory_legend_->setWrap(2);
  memory_legend_->setBorderPen(Qt::NoPen);
  memory_legend_->setBrush(Qt::NoBrush);
  QFont small = font();
  small.setPointSizeF(std::max(6.0, small.pointSizeF() * 0.85));
  memory_legend_->setFont(small);
  for (QCPGraph* g : {process_graph_, machine_used_graph_, machine_total_graph_, engine_graph_}) {
    g->addToLegend(memory_legend_);
  }
  redraw();
}

ChartsPanel::Chart ChartsPanel::addChart(int row, const QString& value_label, const QString& unit, int decimals,
                                         double scale) {
  Chart c;
  c.rect = new QCPAxisRect(plot_);
  c.unit = unit;
  c.decimals = decimals;
  c.scale = scale;
  c.rect->axis(QCPAxis::atLeft)->setLabel(value_label);
  plot_->plotLayout()->addElement(row, 0, c.rect);
  return c;
}

QCPGraph* ChartsPanel::addGraph(const Chart& chart, const QString& name, const QColor& color, Qt::PenStyle style) {
  QCPGraph* g = plot_->addGraph(chart.rect->axis(QCPAxis::atBottom), chart.rect->axis(QCPAxis::atLeft));
  g->setName(name);
  QPen pen(color);
  pen.setWidthF(1.6);
  pen.setStyle(style);
  g->setPen(pen);
  return g;
}

void ChartsPanel::setDeviceMemoryReader(DeviceMemoryReader reader) {
  device_reader_ = std::move(reader);
  if (device_reader_ && !device_used_graph_) {
    device_used_graph_ = addGraph(memory_, tr("GPU memory used"), QColor(140, 86, 75));
    device_total_graph_ = addGraph(memory_, tr("GPU memory total"), QColor(140, 86, 75), Qt::DashLine);
    device_used_graph_->addToLegend(memory_legend_);
    device_total_graph_->addToLegend(memory_legend_);
    redraw();
  }
}

void ChartsPanel::setBatchReader(BatchReader reader) {
  batch_reader_ = std::move(reader);
  if (!batch_reader_ || batch_.rect) return;
  // Below the time-to-first-token bars: row 0 is the legend, rows 1-4 the others.
  batch_ = addChart(5, tr("server batch (%)"), tr("%"), 0, 1);
  batch_.rect->setMarginGroup(QCP::msLeft, memory_.rect->marginGroup(QCP::msLeft));
  batch_.rect->axis(QCPAxis::atBottom)->setTicker(memory_.rect->axis(QCPAxis::atBottom)->ticker());
  QCPAxis* right = batch_.rect->axis(QCPAxis::atRight);
  right->setVisible(true);
  right->setLabel(tr("tokens/s"));
  occupancy_graph_ = addGraph(batch_, tr("batch occupancy"), QColor(40, 120, 200));
  batch_rate_graph_ = plot_->addGraph(batch_.rect->axis(QCPAxis::atBottom), right);
  batch_rate_graph_->setName(tr("tokens/s, all requests"));
  batch_rate_graph_->setPen(QPen(QColor(200, 90, 40), 1.6));
  // The hover text gives each line its own unit.
  batch_rate_graph_->setProperty("unit", tr("tokens/s"));
  batch_rate_graph_->setProperty("decimals", 1);
  auto* legend = new QCPLegend;
  batch_.rect->insetLayout()->addElement(legend, Qt::AlignTop | Qt::AlignLeft);
  legend->setFont(memory_legend_->font());
  legend->setBrush(QColor(255, 255, 255, 200));
  occupancy_graph_->addToLegend(legend);
  batch_rate_graph_->addToLegend(legend);
  redraw();
}

void ChartsPanel::setServing(bool serving) {
  if (serving_ == serving) return;
  serving_ = serving;
  updateSampling(serving_ || (engine_ && engine_->busy()));
}

void ChartsPanel::onBusyChanged(bool busy) { updateSampling(busy || serving_); }

void ChartsPanel::updateSampling(bool active) {
  if (active == timer_.isActive()) return;
  if (active) {
    history_.breakLines();  // nothing was sampled while idle
    sampleNow();
    timer_.start();
  } else {
    timer_.stop();
    sampleNow();  // the figures the job ended with
  }
}

void ChartsPanel::sampleNow() {
  if (paused_) {
    // Nothing recorded, but an answer given while paused must not appear
    // as new once recording resumes.
    if (engine_) history_.skip(engine_->metrics());
    return;
  }
  MetricsSample s;
  s.t_s = static_cast<double>(clock_.nsecsElapsed()) / 1e9;
  if (engine_) s.metrics = engine_->metrics();
  // A reader that fails (no /proc, e.g. in a sandbox) leaves its line out
  // rather than drawing a false zero.
  if (auto rss = read_process_rss_bytes()) s.process_bytes = *rss;
  if (auto ram = read_machine_memory()) s.machine = *ram;
  if (device_reader_) s.device = device_reader_();
  if (batch_reader_) s.batch = batch_reader_();
  history_.add(s);
  redraw();
}

void ChartsPanel::redraw() {
  setSeries(process_graph_, history_.processMemory(), memory_.scale);
  setSeries(machine_used_graph_, history_.machineUsed(), memory_.scale);
  setSeries(machine_total_graph_, history_.machineTotal(), memory_.scale);
  setSeries(engine_graph_, history_.engineMemory(), memory_.scale);
  if (device_used_graph_) {
    setSeries(device_used_graph_, history_.deviceUsed(), memory_.scale);
    setSeries(device_total_graph_, history_.deviceTotal(), memory_.scale);
  }
  setSeries(latency_graph_, history_.tokenLatencyMs(), 1);
  setSeries(speed_graph_, history_.tokensPerSecond(), 1);
  QVector<double> numbers, ttfts;
  for (const AnswerTtft& a : history_.answers()) {
    numbers.push_back(a.number);
    ttfts.push_back(a.ttft_ms);
  }
  ttft_bars_->setData(numbers, ttfts, /*alreadySorted=*/true);
  if (occupancy_graph_) {
    setSeries(occupancy_graph_, history_.batchOccupancyPercent(), 1);
    setSeries(batch_rate_graph_, history_.batchTokensPerSecond(), 1);
  }

  // Time axes: everything kept (up to the window), the same span on all three.
  double first = 0, last = 0;
  bool any = false;
  // Every series counts, so the newest point of any (an answer's speed
  // included) is always inside the visible range.
  for (const TimedSeries* s : {&history_.processMemory(), &history_.machineUsed(), &history_.machineTotal(),
                               &history_.engineMemory(), &history_.tokenLatencyMs(), &history_.tokensPerSecond(),
                               &history_.deviceUsed(), &history_.deviceTotal(), &history_.batchOccupancyPercent(),
                               &history_.batchTokensPerSecond()}) {
    if (s->points().empty()) continue;
    first = any ? std::min(first, s->points().front().t_s) : s->points().front().t_s;
    last = any ? std::max(last, s->points().back().t_s) : s->points().back().t_s;
    any = true;
  }
  if (!any || last - first < 10) last = first + 10;  // at least 10 s across, so one point is not a line
  for (const Chart* c : {&memory_, &latency_, &speed_}) c->rect->axis(QCPAxis::atBottom)->setRange(first, last);
  if (batch_.rect) {
    batch_.rect->axis(QCPAxis::atBottom)->setRange(first, last);
    batch_.rect->axis(QCPAxis::atLeft)->setRange(0, 105);  // occupancy: 0-100 %
    bool found = false;
    const QCPRange r = batch_rate_graph_->getValueRange(found);
    fitValueAxis(batch_.rect->axis(QCPAxis::atRight), found ? r.upper : 0, 10);
  }

  for (const Chart* c : {&memory_, &latency_, &speed_}) {
    double largest = 0;
    for (QCPGraph* g : c->rect->graphs()) {
      // The memory axis fits what is used: a 24 GiB total would flatten a
      // 0.3 GiB process to the floor. The totals are named in the legend
      // with their figure, and drawn once the used lines come near them.
      if (g == machine_total_graph_ || g == device_total_graph_) continue;
      bool found = false;
      const QCPRange r = g->getValueRange(found);
      if (found) largest = std::max(largest, r.upper);
    }
    fitValueAxis(c->rect->axis(QCPAxis::atLeft), largest, 1);
  }
  nameTotal(machine_total_graph_, tr("machine RAM total"), history_.machineTotal());
  if (device_total_graph_) nameTotal(device_total_graph_, tr("GPU memory total"), history_.deviceTotal());
  double largest_ttft = 0;
  for (double t : ttfts) largest_ttft = std::max(largest_ttft, t);
  fitValueAxis(ttft_.rect->axis(QCPAxis::atLeft), largest_ttft, 100);
  const double first_answer = numbers.isEmpty() ? 1 : numbers.front();
  const double last_answer = numbers.isEmpty() ? 1 : numbers.back();
  ttft_.rect->axis(QCPAxis::atBottom)->setRange(first_answer - 0.7, std::max(last_answer, first_answer + 4) + 0.7);
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void ChartsPanel::nameTotal(QCPGraph* graph, const QString& what, const TimedSeries& series) {
  graph->setProperty("plainName", what);  // the hover text gives its own figure
  if (series.points().empty()) {
    graph->setName(what);
    return;
  }
  const double gib = series.points().back().value * memory_.scale;
  const double top = memory_.rect->axis(QCPAxis::atLeft)->range().upper;
  graph->setName(gib > top ? tr("%1: %2 GiB (above the scale)").arg(what).arg(gib, 0, 'f', 1)
                           : tr("%1: %2 GiB").arg(what).arg(gib, 0, 'f', 1));
}

void ChartsPanel::setPaused(bool paused) {
  paused_ = paused;
  if (pause_button_->isChecked() != paused) pause_button_->setChecked(paused);
  pause_button_->setText(paused ? tr("Resume") : tr("Pause"));
  status_->setText(paused ? tr("Paused: no new points are recorded.")
                          : tr("Sampled every 100 ms while the engine works; the last %1 minutes are kept.")
                                .arg(history_.windowSeconds() / 60, 0, 'f', 0));
}

void ChartsPanel::clear() {
  history_.clear();
  redraw();
}

bool ChartsPanel::savePng(const QString& path) {
  plot_->replot(QCustomPlot::rpImmediateRefresh);
  // A panel never shown (or squeezed in a dock) still gets a readable image.
  const int width = std::max(plot_->width(), 900);
  const int height = std::max(plot_->height(), 900);
  const bool ok = plot_->savePng(path, width, height);
  status_->setText(ok ? tr("Saved %1").arg(QDir::toNativeSeparators(path))
                      : tr("Could not write %1").arg(QDir::toNativeSeparators(path)));
  return ok;
}

void ChartsPanel::chooseAndSavePng() {
  const QString path = QFileDialog::getSaveFileName(this, tr("Save the charts as PNG"), "quantlens-charts.png",
                                                    tr("PNG images (*.png)"));
  if (!path.isEmpty()) savePng(path);
}

QString ChartsPanel::hoverTextAt(const QPoint& pos) const {
  for (const Chart* c : {&memory_, &latency_, &speed_, &ttft_, &batch_}) {
    if (!c->rect || !c->rect->rect().contains(pos)) continue;
    QCPAxis* x = c->rect->axis(QCPAxis::atBottom);
    const double key = x->pixelToCoord(pos.x());
    if (c == &ttft_) {
      for (const AnswerTtft& a : history_.answers()) {
        if (std::abs(a.number - key) <= 0.5) {
          return tr("answer %1: first token after %2 ms").arg(a.number).arg(a.ttft_ms, 0, 'f', 0);
        }
      }
      return {};
    }
    QStringList lines;
    double shown_key = 0;
    for (QCPGraph* g : c->rect->graphs()) {
      if (g->data()->isEmpty()) continue;
      // The nearest point by time: the first at or after `key`, or the one before it.
      auto it = g->data()->findBegin(key, false);
      if (it == g->data()->constEnd() || (it != g->data()->constBegin() && key - (it - 1)->key < it->key - key)) --it;
      if (std::abs(x->coordToPixel(it->key) - pos.x()) > kHoverReachPx) continue;
      if (std::isnan(it->value)) continue;  // a break in the line (MetricsHistory::breakLines): nothing measured
      shown_key = it->key;
      const QVariant plain = g->property("plainName");
      const QVariant unit = g->property("unit"), decimals = g->property("decimals");
      lines << tr("%1: %2 %3")
                   .arg(plain.isValid() ? plain.toString() : g->name())
                   .arg(it->value, 0, 'f', decimals.isValid() ? decimals.toInt() : c->decimals)
                   .arg(unit.isValid() ? unit.toString() : c->unit);
    }
    if (lines.isEmpty()) return {};
    lines.prepend(tr("at %1").arg(clockText(shown_key)));
    return lines.join('\n');
  }
  return {};
}

void ChartsPanel::onMouseMove(QMouseEvent* event) {
  const QPoint pos = event->position().toPoint();
  const QString text = hoverTextAt(pos);
  if (text.isEmpty()) QToolTip::hideText();
  else QToolTip::showText(event->globalPosition().toPoint(), text, plot_);
}

}  // namespace ql::ui
