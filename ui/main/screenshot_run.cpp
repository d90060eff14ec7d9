#include "ui/main/screenshot_run.h"

#include <QApplication>
#include <QDir>
#include <QPixmap>
#include <QPlainTextEdit>
#include <QSpinBox>
#include <QTabWidget>
#include <QTimer>
#include <cstdio>

#include "ui/chat/chat_panel.h"
#include "ui/chat/compose_edit.h"
#include "ui/compare/compare_view.h"
#include "ui/engine/engine_controller.h"
#include "ui/export/export_dialog.h"
#include "ui/main/main_window.h"
#include "ui/main/resource_paths.h"
#include "ui/model/model_panel.h"

namespace ql::ui {
namespace {

constexpr int kSettleMs = 600;         // repaints and the charts' 100 ms sampling catch up
constexpr int kTimeLimitMs = 300'000;  // the whole run; the demo model needs well under a minute
constexpr int kAnswerTokens = 48;
constexpr int kCompareTokens = 12;

}  // namespace

ScreenshotRun::ScreenshotRun(MainWindow* window, QString out_dir, QObject* parent)
    : QObject(parent), window_(window), out_dir_(std::move(out_dir)) {}

void ScreenshotRun::start() {
  QDir().mkpath(out_dir_);
  const QString images = demo_images_dir();
  const QString picture = QDir(images).filePath("shapes.png");
  EngineController* engine = window_->engine();

  // 1. The demo model, loaded through the model panel.
  steps_.push_back([this, engine] {
    connect(engine, &EngineController::loadFinished, this, [this](bool ok, bool, const QString& error) {
      if (!ok) return fail("loading the demo model failed: " + error);
      shootThenNext(window_, "01-demo-model-loaded");
    }, Qt::SingleShotConnection);
    window_->openDemoModel();
    if (!engine->busy()) fail("the demo model did not start loading");
  });
  // 2. A question about a picture, answered in the chat.
  steps_.push_back([this, engine, picture] {
    ChatPanel* chat = window_->chatPanel();
    window_->showChat();
    chat->setMaxNewTokens(kAnswerTokens);
    chat->addImageFiles({picture});
    chat->composeEdit()->setPlainText(tr("What shapes are in this picture, and what colours are they?"));
    connect(engine, &EngineController::generationFinished, this,
            [this](quint64, bool ok, const engine::GenerationResult&, const QString& error) {
              if (!ok) return fail("the chat's answer failed: " + error);
              shootThenNext(window_, "02-chat-with-image");
            }, Qt::SingleShotConnection);
    chat->send();
    if (!engine->busy()) fail("the chat did not send the question");
  });
  // 3. Three precisions compared on the same question.
  steps_.push_back([this, picture] {
    CompareView* compare = window_->compareView();
    window_->showCompare();
    if (auto* tokens = compare->findChild<QSpinBox*>("tokensSpin")) tokens->setValue(kCompareTokens);
    compare->setQuestion(tr("Describe this picture."), {picture});
    connect(compare, &CompareView::comparisonFinished, this, [this](bool ok) {
      if (!ok) return fail("the comparison failed");
      shootThenNext(window_, "03-compare-precisions");
    }, Qt::SingleShotConnection);
    if (!compare->run()) fail("the comparison did not start");
  });
  // 4. The export dialog (opened, not run).
  steps_.push_back([this] {
    window_->openExportDialog();
    if (!window_->exportDialog()) return fail("the export dialog did not open");
    shootThenNext(window_->exportDialog(), "04-export-dialog");
  });
  steps_.push_back([this] {
    window_->exportDialog()->close();
    std::fprintf(stderr, "screenshots: wrote %s\n", qPrintable(written_.join(", ")));
    QApplication::exit(0);
  });

  QTimer::singleShot(kTimeLimitMs, this, [this] { fail("the run took longer than its time limit"); });
  QTimer::singleShot(kSettleMs, this, [this] { next(); });
}

void ScreenshotRun::next() {
  if (step_ >= steps_.size()) return;
  steps_[step_++]();
}

void ScreenshotRun::shootThenNext(QWidget* widget, const QString& name) {
  QTimer::singleShot(kSettleMs, this, [this, widget, name] {
    const QString path = QDir(out_dir_).filePath(name + ".png");
    if (!widget->grab().save(path)) return fail("cannot write " + path);
    written_ << path;
    next();
  });
}

void ScreenshotRun::fail(const QString& why) {
  std::fprintf(stderr, "screenshots: %s\n", qPrintable(why));
  QApplication::exit(1);
}

}  // namespace ql::ui
