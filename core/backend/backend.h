#pragma once
// The Backend contract (DESIGN.md, "Backend contract"). The model is written
// once against this interface; the CPU backend is the reference and the CUDA
// backend implements the same ops on the GPU.
//
// Rules that keep a whole decode step capturable as one CUDA graph:
// - Tensors and weights are handles owned by the backend (device memory on a
//   GPU). The model never reads a tensor on the host inside a forward: only
//   inputs are written (ids, positions, rotary tables, pixels) before it, and
//   only logits or the sampled token are read after it.
// - Every op writes into an output the caller allocated; activation buffers
//   are planned per (tokens, context) shape, not per op.
// - Ops are as coarse as the GPU wants to fuse them: the whole MoE block
//   (route, top-k, grouped experts, weighted sum) is one op, attention is one
//   op over the KV cache, and a weight is a weight whatever its format.
// Activations are 2-D row-major matrices [rows, cols] of fp32 (or int32 for
// ids); heads are column ranges of a row.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/common/result.h"

namespace ql::quant {
class QuantizedWeight;  // core/quant/quantized_weight.h
}  // namespace ql::quant

namespace ql::backend {

enum class DType { kF32, kI32 };

// How a weight's elements are stored; every op that takes a Weight accepts
// every format. kInt8Rowwise is LLM.int8 (one int8 per element, an fp32 scale
// per row); kNF4 is 4-bit NormalFloat in blocks of 64 with double-quantized
// scales (core/quant/int8_rowwise.h, nf4.h).
enum class WeightFormat { kF32, kBF16, kF16, kInt8Rowwise, kNF4 };

const char* weight_format_name(WeightFormat f);

// A backend-owned activation matrix (or a view into one).
class Tensor {
 public:
  virtual ~Tensor() = default;
  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t numel() const { return rows_ * cols_; }

 protected:
  Tensor(DType dtype, int64_t rows, int64_t cols) : dtype_(dtype), rows_(rows), cols_(cols) {}

 private:
  DType dtype_;
  int64_t rows_;
  int64_t cols_;
};
using TensorPtr = std::shared_ptr<Tensor>;

// A backend-owned weight matrix [rows = out features, cols = in features]
// (nn.Linear orientation). Vectors (norm weights, biases) have rows == 1.
class Weight {
 public:
  virtual ~Weight() = default;
  WeightFormat format() const { return format_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Bytes this weight occupies in the backend's memory (0 when it is a view of
  // memory the backend does not own, e.g. an mmapped checkpoint on the CPU).
  // A quantized weight reports its quantized storage.
  virtual size_t owned_bytes() const = 0;
  // Bytes of this weight's data in its format, owned or borrowed: what the
  // model's weights cost (0 for a weight_rows view: its parent counts them).
  virtual size_t stored_bytes() const = 0;

 protected:
  Weight(WeightFormat format, int64_t rows, int64_t cols) : format_(format), rows_(rows), cols_(cols) {}

 private:
  WeightFormat format_;
  int64_t rows_;
  int64_t cols_;
};
using WeightPtr = std::shared_ptr<Weight>;

// Host-side description of a weight to hand to a backend, in one of two forms:
// - `data`: F32, BF16 or F16 elements, typically a tensor in an mmapped
//   checkpoint (which outlives the model). `transposed` means the bytes are
//   stored [cols, rows] row-major (the published fused expert layout) and the
//   backend must present them as [rows, cols].
// - `quantized`: a weight already converted on the host (core/quant: int8,
//   nf4, or a 16-bit conversion such as bf16 -> fp16) in [rows, cols]; the
//   backend shares it instead of copying (the CPU path). `format` must be its
//   format and `data` null. A GPU backend may instead take 16-bit `data` and
//   quantize on the device; the loader's host quantization is the CPU's way.
struct HostWeight {
  WeightFormat format = WeightFormat::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;  // may be unaligned
  bool transposed = false;
  std::shared_ptr<const quant::QuantizedWeight> quantized;
  std::string name;  // for messages
};

// The MoE block of one layer (MODEL.md §9.5). Experts in nn.Linear
// orientation: gate_up[e] is [2I, H] (rows [0, I) gate, [I, 2I) up),
// down[e] is [H, I].
struct MoeWeights {
  WeightPtr router;  // [E, H]
  std::vector<WeightPtr> gate_up;
  std::vector<WeightPtr> down;
  int top_k = 0;
};

// Which keys a query row may see.
struct AttentionSpec {
  int num_heads = 0;
  int num_kv_heads = 0;  // GQA: query head h uses kv head h / (num_heads / num_kv_heads)
  int head_dim = 0;
  float scale = 1.0f;
  // Causal: query row i sits at key index q_offset + i and sees keys [0, that].
  bool causal = true;
  int64_t q_offset = 0;
  // Block mask (non-causal only): cumulative segment starts, e.g. {0, 256, 320}
  // for two images of 256 and 64 patches; a row sees only its own segment.
  // Empty = one segment over all keys.
  std::vector<int64_t> segments;
};

enum class GeluKind { kTanh, kErf };

// Sampling settings (MODEL.md §10; applied in Hugging Face's order:
// repetition penalty, presence penalty, temperature, top-k, top-p, min-p).
struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  float min_p = 0.0f;        // 0 = off
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // ---- memory -------------------------------------------------------------
  virtual TensorPtr new_tensor(DType dtype, int64_t rows, int64_t cols) = 0;
  // A view of `rows` x `cols` elements starting at element `first_row * t.cols()`
  // of t's storage (reshape and row ranges; no copy).
  virtual TensorPtr view(const TensorPtr& t, int64_t first_row, int64_t rows, int64_t cols) = 0;
  // Host -> backend, before a forward (inputs).
  virtual void write(Tensor& dst, const void* src, size_t bytes) = 0;
  // Backend -> host, after a forward (logits).
  virtual void read(const Tensor& src, void* dst, size_t bytes) = 0;
  virtual Result<WeightPtr> upload_weight(const HostWeight& w) = 0;
  // Row range [first, first + rows) of a weight (e.g. q/k/v of a fused qkv).
  virtual WeightPtr weight_rows(const WeightPtr& w, int64_t first, int64_t rows) = 0;

  // ---- ops (outputs are allocated by the caller) ----------------------------
  // out[i] = table[ids[i]]; ids is I32 [n, 1].
  virtual void embed(const Tensor& ids, const Weight& table, Tensor& out) = 0;
  // out = x . w^T (+ bias); x [n, K], w [N, K], out [n, N].
  virtual void linear(const Tensor& x, const Weight& w, const Weight* bias, Tensor& out) = 0;
  // RMSNorm over each group of `group` columns (group == cols: whole row;
  // group == head_dim: per-head q/k norm), weight of length `group`.
  virtual void rms_norm(const Tensor& x, const Weight& w, float eps, int64_t group, Tensor& out) = 0;
  virtual void layer_norm(const Tensor& x, const Weight& w, const Weight& b, float eps, Tensor& out) = 0;
  // In place, per head of width head_dim: x = x*cos + rotate_half(x)*sin with
  // rotate_half(v) = [-v[d/2:], v[:d/2]]; cos, sin are [n, head_dim].
  virtual void rope(Tensor& x, const Tensor& cos, const Tensor& sin, int head_dim) = 0;
  // q [n, heads*hd]; k, v [keys, kv_heads*hd]; out [n, heads*hd].
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionSpec& spec,
                         Tensor& out) = 0;
  virtual void moe(const Tensor& x, const MoeWeights& w, Tensor& out) = 0;
  // out = silu(gate) * up, element-wise.
  virtual void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) = 0;
  virtual void gelu(const Tensor& x, GeluKind kind, Tensor& out) = 0;
  virtual void add(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // out[i] += sum_j weights[i, j] * table[indices[i, j]]; indices I32 [n, k], weights F32 [n, k].
  virtual void add_weighted_rows(const Weight& table, const Tensor& indices, const Tensor& weights, Tensor& out) = 0;
  // dst[rows[i]] = src[i]  /  dst[rows[i]] += src[i]; rows is I32 [n, 1].
  virtual void scatter_rows(const Tensor& src, const Tensor& rows, Tensor& dst) = 0;
  virtual void scatter_add_rows(const Tensor& src, const Tensor& rows, Tensor& dst) = 0;
  // dst rows [dst_first, dst_first + src.rows()) = src (KV cache append).
  virtual void copy_rows(const Tensor& src, Tensor& dst, int64_t dst_first) = 0;
  // out[i] = src[rows[i]].
  virtual void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) = 0;

  // ---- sampling -------------------------------------------------------------
  // Picks the next token from one row of logits [1, V]. `history` is every
  // token of the sequence so far (for the penalties); `uniform` is the random
  // draw in [0, 1) the caller's seeded generator made for this step.
  virtual int32_t sample(const Tensor& logits, const SamplingParams& p, std::span<const int32_t> history,
                         double uniform) = 0;

  // ---- bookkeeping --------------------------------------------------------------
  // Bytes of backend memory in use by tensors and owned weights.
  virtual size_t bytes_in_use() const = 0;
};

}  // namespace ql::backend
