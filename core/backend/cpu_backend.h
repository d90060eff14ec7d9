#pragma once
// The CPU reference backend: fp32 compute from F32/BF16/F16 weights on a small
// thread pool, with OpenBLAS for the matrix products. Every GPU kernel is
// checked against it, so it favours plain, exact math over cleverness.
#include <memory>

#include "core/backend/backend.h"

namespace ql::backend {

// threads: size of the backend's pool including the calling thread
// (0 = std::thread::hardware_concurrency()).
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace ql::backend
