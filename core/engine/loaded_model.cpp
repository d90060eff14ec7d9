#include "core/engine/loaded_model.h"

#include <algorithm>
#include <filesystem>

#include "core/backend/cpu_backend.h"
#include "core/engine/context_limit.h"
#include "core/engine/load_precision.h"
#include "core/engine/model_tokenizer.h"
#include "core/model/bnb_precision.h"
#include "core/text/tokenizer_location.h"

namespace ql::engine {
namespace {

bool cancelled(const std::atomic<bool>* c) { return c && c->load(std::memory_order_relaxed); }

Result<int64_t> context_size(const LoadOptions& o, const model::ModelConfig& c) {
  if (o.context_tokens < 0) return err("context size {} is invalid (expected a positive number of tokens)", o.context_tokens);
  if (o.context_tokens > 0) return o.context_tokens;
  const int64_t limit = c.text.max_position_embeddings;
  return limit > 0 ? std::min(kDefaultContextTokens, limit) : kDefaultContextTokens;
}

Result<std::unique_ptr<backend::Backend>> make_backend(const LoadOptions& o) {
  if (o.threads < 0) return err("thread count {} is invalid (expected >= 0; 0 = every core)", o.threads);
  if (o.make_backend) return o.make_backend(o.threads);
  return backend::make_cpu_backend(o.threads);
}

}  // namespace

Result<std::unique_ptr<LoadedModel>> load_model_folder(const std::string& dir, const LoadOptions& options,
                                                       const model::LoadProgress& progress,
                                                       const std::atomic<bool>* cancel) {
  auto report = [&](double f, const char* stage) {
    if (progress) progress(f, stage);
  };
  const Error cancelled_error{model::kCancelledMessage, ErrorKind::kInput};
  report(0.0, "reading the configuration");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return err("{}: model folder not found", dir);

  auto m = std::make_unique<LoadedModel>();
  ModelInfo& info = m->info;
  info.dir = dir;
  auto config = model::load_model_config(dir);
  if (!config) return config.error();
  info.config = std::move(config).value();
  auto generation = model::load_generation_config(dir);
  if (!generation) return generation.error();
  info.generation = std::move(generation).value();
  auto preprocess = vision::load_preprocess_config(dir);
  if (!preprocess) return preprocess.error();
  info.preprocess = *preprocess;
  auto context = context_size(options, info.config);
  if (!context) return context.error();
  info.context_tokens = *context;
  // Before any weight is read: a precision that cannot be parsed or does not
  // fit the budget is refused here.
  auto precision = resolve_precision(options.precision, options.memory_budget_gib, info.config, info.context_tokens,
                                     info.preprocess.max_pixels);
  if (!precision) return precision.error();
  info.precision = precision->name;
  // A bitsandbytes folder's quantized modules keep their stored format.
  if (info.config.quantization)
    info.precision = model::bnb_precision_text(precision->name, precision->policy, info.config);

  TokenizerChoice tok = choose_tokenizer(text::locate_tokenizer(dir), info.config);
  m->tokenizer = std::move(tok.tokenizer);
  info.has_tokenizer = m->tokenizer.has_value();
  info.tokenizer_note = std::move(tok.note);
  if (cancelled(cancel)) return cancelled_error;

  report(0.0, "opening the weights");
  auto checkpoint = model::Checkpoint::open(dir);
  if (!checkpoint) return checkpoint.error();
  m->checkpoint = std::make_unique<model::Checkpoint>(std::move(checkpoint).value());
  auto backend = make_backend(options);
  if (!backend) return backend.error();
  m->backend = std::move(backend).value();
  info.backend_name = m->backend->name();
  if (cancelled(cancel)) return cancelled_error;

  const model::WeightLoadOptions weight_options{precision->policy, options.threads};
  auto model = model::Qwen3VLModel::load(info.config, *m->checkpoint, *m->backend, progress, cancel, weight_options);
  if (!model) return cancelled(cancel) ? cancelled_error : model.error();
  m->model = std::move(model).value();
  info.weight_bytes = m->model->weight_bytes();
  info.fp16_losses = m->model->fp16_losses();
  m->cache = m->model->new_cache(info.context_tokens);
  report(1.0, "ready");
  return m;
}

}  // namespace ql::engine
