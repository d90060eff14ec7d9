#pragma once
// What a model load asks for, as the model panel sets it (the CLI's --model,
// --precision, --context, --vram, --threads), and its translation to the
// engine's LoadOptions.
#include <QString>
#include <algorithm>
#include <cstdint>

#include "core/engine/loaded_model.h"

namespace ql::ui {

struct LoadSettings {
  QString model_dir;
  QString precision = "bf16";     // preset, policy list, or "auto"
  int64_t context_tokens = 0;     // 0 = engine default
  int batch = 1;                  // parallel requests: sequence slots (one KV cache each) the local server decodes together
  double memory_budget_gib = 0;   // 0 = no check
  int threads = 0;                // 0 = every core
};

inline engine::LoadOptions to_load_options(const LoadSettings& s) {
  engine::LoadOptions o;
  o.threads = s.threads;
  o.context_tokens = s.context_tokens;
  o.precision = s.precision.toStdString();
  o.memory_budget_gib = s.memory_budget_gib;
  o.parallel = std::clamp(s.batch, 1, engine::kMaxParallel);
  return o;
}

}  // namespace ql::ui
