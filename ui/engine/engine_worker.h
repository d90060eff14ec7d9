#pragma once
// The engine's side of EngineController (docs/architecture.md §7): a QObject
// living on the engine thread. The controller posts each job as a queued call
// to one of the methods below; they run the Engine (blocking, on this thread)
// and report through signals, which the controller relays to the UI thread.
// Nothing here throws; every error becomes a message in a finished signal.
#include <QObject>
#include <QString>
#include <optional>
#include <string>

#include "core/engine/compare.h"
#include "core/engine/engine.h"
#include "core/io/export.h"
#include "ui/engine/load_settings.h"

namespace ql::ui {

class StopSignal;

class EngineWorker : public QObject {
  Q_OBJECT
 public:
  EngineWorker(engine::Engine& engine, StopSignal& stop);

  // Each runs on the engine thread and ends with its finished signal.
  void load(const LoadSettings& settings);
  void generate(quint64 request_id, const engine::GenerationRequest& request);
  void compare(const engine::CompareRequest& request);
  void exportModel(const io::ExportRequest& request);
  void resetCache();

 signals:
  void loadProgress(double fraction, const QString& stage);
  void loadFinished(bool ok, bool cancelled, const QString& error);
  void tokenArrived(quint64 request_id, int token_id, const QString& text);
  void generationFinished(quint64 request_id, bool ok, const ql::engine::GenerationResult& result,
                          const QString& error);
  void compareProgress(const ql::engine::CompareStep& step);
  void compareToken(int row, int prompt, const QString& text);
  void compareFinished(bool ok, bool cancelled, const ql::engine::CompareReport& report, const QString& error);
  void exportProgress(const ql::io::ExportProgress& progress);
  void exportFinished(bool ok, bool cancelled, const ql::io::ExportResult& result, const QString& error);

 private:
  // Loads with progress relayed (throttled) and the stop flag honoured;
  // `stage_prefix` is put before each stage name ("" or "reloading: ").
  Status loadReporting(const std::string& dir, const engine::LoadOptions& options, const QString& stage_prefix);
  // After a comparison: the model loaded before it, loaded again.
  void reloadPrevious();

  engine::Engine& engine_;
  StopSignal& stop_;
  // The folder and options of the model that is loaded now (or was, before a
  // comparison replaced it).
  struct Loaded {
    std::string dir;
    engine::LoadOptions options;
  };
  std::optional<Loaded> loaded_;
};

}  // namespace ql::ui
