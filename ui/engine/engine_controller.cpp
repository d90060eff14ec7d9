#include "ui/engine/engine_controller.h"

#include "ui/engine/background_priority.h"
#include "ui/engine/engine_worker.h"
#include "ui/engine/stop_signal.h"
#include "ui/imageio/image_decode.h"

namespace ql::ui {
namespace {

// How often a stop is said again while the stopped job runs (stop_signal.h).
constexpr int kStopRepeatMs = 20;

void register_metatypes() {
  qRegisterMetaType<ql::ui::LoadSettings>();
  qRegisterMetaType<ql::engine::GenerationRequest>();
  qRegisterMetaType<ql::engine::SamplingOptions>();
  qRegisterMetaType<ql::engine::GenerationResult>();
  qRegisterMetaType<ql::engine::CompareStep>();
  qRegisterMetaType<ql::engine::CompareReport>();
  qRegisterMetaType<ql::io::ExportProgress>();
  qRegisterMetaType<ql::io::ExportResult>();
}

}  // namespace

EngineController::EngineController(QObject* parent)
    : QObject(parent),
      engine_(std::make_unique<engine::Engine>(&ql::imageio::decode_image_file)),
      stop_(std::make_unique<StopSignal>(*engine_)) {
  register_metatypes();
  thread_.setObjectName("engine");
  worker_ = new EngineWorker(*engine_, *stop_);
  worker_->moveToThread(&thread_);
  stop_repeat_ = new QTimer(this);
  stop_repeat_->setInterval(kStopRepeatMs);
  connect(stop_repeat_, &QTimer::timeout, this, [this] { stop_->reassert(); });
  connectWorker();
  // Runs on the new thread before its event loop: the engine and every
  // thread it starts yield to the UI thread (background_priority.h).
  connect(&thread_, &QThread::started, worker_, [] { make_current_thread_background(); }, Qt::DirectConnection);
  thread_.start();
}

EngineController::~EngineController() {
  stop();
  thread_.quit();
  thread_.wait();  // the running job ends soon after stop()
  delete worker_;
}

void EngineController::connectWorker() {
  // Progress and tokens: relayed as they are (queued onto this thread).
  connect(worker_, &EngineWorker::loadProgress, this, &EngineController::loadProgress);
  connect(worker_, &EngineWorker::tokenArrived, this, &EngineController::tokenArrived);
  connect(worker_, &EngineWorker::compareProgress, this, &EngineController::compareProgress);
  connect(worker_, &EngineWorker::compareToken, this, &EngineController::compareToken);
  connect(worker_, &EngineWorker::exportProgress, this, &EngineController::exportProgress);
  // Finished signals end the job first, so that a receiver may start the next one.
  connect(worker_, &EngineWorker::loadFinished, this, [this](bool ok, bool cancelled, const QString& error) {
    // A comparison's reload reports a load too; its job ends with compareFinished.
    if (currentJob() == QLatin1String("load")) end();
    emit loadFinished(ok, cancelled, error);
  });
  connect(worker_, &EngineWorker::generationFinished, this,
          [this](quint64 id, bool ok, const engine::GenerationResult& r, const QString& error) {
            end();
            emit generationFinished(id, ok, r, error);
          });
  connect(worker_, &EngineWorker::compareFinished, this,
          [this](bool ok, bool cancelled, const engine::CompareReport& r, const QString& error) {
            end();
            emit compareFinished(ok, cancelled, r, error);
          });
  connect(worker_, &EngineWorker::exportFinished, this,
          [this](bool ok, bool cancelled, const io::ExportResult& r, const QString& error) {
            end();
            emit exportFinished(ok, cancelled, r, error);
          });
}

engine::Metrics EngineController::metrics() const { return engine_->metrics(); }

std::optional<engine::ModelInfo> EngineController::modelInfo() const { return engine_->info(); }

QString EngineController::currentJob() const { return QString::fromLatin1(job_.load()); }

bool EngineController::begin(const char* job) {
  if (busy_.load()) {
    emit jobRefused(tr("The engine is busy (%1); stop it or wait until it ends.").arg(currentJob()));
    return false;
  }
  stop_->clear();
  job_.store(job);
  busy_.store(true);
  emit busyChanged(true);
  return true;
}

void EngineController::end() {
  stop_repeat_->stop();
  job_.store("");
  busy_.store(false);
  emit busyChanged(false);
}

bool EngineController::loadModel(const LoadSettings& settings) {
  if (!begin("load")) return false;
  QMetaObject::invokeMethod(worker_, [w = worker_, settings] { w->load(settings); }, Qt::QueuedConnection);
  return true;
}

bool EngineController::generate(quint64 request_id, const engine::GenerationRequest& request) {
  if (!begin("generate")) return false;
  QMetaObject::invokeMethod(
      worker_, [w = worker_, request_id, request] { w->generate(request_id, request); }, Qt::QueuedConnection);
  return true;
}

bool EngineController::compare(const engine::CompareRequest& request) {
  if (!begin("compare")) return false;
  QMetaObject::invokeMethod(worker_, [w = worker_, request] { w->compare(request); }, Qt::QueuedConnection);
  return true;
}

bool EngineController::exportModel(const io::ExportRequest& request) {
  if (!begin("export")) return false;
  QMetaObject::invokeMethod(worker_, [w = worker_, request] { w->exportModel(request); }, Qt::QueuedConnection);
  return true;
}

bool EngineController::resetCache() {
  QMetaObject::invokeMethod(worker_, [w = worker_] { w->resetCache(); }, Qt::QueuedConnection);
  return true;
}

void EngineController::stop() {
  if (!busy_.load()) return;
  stop_->request();
  stop_repeat_->start();
}

}  // namespace ql::ui
