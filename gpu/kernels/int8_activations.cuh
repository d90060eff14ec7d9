#pragma once
// LLM.int8's activation side on the GPU (docs/gpu-backend.md, "INT8"): the
// rows of x are quantized to int8 with one absmax scale per row, except the
// outlier columns (|x| >= threshold), which stay fp32 and are multiplied with
// the dequantized weight. Same rounding as core/quant/int8_activations.cpp:
//   absmax[i] = max |x[i, c]| over the non-outlier columns (a NaN wins)
//   code      = round_half_even(x * fp32(127 / absmax)), 0 in outlier columns
// Outliers are found either over all rows together (kUnion: the set the CPU's
// int8 product uses for one call) or per row (kPerRow: each row its own set,
// for the MoE rows, where one call mixes tokens of different experts).
#include <cstdint>

#include <cuda_runtime.h>

namespace ql::gpu {

enum class OutlierMode : int32_t { kUnion = 0, kPerRow = 1 };

// Device buffers of quantized activations [rows, cols]. With kUnion,
// outlier_count has 1 entry and outlier_cols `cols` entries (ascending);
// with kPerRow, `rows` entries and [rows, cols] (each row's list ascending).
struct Int8Activations {
  int8_t* codes = nullptr;        // [rows, cols]
  float* absmax = nullptr;        // [rows]
  int32_t* outlier_count = nullptr;
  int32_t* outlier_cols = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  OutlierMode mode = OutlierMode::kUnion;
};

// Bytes of device memory Int8Activations needs for [rows, cols] (each of the
// four arrays 256-byte aligned, in the order above).
size_t int8_activations_bytes(int64_t rows, int64_t cols, OutlierMode mode);
// Points the four arrays into `storage` (int8_activations_bytes of it).
Int8Activations int8_activations_in(void* storage, int64_t rows, int64_t cols, OutlierMode mode);

// x fp32 [rows, cols] with row stride ldx. threshold <= 0: no outliers.
cudaError_t launch_quantize_int8_activations(const float* x, int64_t ldx, float threshold, Int8Activations out,
                                             cudaStream_t stream);

}  // namespace ql::gpu
