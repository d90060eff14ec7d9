#pragma once
// Per-thread working memory of the kernels (decoded weight blocks, attention
// scores, an expert's activations), kept between calls so that hot loops do
// not allocate. Each slot has one user at a time on a thread; a kernel that
// calls another kernel uses slots that one does not.
#include <cstddef>

namespace ql::backend::cpu {

enum class Scratch {
  kWeightBlock,  // multiply_weight_rows: decoded weight rows
  kOutlierWeights,  // multiply_int8_rows: one weight row's values in the outlier columns
  kRow,          // add_weighted_rows: one decoded table row
  kRowSum,       // add_weighted_rows: the weighted sum of a row's taps
  kScores,       // attention: one query's scores
  kExpertInput,  // moe: the gathered tokens of one expert
  kExpertGate,   // moe: gate, then silu(gate) * up
  kExpertUp,
  kExpertOutput,
  kCount
};

// At least `floats` floats of this thread's slot (contents unspecified).
float* thread_scratch(Scratch slot, size_t floats);

}  // namespace ql::backend::cpu
