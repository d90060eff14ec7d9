#include "ui/main/load_progress_bar.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>

#include "ui/engine/engine_controller.h"

namespace ql::ui {

LoadProgressBar::LoadProgressBar(EngineController* engine, QWidget* parent) : QWidget(parent), engine_(engine) {
  setObjectName("loadProgress");
  auto* row = new QHBoxLayout(this);
  row->setContentsMargins(0, 0, 0, 0);
  stage_ = new QLabel(this);
  stage_->setObjectName("loadStage");
  row->addWidget(stage_);
  bar_ = new QProgressBar(this);
  bar_->setRange(0, 1000);
  bar_->setTextVisible(true);
  bar_->setFormat("%p%");
  bar_->setMinimumWidth(180);
  row->addWidget(bar_);
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName("loadCancel");
  cancel_->setToolTip(tr("Stop loading; the model loaded before stays loaded"));
  row->addWidget(cancel_);
  setVisible(false);

  connect(cancel_, &QPushButton::clicked, this, [this] {
    stage_->setText(tr("cancelling..."));
    cancel_->setEnabled(false);
    engine_->stop();
  });
  connect(engine_, &EngineController::busyChanged, this, [this](bool busy) {
    if (busy && engine_->currentJob() == QLatin1String("load")) onProgress(0, tr("starting"));
  });
  connect(engine_, &EngineController::loadProgress, this, &LoadProgressBar::onProgress);
  connect(engine_, &EngineController::loadFinished, this, [this] {
    active_ = false;
    setVisible(false);
  });
}

void LoadProgressBar::onProgress(double fraction, const QString& stage) {
  if (!active_) cancel_->setEnabled(true);  // a new load: Cancel is live again
  active_ = true;
  if (cancel_->isEnabled()) stage_->setText(stage);
  bar_->setValue(static_cast<int>(fraction * 1000.0 + 0.5));
  setVisible(true);
}

}  // namespace ql::ui
