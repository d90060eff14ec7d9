#pragma once
// The UI thread's handle on the engine (docs/architecture.md §7). The Engine
// lives on a worker thread owned by this object; every call here returns at
// once: work is posted to the worker as a queued call, and results come back
// as signals, delivered on the UI thread (queued). Nothing here blocks on the
// engine, so the window never freezes. One job (load, generation, compare,
// export) runs at a time; starting another while busy() is refused with
// jobRefused().
//
// stop() ends the running job (generation stops between tokens, loading
// between tensors, compare and export between steps). Safe to call any time.
//
// compare() replaces the engine's model with each precision in turn (the
// precisions are loaded one after another, never beside the chat model, so
// that a comparison needs no more memory than one model); when it ends, the
// model loaded before is loaded again, reported through loadProgress and
// loadFinished, and then compareFinished arrives.
#include <QObject>
#include <QString>
#include <QThread>
#include <QTimer>
#include <atomic>
#include <memory>
#include <optional>

#include "core/engine/compare.h"
#include "core/engine/compare_report.h"
#include "core/engine/compare_request.h"
#include "core/engine/engine.h"
#include "core/engine/generation_result.h"
#include "core/engine/request.h"
#include "core/io/export.h"
#include "ui/engine/load_settings.h"

namespace ql::ui {

class EngineWorker;
class StopSignal;

class EngineController : public QObject {
  Q_OBJECT
 public:
  explicit EngineController(QObject* parent = nullptr);
  ~EngineController() override;  // stops the running job and joins the worker

  // Thread-safe snapshots, cheap enough for a 10 Hz timer.
  engine::Metrics metrics() const;
  std::optional<engine::ModelInfo> modelInfo() const;
  bool busy() const { return busy_.load(); }
  QString currentJob() const;  // "load", "generate", "compare", "export" or ""

  // Each returns false (and emits jobRefused) when a job is running.
  bool loadModel(const LoadSettings& settings);
  // `request_id` is echoed in tokenArrived / generationFinished.
  bool generate(quint64 request_id, const engine::GenerationRequest& request);
  bool compare(const engine::CompareRequest& request);
  bool exportModel(const io::ExportRequest& request);
  // Drops the KV cache so the next request runs its whole prompt (new chat).
  // Never refused: it is queued behind the running job (stop() it first to
  // start a new chat at once) and does not count as a job.
  bool resetCache();

  // Ends the running job; no effect when idle.
  void stop();

  // The engine itself, for the local server (ui/server/server_panel.h): its
  // threads call the engine's own thread-safe entry points (run_sequences,
  // prepare, info, metrics), which take turns with this controller's jobs on
  // the engine's run lock.
  engine::Engine& sharedEngine() { return *engine_; }

 signals:
  void busyChanged(bool busy);
  void jobRefused(const QString& why);

  void loadProgress(double fraction, const QString& stage);
  // ok: the new model is loaded. Otherwise `error` says why and the model
  // loaded before (if any) is still loaded; cancelled: the user stopped it.
  void loadFinished(bool ok, bool cancelled, const QString& error);

  void tokenArrived(quint64 request_id, int token_id, const QString& text);
  // ok with the result (stop_reason kStopped when stop() ended it), or an error.
  void generationFinished(quint64 request_id, bool ok, const ql::engine::GenerationResult& result,
                          const QString& error);

  void compareProgress(const ql::engine::CompareStep& step);
  // A token of precision row `row`'s answer to prompt `prompt` (run order).
  void compareToken(int row, int prompt, const QString& text);
  void compareFinished(bool ok, bool cancelled, const ql::engine::CompareReport& report, const QString& error);

  void exportProgress(const ql::io::ExportProgress& progress);
  void exportFinished(bool ok, bool cancelled, const ql::io::ExportResult& result, const QString& error);

 private:
  bool begin(const char* job);
  void end();
  void connectWorker();

  std::unique_ptr<engine::Engine> engine_;  // used on thread_; metrics()/info()/stop() from anywhere
  std::unique_ptr<StopSignal> stop_;
  QThread thread_;
  EngineWorker* worker_ = nullptr;  // lives on thread_
  QTimer* stop_repeat_ = nullptr;   // re-asserts a stop while the job runs (stop_signal.h)
  std::atomic<bool> busy_{false};
  std::atomic<const char*> job_{""};
};

}  // namespace ql::ui

Q_DECLARE_METATYPE(ql::ui::LoadSettings)
Q_DECLARE_METATYPE(ql::engine::GenerationRequest)
Q_DECLARE_METATYPE(ql::engine::SamplingOptions)
Q_DECLARE_METATYPE(ql::engine::GenerationResult)
Q_DECLARE_METATYPE(ql::engine::CompareStep)
Q_DECLARE_METATYPE(ql::engine::CompareReport)
Q_DECLARE_METATYPE(ql::io::ExportProgress)
Q_DECLARE_METATYPE(ql::io::ExportResult)
