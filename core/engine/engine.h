#pragma once
// The Engine: the one entry point for the CLI and the GUI
// (docs/architecture.md §7). It loads a model folder, turns requests (a
// conversation or token ids, images, sampling settings) into tokens streamed
// through a callback, and keeps the KV cache between requests so that a
// multi-turn chat only runs each new turn.
//
// Threading: load / unload / prepare / generate / reset_cache / export_model
// run on one engine thread (calls from several threads are serialised, never
// overlapped). stop(), metrics() and info() may be called from any thread;
// stop() is also safe in a signal handler. No exception leaves the engine.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/common/result.h"
#include "core/engine/generation_result.h"
#include "core/engine/loaded_model.h"
#include "core/engine/metrics.h"
#include "core/engine/prompt_builder.h"
#include "core/engine/request.h"
#include "core/engine/sequence_feed.h"
#include "core/io/export.h"
#include "core/model/qwen3vl_model.h"

namespace ql::engine {

class Engine {
 public:
  // `decoder` reads image files given by path (core cannot: no Qt); without
  // one, only already-decoded images work.
  explicit Engine(ImageDecoder decoder = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads a model folder. Progress is reported on the calling thread; stop()
  // cancels, and a cancelled or failed load keeps the model loaded before.
  Status load(const std::string& model_dir, const LoadOptions& options = {},
              const model::LoadProgress& progress = {});
  void unload();
  std::optional<ModelInfo> info() const;  // nullopt: nothing loaded

  // The decoder it was made with, so a comparison can make engines that read images alike.
  const ImageDecoder& image_decoder() const { return decoder_; }

  // The prompt a request would run (ids, preprocessed images), without running it.
  Result<PreparedPrompt> prepare(const Prompt& prompt);

  // Runs a request. Stopping (stop()) is not an error: the result says kStopped
  // and holds what was generated so far. Errors leave the engine usable.
  Result<GenerationResult> generate(const GenerationRequest& request, const TokenCallback& on_token = {});

  // Many requests decoded together in the model's LoadOptions::parallel
  // sequence slots (batch_runner.h): the feed hands over jobs between decode
  // steps; returns when it has nothing more and every job has ended. stop()
  // cancels every job. Each job's answer is the one generate() gives it alone.
  Status run_sequences(SequenceFeed& feed);

  // The next request runs its whole prompt (e.g. a new conversation).
  void reset_cache();

  // Exports a model folder (core/io/export.h): it reads the source checkpoint,
  // not the loaded model, so nothing needs to be loaded. Runs like the other
  // operations (one at a time); stop() cancels it, leaving no files. Progress
  // is reported on the calling thread.
  Result<io::ExportResult> export_model(const io::ExportRequest& request, const io::ExportProgressFn& progress = {});

  // Ends the running load, generation or export: generation stops between decode
  // steps (or between layers while prefilling). A stop() with nothing running
  // has no effect on later calls.
  void stop() noexcept { stop_.store(true, std::memory_order_relaxed); }

  Metrics metrics() const { return metrics_.snapshot(); }

  // The loaded model's backend memory (nullopt: nothing loaded), and its
  // device-to-device copy bandwidth measured now (for benchmarks; 0 when not
  // measurable). Engine-thread calls like load().
  std::optional<backend::MemoryInfo> memory_info();
  double copy_bandwidth_gbps(size_t bytes = size_t{1} << 30);

  // True for the error of a cancelled load or export.
  static bool is_cancelled(const Error& e) {
    return e.message == model::kCancelledMessage || e.message == io::kExportCancelledMessage;
  }

 private:
  PromptContext prompt_context() const;

  ImageDecoder decoder_;
  std::atomic<bool> stop_{false};
  static_assert(std::atomic<bool>::is_always_lock_free, "stop() must be async-signal-safe");
  std::mutex run_mutex_;            // one operation at a time
  mutable std::mutex state_mutex_;  // guards the loaded_ pointer for info()
  std::unique_ptr<LoadedModel> loaded_;
  MetricsRecorder metrics_;
};

}  // namespace ql::engine
