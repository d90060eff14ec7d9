#pragma once
// Options shared by the commands that run the model (generate, chat): the
// model folder, precision and memory budget, threads, context, sampling and
// stop settings, and loading the engine with them.
#include <cstdint>
#include <functional>
#include <string>

#include "core/common/result.h"
#include "core/backend/backend_registry.h"
#include "core/engine/engine.h"

namespace CLI {
class App;
class Option;
class Validator;
}  // namespace CLI

namespace ql::cli {

struct EngineCliOptions {
  std::string model_dir;
  std::string precision;  // empty: the checkpoint's dtype
  std::string backend = "auto";
  double vram_gib = 0;    // 0: no budget
  int threads = 0;
  int64_t context = 0;
  int parallel = 1;  // sequences decoded together (serve --parallel)
  int64_t max_new_tokens = 512;
  bool ignore_eos = false;
  bool verbose = false;
  // Sampling: a value counts only when its option was given (else the
  // model's generation_config.json decides).
  double temperature = 0, top_p = 1, min_p = 0, repetition_penalty = 1, presence_penalty = 0;
  int64_t top_k = 0;
  uint64_t seed = 0;
  CLI::Option *temperature_opt = nullptr, *top_p_opt = nullptr, *min_p_opt = nullptr, *repetition_opt = nullptr,
              *presence_opt = nullptr, *top_k_opt = nullptr, *seed_opt = nullptr;
};

// The model and how to load it: --model, --backend, --precision, --vram,
// --context, --threads, --verbose.
void add_model_options(CLI::App* cmd, EngineCliOptions& o);
// Those, and the generation's: --max-new-tokens, sampling, --ignore-eos.
void add_engine_options(CLI::App* cmd, EngineCliOptions& o);

// Validators for values a user may type that would otherwise silently mean
// the default (issue 12, point 8): an empty --precision, a --context of 0.
// A given option must say something.
CLI::Validator not_empty_text();
CLI::Validator positive_tokens();

engine::SamplingOptions sampling_options(const EngineCliOptions& o);

// --backend's value, or an error naming it.
Result<backend::BackendChoice> backend_choice(const std::string& text);

// The --backend option of every command that loads a model.
void add_backend_option(CLI::App* cmd, std::string& backend);

// Loads --model into `engine`; with --verbose, progress goes to stderr, and
// always to `also` when given. When auto falls back to the CPU, one line on
// stderr says why.
Status load_engine(engine::Engine& engine, const EngineCliOptions& o, const model::LoadProgress& also = {});

// Prints "reading the prompt: 42%" on stderr, rewritten in place, once a
// prompt has taken over a second (always with --verbose), and clears the line
// when the prompt is done: a big picture can take a minute on the CPU.
std::function<void(double)> prefill_printer(bool verbose);

}  // namespace ql::cli
