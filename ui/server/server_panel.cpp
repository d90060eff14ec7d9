#include "ui/server/server_panel.h"

#include <QApplication>
#include <QClipboard>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <chrono>

#include <qcustomplot.h>

#include "server/local_server.h"
#include "ui/engine/engine_controller.h"
#include "ui/imageio/image_decode.h"
#include "ui/settings/app_settings.h"

namespace ql::ui {
namespace {

constexpr int kRefreshMs = 500;
constexpr double kChartSeconds = 120;
constexpr auto kStopGrace = std::chrono::seconds(5);

QString served_name(const std::string& dir) { return QString::fromStdString(server::served_model_name(dir)); }

}  // namespace

ServerPanel::ServerPanel(EngineController* engine, AppSettings* settings, QWidget* parent)
    : QWidget(parent), engine_(engine), settings_(settings) {
  auto* layout = new QVBoxLayout(this);
  auto* box = new QGroupBox(tr("OpenAI-compatible server"), this);
  auto* form = new QFormLayout(box);
  host_ = new QLineEdit(settings_->serverHost(), box);
  host_->setObjectName("serverHost");
  host_->setToolTip(tr("127.0.0.1 answers this machine only; 0.0.0.0 every network it is on"));
  form->addRow(tr("Address"), host_);
  port_ = new QSpinBox(box);
  port_->setObjectName("serverPort");
  port_->setRange(0, 65535);
  port_->setSpecialValueText(tr("any free port"));
  port_->setValue(settings_->serverPort());
  form->addRow(tr("Port"), port_);
  api_key_ = new QLineEdit(box);
  api_key_->setObjectName("serverApiKey");
  api_key_->setEchoMode(QLineEdit::PasswordEchoOnEdit);
  api_key_->setPlaceholderText(tr("none"));
  api_key_->setToolTip(tr("When set, every request but /health needs \"Authorization: Bearer KEY\". "
                          "Kept for this session only."));
  form->addRow(tr("API key"), api_key_);
  batch_ = new QLabel(box);
  batch_->setObjectName("serverBatch");
  form->addRow(tr("Parallel requests"), batch_);
  start_stop_ = new QPushButton(tr("Start"), box);
  start_stop_->setObjectName("serverStartStop");
  form->addRow(start_stop_);
  state_ = new QLabel(tr("Stopped."), box);
  state_->setObjectName("serverState");
  state_->setWordWrap(true);
  state_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  form->addRow(state_);
  layout->addWidget(box);

  auto* example_box = new QGroupBox(tr("Try it"), this);
  auto* example_layout = new QVBoxLayout(example_box);
  example_ = new QPlainTextEdit(example_box);
  example_->setObjectName("serverExample");
  example_->setReadOnly(true);
  example_->setMaximumHeight(110);
  example_layout->addWidget(example_);
  auto* copy = new QPushButton(tr("Copy"), example_box);
  copy->setObjectName("serverCopyExample");
  connect(copy, &QPushButton::clicked, this, [this] { QApplication::clipboard()->setText(example_->toPlainText()); });
  example_layout->addWidget(copy, 0, Qt::AlignRight);
  layout->addWidget(example_box);

  requests_ = new QTableWidget(0, 6, this);
  requests_->setObjectName("serverRequests");
  requests_->setHorizontalHeaderLabels(
      {tr("#"), tr("Client"), tr("State"), tr("Prompt tokens"), tr("Tokens"), tr("Finish")});
  requests_->horizontalHeader()->setStretchLastSection(true);
  requests_->verticalHeader()->hide();
  requests_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  layout->addWidget(requests_, 1);

  plot_ = new QCustomPlot(this);
  plot_->setObjectName("serverChart");
  plot_->setMinimumHeight(160);
  occupancy_ = plot_->addGraph(plot_->xAxis, plot_->yAxis);
  occupancy_->setName(tr("batch occupancy (%)"));
  occupancy_->setPen(QPen(QColor(40, 120, 200), 2));
  rate_ = plot_->addGraph(plot_->xAxis, plot_->yAxis2);
  rate_->setName(tr("tokens/s, all requests"));
  rate_->setPen(QPen(QColor(220, 110, 30), 2));
  plot_->xAxis->setLabel(tr("seconds"));
  plot_->yAxis->setLabel(tr("occupancy %"));
  plot_->yAxis->setRange(0, 100);
  plot_->yAxis2->setVisible(true);
  plot_->yAxis2->setLabel(tr("tokens/s"));
  plot_->legend->setVisible(true);
  layout->addWidget(plot_);

  timer_ = new QTimer(this);
  timer_->setInterval(kRefreshMs);
  connect(timer_, &QTimer::timeout, this, &ServerPanel::refresh);
  connect(start_stop_, &QPushButton::clicked, this, [this] {
    if (server_) stop();
    else start();
  });
  connect(engine_, &EngineController::loadFinished, this, &ServerPanel::onModelLoaded);
  example_->setPlainText(example());
  refresh();
}

ServerPanel::~ServerPanel() { stop(); }

int ServerPanel::port() const { return server_ ? server_->port() : 0; }

void ServerPanel::showState(const QString& text, bool error) {
  state_->setText(text);
  state_->setStyleSheet(error ? "color: #c03030;" : "");
}

bool ServerPanel::start() {
  if (server_) return true;
  const auto info = engine_->modelInfo();
  if (!info) {
    showState(tr("Load a model first: the server answers with the model loaded in the window."), true);
    return false;
  }
  server::ServerOptions o;
  o.host = host_->text().trimmed().toStdString();
  o.port = port_->value();
  o.api_key = api_key_->text().toStdString();
  o.parallel = info->parallel;
  o.model_name = served_name(info->dir).toStdString();
  auto srv = std::make_unique<server::LocalServer>(engine_->sharedEngine(), &imageio::decode_image_bytes, o);
  if (Status st = srv->start(); !st.ok()) {
    showState(QString::fromStdString(st.message()), true);
    return false;
  }
  srv->set_ready();
  server_ = std::move(srv);
  settings_->setServerHost(host_->text().trimmed());
  settings_->setServerPort(port_->value());
  host_->setEnabled(false);
  port_->setEnabled(false);
  api_key_->setEnabled(false);
  start_stop_->setText(tr("Stop"));
  showState(tr("Serving \"%1\" at http://%2:%3/v1").arg(QString::fromStdString(o.model_name), host_->text().trimmed())
                .arg(server_->port()));
  seconds_ = 0;
  occupancy_->data()->clear();
  rate_->data()->clear();
  example_->setPlainText(example());
  timer_->start();
  refresh();
  emit servingChanged(true);
  return true;
}

void ServerPanel::stop() {
  if (!server_) return;
  timer_->stop();
  server_->stop(kStopGrace);  // running answers finish first (a few seconds at most)
  server_.reset();
  host_->setEnabled(true);
  port_->setEnabled(true);
  api_key_->setEnabled(true);
  start_stop_->setText(tr("Start"));
  showState(tr("Stopped."));
  emit servingChanged(false);
}

std::optional<BatchReading> ServerPanel::batchReading() const {
  if (!server_) return std::nullopt;
  const auto s = server_->stats();
  return BatchReading{s.running, s.max_batch, s.tokens_per_second};
}

void ServerPanel::onModelLoaded(bool ok, bool, const QString&) {
  // A running server serves the model in the window: restart it on the new one.
  if (ok && server_) {
    stop();
    start();
  }
  refresh();
}

QString ServerPanel::example() const {
  const auto info = engine_->modelInfo();
  const QString model = info ? served_name(info->dir) : QStringLiteral("MODEL");
  const QString key = api_key_->text().isEmpty() ? QString() : QStringLiteral(" -H \"Authorization: Bearer %1\"").arg(api_key_->text());
  return QStringLiteral("curl http://%1:%2/v1/chat/completions -H \"Content-Type: application/json\"%3 -d '{\"model\": "
                        "\"%4\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}], \"stream\": true}'\n\n"
                        "# or any OpenAI client: base_url=http://%1:%2/v1")
      .arg(host_->text().trimmed())
      .arg(server_ ? server_->port() : port_->value())
      .arg(key, model);
}

void ServerPanel::refresh() {
  const auto info = engine_->modelInfo();
  batch_->setText(info ? tr("%1 (set in the Model panel; reload to change)").arg(info->parallel)
                       : tr("(no model loaded)"));
  if (!server_) return;
  const auto s = server_->stats();
  const auto records = server_->recent_requests();
  requests_->setRowCount(static_cast<int>(records.size()));
  for (int row = 0; row < static_cast<int>(records.size()); ++row) {
    // Newest first.
    const auto& r = records[records.size() - 1 - static_cast<size_t>(row)];
    const QStringList cells = {QString::number(r.id),
                               QString::fromStdString(r.client),
                               QString::fromLatin1(server::request_state_name(r.state)),
                               QString::number(r.prompt_tokens),
                               QString::number(r.completion_tokens),
                               QString::fromStdString(r.finish)};
    for (int c = 0; c < cells.size(); ++c) {
      auto* item = requests_->item(row, c);
      if (!item) requests_->setItem(row, c, item = new QTableWidgetItem);
      item->setText(cells[c]);
    }
  }
  seconds_ += kRefreshMs / 1000.0;
  occupancy_->addData(seconds_, 100.0 * static_cast<double>(s.running) / static_cast<double>(std::max<int64_t>(s.max_batch, 1)));
  rate_->addData(seconds_, s.tokens_per_second);
  occupancy_->data()->removeBefore(seconds_ - kChartSeconds);
  rate_->data()->removeBefore(seconds_ - kChartSeconds);
  plot_->xAxis->setRange(std::max(0.0, seconds_ - kChartSeconds), std::max(seconds_, 10.0));
  bool found = false;
  const QCPRange r = rate_->data()->valueRange(found);
  plot_->yAxis2->setRange(0, found ? std::max(10.0, r.upper * 1.1) : 10.0);
  plot_->replot(QCustomPlot::rpQueuedReplot);
  showState(tr("Serving at http://%1:%2/v1: %3 running, %4 waiting, %5 answered, %6 tokens/s")
                .arg(host_->text().trimmed())
                .arg(server_->port())
                .arg(s.running)
                .arg(s.queued)
                .arg(s.completed)
                .arg(s.tokens_per_second, 0, 'f', 1));
}

}  // namespace ql::ui
