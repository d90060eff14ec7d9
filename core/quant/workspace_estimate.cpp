#include "core/quant/workspace_estimate.h"

#include <algorithm>

#include "core/model/tensor_schema.h"
#include "core/quant/weight_storage.h"

namespace ql::quant {
namespace {

using model::ModelConfig;

uint64_t u(int64_t v) { return static_cast<uint64_t>(v); }

// Loading quantizes one source matrix at a time from a staging copy on the
// GPU: the largest matrix the loader makes (the embedding table, or one
// expert), at the checkpoint's element size.
uint64_t loading_bytes(const ModelConfig& config) {
  const int64_t source_bytes = config.dtype ? static_cast<int64_t>(model::dtype_size(*config.dtype)) : 2;
  int64_t largest = 0;
  for (const auto& spec : model::build_tensor_schema(config)) {
    const StorageShape s = storage_shape(spec);
    largest = std::max(largest, s.rows * s.cols);
  }
  return u(largest * source_bytes);
}

// Elements per token row of one text layer's buffers, in the activation
// dtype: what the model and the backends allocate in the step arena
// (docs/backend-contract.md, "Memory"), each buffer counted once although a
// layer's are freed when it ends.
int64_t text_row_activations(const model::TextConfig& t) {
  const int64_t H = t.hidden_size, q = t.num_heads * t.head_dim, kv = t.num_kv_heads * t.head_dim;
  // residual, normed input, q, k, v, the normed k (CPU), attention output, rope cos + sin
  const int64_t attention = H + H + q + 2 * kv + kv + q + 2 * t.head_dim;
  // MoE (the CUDA backend's grouped path): router logits, top-k ids and
  // weights, pair indices, the top-k input rows as 16-bit copies (counted
  // whole), gate_up outputs, silu(gate)*up, down outputs. Dense: gate, up,
  // product.
  const int64_t k = t.num_experts_per_tok, I = t.moe_intermediate_size;
  const int64_t moe = t.num_moe_layers() > 0 ? t.num_experts + 4 * k + k * H + k * 2 * I + k * I + k * H : 0;
  const bool has_dense = t.num_moe_layers() < t.num_layers;
  const int64_t dense = has_dense ? 3 * t.intermediate_size + H : 0;
  return attention + std::max(moe, dense);
}

// One text forward over `rows` token rows attending to `keys` cached keys:
// per-row activations and inputs, the scores of one head for a tile of
// queries (the CPU's attention), `logit_rows` logits plus their gathered and
// normed hidden rows and the sampler's working copy, and `image_rows` vision
// outputs (merged embedding + DeepStack features) held through the prefill.
uint64_t text_step_bytes(const ModelConfig& c, const PlanRequest& r, int64_t rows, int64_t keys,
                         int64_t logit_rows, int64_t image_rows) {
  const auto& t = c.text;
  const int64_t act = r.activation_bytes;
  const int64_t inputs = 8 * kFp32Bytes;  // ids, KV write row, image row, logit pick (I32), with room
  const int64_t per_row = act * text_row_activations(t) + kFp32Bytes * (t.num_experts + 2 * t.num_experts_per_tok) +
                          inputs;
  const int64_t scores = std::min(rows, r.attention_query_tile) * keys * kFp32Bytes;
  const int64_t logits = logit_rows * (2 * t.vocab_size * kFp32Bytes + 2 * t.hidden_size * act);
  const int64_t deepstack = static_cast<int64_t>(c.vision.deepstack_visual_indexes.size());
  const int64_t vision_out = image_rows * (1 + deepstack) * t.hidden_size * act;
  return u(rows * per_row + scores + logits + vision_out);
}

// The vision tower on the largest image, N patches in one sequence: per patch
// the pixels, the hidden state, normed input, attention output, q, k, v, the
// MLP's two intermediates, rope cos/sin and the position-embedding taps; the
// scores of one head for a query tile against all N keys (the CPU); per merged
// token, for the merger running (one at a time), its normed input, fc1 and
// GELU outputs.
uint64_t vision_bytes(const ModelConfig& c, const PlanRequest& r) {
  const auto& v = c.vision;
  const int64_t act = r.activation_bytes;
  const int64_t N = max_image_patches(v, r.max_image_pixels);
  const int64_t merge = v.spatial_merge_size * v.spatial_merge_size, merged = N / merge;
  const int64_t D = v.hidden_size, M = v.merged_hidden_size();
  const int64_t pixels = v.in_channels * v.temporal_patch_size * v.patch_size * v.patch_size;
  const int64_t per_patch = act * (pixels + 6 * D + 2 * v.intermediate_size + 2 * v.head_dim() + 4) + kFp32Bytes * 4;
  const int64_t scores = std::min(N, r.attention_query_tile) * N * kFp32Bytes;
  const int64_t per_merged = act * 3 * M;
  return u(N * per_patch + scores + merged * per_merged);
}

}  // namespace

std::string_view workspace_step_name(WorkspaceStep step) {
  switch (step) {
    case WorkspaceStep::kLoading: return "loading";
    case WorkspaceStep::kVision: return "vision";
    case WorkspaceStep::kPrefill: return "prefill";
    case WorkspaceStep::kDecode: return "decode";
  }
  return "?";
}

WorkspaceStep WorkspaceEstimate::largest() const {
  const auto it = std::max_element(step_bytes.begin(), step_bytes.end());
  return static_cast<WorkspaceStep>(it - step_bytes.begin());
}

int64_t max_image_patches(const model::VisionConfig& v, int64_t max_pixels) {
  const int64_t factor = v.patch_size * v.spatial_merge_size;
  // smart_resize never goes below one factor x factor tile.
  const int64_t merged = std::max<int64_t>(1, max_pixels / (factor * factor));
  return merged * v.spatial_merge_size * v.spatial_merge_size;
}

WorkspaceEstimate estimate_workspace(const ModelConfig& c, const PlanRequest& r) {
  WorkspaceEstimate w;
  const int64_t chunk = std::min(r.prefill_chunk_tokens, r.context_tokens);
  const int64_t image_tokens = max_image_patches(c.vision, r.max_image_pixels) /
                               (c.vision.spatial_merge_size * c.vision.spatial_merge_size);
  w.step_bytes[static_cast<size_t>(WorkspaceStep::kLoading)] = loading_bytes(c);
  w.step_bytes[static_cast<size_t>(WorkspaceStep::kVision)] = vision_bytes(c, r);
  // Prefill: one chunk of one sequence against the full context; only the
  // last row's logits are needed to start decoding.
  w.step_bytes[static_cast<size_t>(WorkspaceStep::kPrefill)] =
      text_step_bytes(c, r, chunk, r.context_tokens, 1, std::min(image_tokens, r.context_tokens));
  // Decode: one row per sequence, each against its full context, logits for each.
  w.step_bytes[static_cast<size_t>(WorkspaceStep::kDecode)] =
      text_step_bytes(c, r, r.batch, r.context_tokens, r.batch, 0);
  return w;
}

}  // namespace ql::quant
