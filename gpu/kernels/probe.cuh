#pragma once
// Whether this build's kernels run on the current GPU: a GPU of another
// architecture than the one compiled for (sm_90a) loads no kernel image.
#include <cuda_runtime.h>

namespace ql::gpu {

// Launches a one-thread kernel and waits for it: cudaSuccess, or the error
// (cudaErrorNoKernelImageForDevice on an unsupported GPU).
cudaError_t probe_kernel_image();

}  // namespace ql::gpu
