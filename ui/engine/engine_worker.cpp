#include "ui/engine/engine_worker.h"

#include "ui/engine/progress_throttle.h"
#include "ui/engine/stop_signal.h"

namespace ql::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

EngineWorker::EngineWorker(engine::Engine& engine, StopSignal& stop) : engine_(engine), stop_(stop) {}

Status EngineWorker::loadReporting(const std::string& dir, const engine::LoadOptions& options,
                                   const QString& stage_prefix) {
  ProgressThrottle throttle;
  return engine_.load(dir, options, [&](double fraction, const std::string& stage) {
    // A stop that came before Engine::load cleared the engine's flag is
    // honoured here, at the first report.
    if (stop_.requested()) engine_.stop();
    // Stages shorter than the interval are not shown: no one could read them.
    if (throttle.due(fraction >= 1.0)) emit loadProgress(fraction, stage_prefix + qs(stage));
  });
}

void EngineWorker::load(const LoadSettings& settings) {
  const std::string dir = settings.model_dir.toStdString();
  const engine::LoadOptions options = to_load_options(settings);
  const Status s = loadReporting(dir, options, {});
  if (s) {
    loaded_ = Loaded{dir, options};
    emit loadFinished(true, false, {});
    return;
  }
  emit loadFinished(false, engine::Engine::is_cancelled(s.error()), qs(s.message()));
}

void EngineWorker::generate(quint64 request_id, const engine::GenerationRequest& request) {
  auto result = engine_.generate(request, [&](const engine::StreamedToken& t) {
    if (stop_.requested()) engine_.stop();
    emit tokenArrived(request_id, t.id, qs(t.text));
  });
  if (!result) {
    emit generationFinished(request_id, false, {}, qs(result.message()));
    return;
  }
  emit generationFinished(request_id, true, *result, {});
}

void EngineWorker::compare(const engine::CompareRequest& request) {
  ProgressThrottle throttle;
  auto report = engine::compare_precisions(
      engine_, request,
      [&](const engine::CompareStep& step) {
        if (stop_.requested()) engine_.stop();
        // Every new prompt or precision gets through; load steps are throttled.
        if (throttle.due(step.load_fraction >= 1.0)) emit compareProgress(step);
      },
      stop_.flag(),
      // Every token, unthrottled: the compare view streams the answers side by side.
      [&](size_t row, size_t prompt, const engine::StreamedToken& t) {
        if (stop_.requested()) engine_.stop();
        emit compareToken(static_cast<int>(row), static_cast<int>(prompt), qs(t.text));
      });
  // The comparison unloaded the engine: the chat's model comes back, even
  // after a stop (the stop was for the comparison, not for this).
  stop_.clear();
  reloadPrevious();
  if (!report) {
    emit compareFinished(false, engine::Engine::is_cancelled(report.error()), {}, qs(report.message()));
    return;
  }
  emit compareFinished(true, false, *report, {});
}

void EngineWorker::reloadPrevious() {
  if (!loaded_) return;
  const Status s = loadReporting(loaded_->dir, loaded_->options, tr("reloading after the comparison: "));
  if (s) {
    emit loadFinished(true, false, {});
    return;
  }
  const bool cancelled = engine::Engine::is_cancelled(s.error());
  loaded_.reset();
  emit loadFinished(false, cancelled,
                    tr("The model loaded before the comparison could not be loaded again: %1").arg(qs(s.message())));
}

void EngineWorker::exportModel(const io::ExportRequest& request) {
  ProgressThrottle throttle;
  // Through the engine: one operation at a time, exceptions turned into
  // errors, and stop() cancels it (leaving no files).
  auto result = engine_.export_model(request, [&](const io::ExportProgress& p) {
    if (stop_.requested()) engine_.stop();
    if (throttle.due(p.total_bytes > 0 && p.done_bytes >= p.total_bytes)) emit exportProgress(p);
  });
  if (!result) {
    emit exportFinished(false, engine::Engine::is_cancelled(result.error()), {}, qs(result.message()));
    return;
  }
  emit exportFinished(true, false, *result, {});
}

void EngineWorker::resetCache() { engine_.reset_cache(); }

}  // namespace ql::ui
