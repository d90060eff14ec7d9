#pragma once
// Which backend a model runs on. core knows only the CPU backend; the CUDA
// backend (gpu/) registers itself from the programs that link it (the CLI,
// the app), so core never depends on CUDA. "auto" takes CUDA when a usable
// GPU is there and otherwise the CPU, saying why in one line.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/backend/backend.h"
#include "core/common/result.h"

namespace ql::backend {

enum class BackendChoice { kAuto, kCuda, kCpu };

// "auto", "cuda" or "cpu"; errors name the value and list the valid ones.
Result<BackendChoice> parse_backend_choice(std::string_view text);
const char* backend_choice_name(BackendChoice c);

struct BackendOptions {
  int threads = 0;                      // CPU backend threads (0 = every core)
  float int8_outlier_threshold = 6.0f;  // LLM.int8's threshold, both backends
};

struct BackendProvider {
  std::string name;  // "cuda"
  // The device this backend would run on ("NVIDIA H100 80GB HBM3, 79.1 GiB
  // free"), or why it cannot run here (no GPU, no driver, a GPU older than
  // the build's architecture) as an error.
  std::function<Result<std::string>()> probe;
  std::function<Result<std::unique_ptr<Backend>>(const BackendOptions&)> make;
  // What its tensors are, for plans made before a backend exists.
  DType activation_dtype = DType::kF32;
  DType kv_cache_dtype = DType::kBF16;
  // Free device memory in bytes (0 = unknown), for the planner's default budget.
  std::function<size_t()> free_memory;
};

// Called once by a program before it loads a model (gpu::register_cuda_backend).
void register_backend_provider(BackendProvider provider);
const BackendProvider* find_backend_provider(std::string_view name);

// What `choice` resolves to here, before anything is made: the backend's name
// and, when auto fell back to the CPU, why (empty otherwise). An explicit
// "cuda" that cannot run is an error with the probe's reason.
struct ResolvedBackend {
  std::string name;  // "cuda" or "cpu"
  std::string note;  // e.g. "no CUDA GPU: cudaGetDeviceCount: no CUDA-capable device is detected; running on the CPU"
  DType activation_dtype = DType::kF32;
  DType kv_cache_dtype = DType::kF32;
};
Result<ResolvedBackend> resolve_backend(BackendChoice choice);

Result<std::unique_ptr<Backend>> make_backend(const ResolvedBackend& which, const BackendOptions& options);

}  // namespace ql::backend
