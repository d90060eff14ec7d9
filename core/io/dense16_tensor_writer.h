#pragma once
// Writes one checkpoint tensor as BF16 or FP16 into an export file, streamed
// in pieces (host memory stays near one piece, not one tensor): a plain byte
// copy when the stored dtype already is the output dtype, else a
// round-to-nearest-even conversion (core/common/float16.h) with its error
// measured. Fused experts stored [E, out, in] are written transposed to the
// published [E, in, out] (docs/formats.md §8). Shared by the plain safetensors
// export and the bitsandbytes export (its 16-bit tensors).
#include <cstdint>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/io/atomic_file.h"
#include "core/io/export_context.h"
#include "core/model/safetensors.h"

namespace ql::io {

enum class Dense16Out { kBF16, kF16 };

const char* dense16_safetensors_dtype(Dense16Out type);  // "BF16" / "F16"
const char* dense16_torch_dtype(Dense16Out type);        // "bfloat16" / "float16"

// What a conversion did, over one tensor.
struct Dense16Stats {
  bool converted = false;        // false: the bytes were copied as stored
  double sum_sq_error = 0;       // sum (written - source)^2 over finite values
  double sum_sq_source = 0;      // sum source^2 over finite values
  int64_t flushed_to_zero = 0;   // non-zero source values written as +-0
  int64_t became_subnormal = 0;  // non-zero source values written as subnormals
  // sqrt(sum_sq_error / sum_sq_source); -1 for a copy; 0 for an all-zero tensor.
  double rel_rmse() const;
};

// The shape as written: fused experts stored [E, out, in] become [E, in, out].
std::vector<int64_t> dense16_output_shape(const model::TensorView& src, bool stored_out_in);

// Refuses a tensor with a finite value that fp16 cannot hold (rounds to
// infinity: |v| >= 65520), naming the tensor, how many values and the first.
Status check_fp16_range(const model::TensorView& src);

// Writes exactly numel * 2 bytes of `src` to `out`; polls context->cancelled()
// between pieces (returning the cancelled error) and adds each piece's bytes
// to the context's progress. `threads`: conversion threads, 0 = every core.
Status write_dense16_tensor(const model::TensorView& src, bool stored_out_in, Dense16Out type, AtomicFile& out,
                            ExportContext* context, int threads, Dense16Stats* stats);

}  // namespace ql::io
