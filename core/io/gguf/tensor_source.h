#pragma once
// Where the values of one GGUF tensor come from in the source checkpoint, and
// how to read them as fp32 rows in GGUF order (rows of ne[0] values, row r of
// the flattened [ne1*ne2*ne3, ne0] view), one slice at a time so host memory
// stays near one slice. Besides plain tensors (same bytes order, reversed
// shape), the converter rearranges three kinds (docs/formats.md §4.2, §5.2):
//   - fused experts gate_up [E, H, 2I] split into gate / up halves, each
//     permuted to [E, I, H]; down [E, I, H] permuted to [E, H, I]
//     (a checkpoint in the [E, out, in] orientation is already permuted);
//   - the Conv3d patch kernel [O, C, T=2, P, P] split into its two frames.
#include <cstdint>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/model/safetensors.h"
#include "core/model/tensor_validation.h"

namespace ql::io::gguf {

enum class SourceLayout { kPlain, kExpertGate, kExpertUp, kExpertDown, kPatchFrame };

struct TensorSourceRef {
  std::string hf_name;
  model::TensorView view;  // into the checkpoint's mapped shard (must outlive the export)
  SourceLayout layout = SourceLayout::kPlain;
  model::ExpertOrientation orientation = model::ExpertOrientation::kInOut;  // expert layouts only
  int frame = 0;  // kPatchFrame: the temporal index
};

// A GGUF tensor before its type is chosen: name, shape (ne order) and source.
struct MappedTensor {
  std::string name;
  std::vector<int64_t> ne;
  TensorSourceRef source;
  std::string source_label;  // for reports: "model...gate_up_proj (gate half)"
};

struct RowRange {
  int64_t begin = 0, end = 0;
  int64_t rows() const { return end - begin; }
};

int64_t tensor_rows(const std::vector<int64_t>& ne);  // ne1 * ne2 * ne3

// Slices of about `target_values` values: whole experts for expert tensors,
// otherwise a multiple of 64 rows where possible (so NF4's flat 64-blocks of
// the in-app comparison line up with the slice).
std::vector<RowRange> plan_row_slices(const MappedTensor& t, int64_t target_values = int64_t{1} << 22);

// Fills out[rows * ne0] with the rows of the slice. Errors: a non-finite
// source value (named by tensor and element), or a slice that cuts an expert.
Status read_rows(const MappedTensor& t, RowRange slice, float* out, int threads = 1);

}  // namespace ql::io::gguf
