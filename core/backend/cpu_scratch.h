#pragma once
// Per-thread working memory of the kernels (decoded weight blocks, attention
// scores, an expert's activations), kept between calls so that hot loops do
// not allocate. Each slot has one user at a time on a thread; a kernel that
// calls another kernel uses slots that one does not.
#include <cstddef>

namespace ql::backend::cpu {

enum class Scratch {
  kWeightBlock,  // multiply_weight_rows: decoded weight rows
  kRow,          // one decoded weight row (embed, add_weighted_rows)
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
