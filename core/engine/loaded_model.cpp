#include "core/engine/loaded_model.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "core/backend/cpu_backend.h"
#include "core/engine/context_limit.h"
#include "core/engine/load_precision.h"
#include "core/engine/model_tokenizer.h"
#include "core/model/bnb_precision.h"
#include "core/model/synthetic_models.h"
#include "core/text/tokenizer_location.h"

namespace ql::engine {
namespace {

bool cancelled(const std::atomic<bool>* c) { return c && c->load(std::memory_order_relaxed); }

// More threads than this cannot help any machine the engine runs on, and a
// typo must not exhaust the process's thread limit.
constexpr int kMaxThreads = 1024;

// The KV cache size: the one asked for, which must be within the model's
// position limit (max_position_embeddings), or the default capped by it.
Result<int64_t> context_size(const LoadOptions& o, const model::ModelConfig& c) {
  if (o.context_tokens < 0) return err("context size {} is invalid (expected a positive number of tokens)", o.context_tokens);
  const int64_t limit = c.text.max_position_embeddings;
  if (o.context_tokens > 0) {
    if (limit > 0 && o.context_tokens > limit)
      return err("context size {} is more than the model's {} positions (max_position_embeddings in {})",
                 o.context_tokens, limit, c.source);
    return o.context_tokens;
  }
  return limit > 0 ? std::min(kDefaultContextTokens, limit) : kDefaultContextTokens;
}

// Which backend the options ask for, before one is made: a precision that
// does not fit is refused before any GPU memory is touched.
struct BackendPlan {
  backend::ResolvedBackend which;  // name "custom" for LoadOptions::make_backend
  double budget_gib = 0;           // 0 = no check
};

Result<BackendPlan> plan_backend(const LoadOptions& o) {
  if (o.threads < 0) return err("thread count {} is invalid (expected >= 0; 0 = every core)", o.threads);
  if (o.threads > kMaxThreads)
    return err("thread count {} is more than {} (this machine has {} hardware threads)", o.threads, kMaxThreads,
               std::thread::hardware_concurrency());
  BackendPlan p;
  if (o.make_backend) {
    // A caller's own backend (tests) is planned as the CPU backend is.
    p.which = backend::ResolvedBackend{"custom", "", backend::DType::kF32, backend::DType::kF32};
  } else {
    QL_ASSIGN_OR_RETURN(p.which, backend::resolve_backend(o.backend));
  }
  p.budget_gib = o.memory_budget_gib;
  if (p.budget_gib == 0 && p.which.name == "cuda") {
    // The GPU's free memory (plus what the previous model gives back) is the default budget.
    const backend::BackendProvider* cuda = backend::find_backend_provider("cuda");
    const size_t free_bytes = cuda && cuda->free_memory ? cuda->free_memory() : 0;
    if (free_bytes > 0)
      p.budget_gib = static_cast<double>(free_bytes + o.reclaimable_bytes) / static_cast<double>(quant::kGiB);
  }
  return p;
}

Result<std::unique_ptr<backend::Backend>> make_planned_backend(const LoadOptions& o, const BackendPlan& p) {
  if (o.make_backend) return o.make_backend(o.threads);
  backend::BackendOptions bo;
  bo.threads = o.threads;
  return backend::make_backend(p.which, bo);
}

std::string human_gib(uint64_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / quant::kGiB); }

// A load that ran out of memory says what the planner expected, and what
// the device has.
Error with_plan(Error e, const std::optional<quant::MemoryPlan>& plan, const backend::Backend& be) {
  if (!plan) return e;
  const backend::MemoryInfo m = be.memory_info();
  e.message += fmt::format(" (memory plan: weights {} + KV cache {} + workspace {} + runtime {} = {}; {} has {} free "
                           "of {})",
                           human_gib(plan->weights_bytes), human_gib(plan->kv_cache_bytes),
                           human_gib(plan->workspace_bytes()), human_gib(plan->runtime_overhead_bytes),
                           human_gib(plan->total_bytes()), m.device, human_gib(m.device_free),
                           human_gib(m.device_total));
  return e;
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
  const bool synthetic = model::is_synthetic_model(dir);
  std::error_code ec;
  if (!synthetic && !std::filesystem::is_directory(dir, ec)) return err("{}: model folder not found", dir);

  auto m = std::make_unique<LoadedModel>();
  ModelInfo& info = m->info;
  info.dir = dir;
  if (synthetic) {
    QL_ASSIGN_OR_RETURN(info.config, model::synthetic_model_config(dir));
    info.generation = model::published_generation_defaults();
    info.preprocess = vision::PreprocessConfig{};
  } else {
    QL_ASSIGN_OR_RETURN(info.config, model::load_model_config(dir));
    QL_ASSIGN_OR_RETURN(info.generation, model::load_generation_config(dir));
    QL_ASSIGN_OR_RETURN(info.preprocess, vision::load_preprocess_config(dir));
  }
  auto context = context_size(options, info.config);
  if (!context) return context.error();
  info.context_tokens = *context;
  if (options.parallel < 1 || options.parallel > kMaxParallel)
    return err("parallel sequences {} is invalid (expected 1 to {})", options.parallel, kMaxParallel);
  info.parallel = options.parallel;

  // Before any weight is read or the backend is made: a precision that cannot
  // be parsed or does not fit the budget is refused here, with the element
  // sizes of the backend that will run it.
  QL_ASSIGN_OR_RETURN(const BackendPlan which, plan_backend(options));
  quant::PlanRequest request;
  request.context_tokens = info.context_tokens;
  request.batch = info.parallel;
  request.max_image_pixels = info.preprocess.max_pixels;
  request.activation_bytes = static_cast<int64_t>(backend::dtype_bytes(which.which.activation_dtype));
  request.kv_element_bytes = static_cast<int64_t>(backend::dtype_bytes(which.which.kv_cache_dtype));
  auto precision = resolve_precision(options.precision, which.budget_gib, info.config, request);
  if (!precision) return precision.error();
  info.precision = precision->name;
  // A bitsandbytes folder's quantized modules keep their stored format.
  if (info.config.quantization)
    info.precision = model::bnb_precision_text(precision->name, precision->policy, info.config);
  if (cancelled(cancel)) return cancelled_error;

  {
    auto made = make_planned_backend(options, which);
    if (!made) {
      // A device too full to even start the backend (its libraries' handles)
      // still says what the load would have needed.
      Error e = made.error();
      if (precision->plan)
        e.message += fmt::format(" (memory plan: {} in all)", human_gib(precision->plan->total_bytes()));
      return e;
    }
    m->backend = std::move(made).value();
  }
  info.backend_name = m->backend->name();
  info.backend_note = which.which.note;
  info.device = m->backend->memory_info().device;
  // The text steps' planned workspace, reserved once, so a long prompt's first
  // chunk allocates nothing more. (The vision step of the largest image the
  // preprocessor allows is the plan's peak; the arena grows to it only when
  // such an image comes.)
  std::optional<quant::MemoryPlan> plan = precision->plan;
  if (!plan && precision->policy) {
    auto p = quant::plan_memory(info.config, *precision->policy, request);
    if (p) plan = *p;
  }
  if (plan)
    m->backend->reserve_workspace(std::max(plan->workspace[quant::WorkspaceStep::kPrefill],
                                           plan->workspace[quant::WorkspaceStep::kDecode]));
  if (cancelled(cancel)) return cancelled_error;

  TokenizerChoice tok =
      choose_tokenizer(text::locate_tokenizer(synthetic ? std::optional<std::string>() : std::optional(dir)),
                       info.config);
  m->tokenizer = std::move(tok.tokenizer);
  info.has_tokenizer = m->tokenizer.has_value();
  info.tokenizer_note = std::move(tok.note);
  const model::WeightLoadOptions weight_options{precision->policy};
  Result<std::unique_ptr<model::Qwen3VLModel>> model = err("not loaded");
  if (synthetic) {
    report(0.0, "generating synthetic weights");
    model = model::Qwen3VLModel::load_synthetic(info.config, model::kSyntheticSeed, *m->backend, progress, cancel,
                                                weight_options);
  } else {
    report(0.0, "opening the weights");
    auto checkpoint = model::Checkpoint::open(dir);
    if (!checkpoint) return checkpoint.error();
    m->checkpoint = std::make_unique<model::Checkpoint>(std::move(checkpoint).value());
    if (cancelled(cancel)) return cancelled_error;
    model = model::Qwen3VLModel::load(info.config, *m->checkpoint, *m->backend, progress, cancel, weight_options);
  }
  if (!model) return cancelled(cancel) ? cancelled_error : with_plan(model.error(), plan, *m->backend);
  m->model = std::move(model).value();
  info.weight_bytes = m->model->weight_bytes();
  info.fp16_losses = m->model->fp16_losses();
  auto caches = m->model->new_caches(info.parallel, info.context_tokens);
  if (!caches) return with_plan(caches.error(), plan, *m->backend);
  for (auto& c : *caches) m->sequences.push_back(SequenceSlot{std::move(c), {}});
  report(1.0, "ready");
  return m;
}

}  // namespace ql::engine
