#pragma once
// The status bar's view of a running load: the stage ("loading weights"), a
// progress bar and Cancel. Shown while a load runs (also the reload after a
// comparison), hidden when it ends. Cancel stops the load; the engine then
// keeps the model that was loaded before.
#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;

namespace ql::ui {

class EngineController;

class LoadProgressBar : public QWidget {
  Q_OBJECT
 public:
  explicit LoadProgressBar(EngineController* engine, QWidget* parent = nullptr);

  QProgressBar* bar() const { return bar_; }
  QLabel* stageLabel() const { return stage_; }
  QPushButton* cancelButton() const { return cancel_; }
  bool active() const { return active_; }

 private:
  void onProgress(double fraction, const QString& stage);

  EngineController* engine_;
  QLabel* stage_ = nullptr;
  QProgressBar* bar_ = nullptr;
  QPushButton* cancel_ = nullptr;
  bool active_ = false;  // a load is being shown
};

}  // namespace ql::ui
