#include "core/engine/engine.h"

#include <exception>
#include <new>
#include <utility>

#include "core/common/no_exceptions.h"
#include "core/engine/generation.h"

namespace ql::engine {

Engine::Engine(ImageDecoder decoder) : decoder_(std::move(decoder)) {}

Engine::~Engine() = default;

Status Engine::load(const std::string& model_dir, const LoadOptions& options, const model::LoadProgress& progress) {
  std::lock_guard run(run_mutex_);
  stop_.store(false);
  return no_exceptions("loading the model", [&]() -> Status {
    auto loaded = load_model_folder(model_dir, options, progress, &stop_);
    if (!loaded) return loaded.error();
    std::unique_ptr<LoadedModel> previous;
    {
      std::lock_guard state(state_mutex_);
      previous = std::exchange(loaded_, std::move(loaded).value());
    }
    previous.reset();  // the old model's memory goes before the reading below
    metrics_.memory(loaded_->backend->bytes_in_use(), loaded_->info.weight_bytes);
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
  metrics_.memory(0, 0);
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
  metrics_.memory(loaded_->backend->bytes_in_use(), loaded_->info.weight_bytes);
  metrics_.end();
  if (result) result->metrics = metrics_.snapshot();
  return result;
}

Result<io::ExportResult> Engine::export_model(const io::ExportRequest& request, const io::ExportProgressFn& progress) {
  std::lock_guard run(run_mutex_);
  stop_.store(false);
  return no_exceptions("exporting", [&] { return io::export_model(request, progress, &stop_); });
}

void Engine::reset_cache() {
  std::lock_guard run(run_mutex_);
  if (!loaded_) return;
  (void)loaded_->cache->truncate(0);
  loaded_->cached_image_keys.clear();
}

}  // namespace ql::engine
