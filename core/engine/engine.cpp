#include "core/engine/engine.h"

#include <filesystem>
#include <exception>
#include <new>
#include <utility>

#include "core/common/no_exceptions.h"
#include "core/engine/batch_runner.h"
#include "core/engine/generation.h"

namespace ql::engine {

Engine::Engine(ImageDecoder decoder) : decoder_(std::move(decoder)) {}

Engine::~Engine() = default;

Status Engine::load(const std::string& model_dir, const LoadOptions& options, const model::LoadProgress& progress) {
  std::lock_guard run(run_mutex_);
  stop_.store(false);
  return no_exceptions("loading the model", [&]() -> Status {
    LoadOptions o = options;
    if (loaded_ && o.reclaimable_bytes == 0) {
      // The previous model's memory comes back when this load succeeds.
      const backend::MemoryInfo prev = loaded_->backend->memory_info();
      o.reclaimable_bytes = prev.weights + prev.kv_cache + prev.workspace;
    }
    auto loaded = load_model_folder(model_dir, o, progress, &stop_);
    if (!loaded) return loaded.error();
    std::unique_ptr<LoadedModel> previous;
    {
      std::lock_guard state(state_mutex_);
      previous = std::exchange(loaded_, std::move(loaded).value());
    }
    previous.reset();  // the old model's memory goes before the reading below
    metrics_.memory(loaded_->backend->memory_info(), loaded_->info.weight_bytes, loaded_->backend->bytes_in_use());
    return {};
  });
}

void Engine::unload() {
  std::lock_guard run(run_mutex_);
  std::unique_ptr<LoadedModel> previous;
  {
    std::lock_guard state(state_mutex_);
    previous = std::move(loaded_);
  }
  metrics_.clear_memory();
}

std::optional<ModelInfo> Engine::info() const {
  std::lock_guard state(state_mutex_);
  if (!loaded_) return std::nullopt;
  return loaded_->info;
}

PromptContext Engine::prompt_context() const {
  PromptContext ctx;
  ctx.config = &loaded_->info.config;
  ctx.preprocess = &loaded_->info.preprocess;
  ctx.tokenizer = loaded_->tokenizer ? &*loaded_->tokenizer : nullptr;
  ctx.no_tokenizer_reason = loaded_->info.tokenizer_note;
  ctx.decoder = &decoder_;
  ctx.context_tokens = loaded_->info.context_tokens;
  return ctx;
}

Result<PreparedPrompt> Engine::prepare(const Prompt& prompt) {
  std::lock_guard run(run_mutex_);
  if (!loaded_) return err("no model is loaded");
  return no_exceptions("preparing the prompt", [&] { return prepare_prompt(prompt, prompt_context()); });
}

Result<GenerationResult> Engine::generate(const GenerationRequest& request, const TokenCallback& on_token) {
  std::lock_guard run(run_mutex_);
  stop_.store(false);
  if (!loaded_) return err("no model is loaded");
  metrics_.begin();
  auto result = no_exceptions("generating", [&]() -> Result<GenerationResult> {
    auto prompt = prepare_prompt(request.prompt, prompt_context());
    if (!prompt) return prompt.error();
    return run_generation(*loaded_, std::move(prompt).value(), request, on_token, stop_, metrics_);
  });
  metrics_.memory(loaded_->backend->memory_info(), loaded_->info.weight_bytes, loaded_->backend->bytes_in_use());
  metrics_.end();
  if (result) result->metrics = metrics_.snapshot();
  return result;
}

Status Engine::run_sequences(SequenceFeed& feed) {
  std::lock_guard run(run_mutex_);
  stop_.store(false);
  if (!loaded_) return err("no model is loaded");
  Status st = no_exceptions("generating", [&]() -> Status {
    return run_batch(*loaded_, prompt_context(), feed, stop_, metrics_);
  });
  metrics_.memory(loaded_->backend->memory_info(), loaded_->info.weight_bytes, loaded_->backend->bytes_in_use());
  return st;
}

Result<io::ExportResult> Engine::export_model(const io::ExportRequest& request, const io::ExportProgressFn& progress) {
  std::lock_guard run(run_mutex_);
  stop_.store(false);
  // The loaded model's shards are mapped: one rewritten since the load would
  // end the process on the next read of a lost page (mapped_file.h). Say so
  // while it can still be said.
  if (loaded_ && loaded_->checkpoint) {
    std::error_code ec;
    const auto a = std::filesystem::weakly_canonical(request.model_dir, ec);
    const auto b = std::filesystem::weakly_canonical(loaded_->checkpoint->dir(), ec);
    if (!ec && a == b) {
      if (Status same = loaded_->checkpoint->unchanged(); !same.ok())
        return err("{} (the loaded model's folder changed since it was loaded: export refused)", same.message());
    }
  }
  return no_exceptions("exporting", [&] { return io::export_model(request, progress, &stop_); });
}

std::optional<backend::MemoryInfo> Engine::memory_info() {
  std::lock_guard run(run_mutex_);
  if (!loaded_) return std::nullopt;
  return loaded_->backend->memory_info();
}

double Engine::copy_bandwidth_gbps(size_t bytes) {
  std::lock_guard run(run_mutex_);
  if (!loaded_) return 0;
  return loaded_->backend->copy_bandwidth_gbps(bytes);
}

void Engine::reset_cache() {
  std::lock_guard run(run_mutex_);
  if (!loaded_) return;
  for (auto& slot : loaded_->sequences) {
    (void)slot.cache->truncate(0);
    slot.image_keys.clear();
  }
}

}  // namespace ql::engine
