#pragma once
// The CUDA backend (docs/gpu-backend.md): core's Backend on one NVIDIA GPU.
// core never sees CUDA: programs that link ql_cuda call
// register_cuda_backend() once, and "auto" / "cuda" then find it through
// core/backend/backend_registry.h.
#include <memory>

#include "core/backend/backend.h"
#include "core/backend/backend_registry.h"
#include "core/common/result.h"

namespace ql::gpu {

// The device this process would use, or why it cannot (no GPU, no driver, a
// GPU this build has no code for), in one line.
Result<std::string> probe_cuda_device();

Result<std::unique_ptr<backend::Backend>> make_cuda_backend(const backend::BackendOptions& options);

// Adds "cuda" to core's backend registry (safe to call more than once).
void register_cuda_backend();

}  // namespace ql::gpu
