#pragma once
// The "Local server" tab: serves the model loaded in the window over the
// OpenAI-compatible HTTP API (server/local_server.h), as `quantlens-cli
// serve` does. Start/stop, host, port and API key (host and port persist;
// the key is kept for the session only); the address and a copyable curl
// example; the requests as they run; and a live chart of batch occupancy and
// aggregate tokens/s (also drawn in the live charts: batchReading). The batch is the model panel's "Parallel requests"
// (the KV caches are allocated at load). Loading another model restarts a
// running server on it.
#include <QWidget>
#include <memory>
#include <optional>

#include "ui/charts/metrics_history.h"

class QCPGraph;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTimer;

namespace ql::server {
class LocalServer;
}

namespace ql::ui {

class AppSettings;
class EngineController;

class ServerPanel : public QWidget {
  Q_OBJECT
 public:
  ServerPanel(EngineController* engine, AppSettings* settings, QWidget* parent = nullptr);
  ~ServerPanel() override;

  bool isServing() const { return server_ != nullptr; }
  int port() const;  // the port listened on (0 when stopped)
  // The batch as it runs, for the live charts (nullopt while stopped).
  std::optional<BatchReading> batchReading() const;

 signals:
  void servingChanged(bool serving);

 public slots:
  // Starts on the loaded model; false (and the panel says why) when no model
  // is loaded or the address cannot be bound.
  bool start();
  void stop();

 private slots:
  void refresh();
  void onModelLoaded(bool ok, bool cancelled, const QString& error);

 private:
  void showState(const QString& text, bool error = false);
  QString example() const;

  EngineController* engine_;
  AppSettings* settings_;
  std::unique_ptr<server::LocalServer> server_;
  QLineEdit* host_ = nullptr;
  QSpinBox* port_ = nullptr;
  QLineEdit* api_key_ = nullptr;
  QPushButton* start_stop_ = nullptr;
  QLabel* state_ = nullptr;
  QLabel* batch_ = nullptr;
  QPlainTextEdit* example_ = nullptr;
  QTableWidget* requests_ = nullptr;
  QCustomPlot* plot_ = nullptr;
  QCPGraph* occupancy_ = nullptr;
  QCPGraph* rate_ = nullptr;
  QTimer* timer_ = nullptr;
  double seconds_ = 0;
};

}  // namespace ql::ui
