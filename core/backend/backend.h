#pragma once
// The Backend contract (docs/backend-contract.md). The model is written once
// against this interface; the CPU backend is the reference and the CUDA
// backend (gpu/) implements the same ops on the GPU.
//
// Rules that keep a whole decode step capturable as one CUDA graph:
// - Tensors and weights are handles owned by the backend (device memory on a
//   GPU). The model never reads a tensor on the host inside a forward: every
//   per-step value (ids, positions, rotary rows, KV write rows, the visible
//   key counts, the sampling settings and random draw) is written into small
//   input tensors in one input phase before the ops, and only the sampled
//   token (or the requested logit rows) is read after them.
// - Allocation lifetimes are explicit: persistent tensors (KV cache, seen-token
//   masks) live until released; step tensors come from an arena that
//   begin_step() rewinds, so a step that repeats allocates the same addresses
//   every time and costs no allocation on a GPU. mark/rewind free the
//   temporaries of one layer inside a long step (prefill).
// - Every op writes into an output the caller allocated.
// - Ops are as coarse as the GPU wants to fuse them: the whole MoE block
//   (route, top-k, grouped experts, weighted sum) is one op, attention is one
//   op over the KV cache, and a weight is a weight whatever its format.
// Activations are 2-D row-major matrices [rows, cols] of the backend's
// activation dtype (fp32 on both backends), ids and indices I32; heads are
// column ranges of a row.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/common/result.h"

namespace ql::quant {
class QuantizedWeight;  // core/quant/quantized_weight.h
struct Dense16Report;   // core/quant/dense16.h
}  // namespace ql::quant

namespace ql::backend {

enum class DType { kF32, kI32, kBF16, kF16 };
size_t dtype_bytes(DType d);
const char* dtype_name(DType d);

// How a weight's elements are stored; every op that takes a Weight accepts
// every format. kInt8Rowwise is LLM.int8 (one int8 per element, an fp32 scale
// per row); kNF4 is 4-bit NormalFloat in blocks of 64 with double-quantized
// scales (core/quant/int8_rowwise.h, nf4.h).
enum class WeightFormat { kF32, kBF16, kF16, kInt8Rowwise, kNF4 };

const char* weight_format_name(WeightFormat f);
bool is_dense_format(WeightFormat f);  // F32, BF16, F16

// A backend-owned activation matrix (or a view into one).
class Tensor {
 public:
  virtual ~Tensor() = default;
  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t numel() const { return rows_ * cols_; }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_bytes(dtype_); }

 protected:
  Tensor(DType dtype, int64_t rows, int64_t cols) : dtype_(dtype), rows_(rows), cols_(cols) {}

 private:
  DType dtype_;
  int64_t rows_;
  int64_t cols_;
};
using TensorPtr = std::shared_ptr<Tensor>;

// A backend-owned weight: `stack` matrices of [rows = out features, cols = in
// features] (nn.Linear orientation). stack > 1 is the experts of one MoE layer,
// matrix e being expert e. Vectors (norm weights, biases) have rows == 1.
class Weight {
 public:
  virtual ~Weight() = default;
  WeightFormat format() const { return format_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t stack() const { return stack_; }
  // Bytes this weight occupies in the backend's memory (0 when it is a view of
  // memory the backend does not own, e.g. an mmapped checkpoint on the CPU).
  // A quantized weight reports its quantized storage.
  virtual size_t owned_bytes() const = 0;
  // Bytes of this weight's data in its format, owned or borrowed: what the
  // model's weights cost (0 for a weight_rows view: its parent counts them).
  virtual size_t stored_bytes() const = 0;

 protected:
  Weight(WeightFormat format, int64_t rows, int64_t cols, int64_t stack = 1)
      : format_(format), rows_(rows), cols_(cols), stack_(stack) {}

 private:
  WeightFormat format_;
  int64_t rows_;
  int64_t cols_;
  int64_t stack_;
};
using WeightPtr = std::shared_ptr<Weight>;

// Values generated from a seed instead of read from a file (a synthetic
// checkpoint, core/model/synthetic_values.h): element i of the source (in
// stored order, over the whole stack) is synthetic_bf16(seed, first_index + i,
// offset, scale).
struct SyntheticSource {
  uint64_t seed = 0;
  uint64_t first_index = 0;
  float offset = 0.0f;
  float scale = 0.0f;
};

// What the loader hands a backend for one weight: the source elements as the
// checkpoint stores them and the format the precision policy wants. The
// backend converts (on the host for the CPU backend, on the device for the
// GPU: docs/backend-contract.md, "Loading is quantizing"):
// - `data` (or `synthetic`): `stack` matrices of [rows, cols] elements of type
//   `source` (kF32, kBF16 or kF16), one after another; `transposed` means each
//   is stored [cols, rows] (the published fused-expert layout). The bytes
//   outlive the model (an mmapped checkpoint), so a backend may borrow them.
// - `quantized`: already quantized on the host, one per stacked matrix (a
//   bitsandbytes module stored quantized): used as is, `data` null.
// Each matrix of a stack is converted on its own (an NF4 expert has its own
// double-quantization state), exactly as core/quant converts one tensor.
struct HostWeight {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stack = 1;
  std::string name;  // for messages
  WeightFormat target = WeightFormat::kF32;

  const void* data = nullptr;  // may be unaligned
  WeightFormat source = WeightFormat::kF32;
  bool transposed = false;
  std::optional<SyntheticSource> synthetic;

  std::vector<std::shared_ptr<const quant::QuantizedWeight>> quantized;
};

// The MoE block of one layer (docs/model.md §9.5). Experts in nn.Linear
// orientation, stacked: matrix e of gate_up is expert e's [2I, H] (rows
// [0, I) gate, [I, 2I) up), matrix e of down is its [H, I].
struct MoeWeights {
  WeightPtr router;   // [E, H]
  WeightPtr gate_up;  // stack E of [2I, H]
  WeightPtr down;     // stack E of [H, I]
  int top_k = 0;
};

// The shape of an attention call.
struct AttentionSpec {
  int num_heads = 0;
  int num_kv_heads = 0;  // GQA: query head h uses kv head h / (num_heads / num_kv_heads)
  int head_dim = 0;
  float scale = 1.0f;
};

// One sequence of a step, as the cached attention reads it from an I32
// tensor [sequences, 4] written in the input phase: its query rows are q rows
// [q_start, q_start + q_count); its keys are KV-cache rows [key_start,
// key_start + key_count), the last q_count of which are this step's new
// tokens. Query t of the sequence sees cache rows up to key_start + key_count -
// q_count + t (causal).
struct SequenceSpan {
  int32_t q_start = 0;
  int32_t q_count = 0;
  int32_t key_start = 0;
  int32_t key_count = 0;
};
inline constexpr int64_t kSequenceSpanWords = 4;

enum class GeluKind { kTanh, kErf };

// Sampling settings (docs/model.md §10; applied in Hugging Face's order:
// repetition penalty, presence penalty, temperature, top-k, top-p, min-p).
struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  float min_p = 0.0f;        // 0 = off
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
};

// The sampling settings and this step's random draw as the sample op reads
// them from backend memory: an I32 tensor [1, kSamplingInputsWords] written in
// the input phase with these 32 bytes, so a recorded decode step serves every
// setting. The CUDA sampler reads the same layout.
struct SamplingInputs {
  float temperature = 1.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  double uniform = 0.0;  // in [0, 1]
};
static_assert(sizeof(SamplingInputs) == 32, "SamplingInputs is read by kernels as 32 bytes");
inline constexpr int64_t kSamplingInputsWords = 8;
SamplingInputs sampling_inputs(const SamplingParams& p, double uniform);

// Where the backend's memory goes (docs/backend-contract.md, "Memory").
struct MemoryInfo {
  std::string device;          // "NVIDIA H100 80GB HBM3", "CPU (16 threads)"
  size_t device_total = 0;     // the device's memory (the machine's RAM on the CPU)
  size_t device_free = 0;      // free now (MemAvailable on the CPU)
  size_t weights = 0;          // owned weight storage
  size_t kv_cache = 0;         // persistent tensors (KV caches, seen masks)
  size_t workspace = 0;        // the step arena's capacity, staging and scratch
  size_t peak_workspace = 0;   // the most step-arena bytes one step used since the backend was made
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu", "cuda"

  // ---- what this backend computes in -----------------------------------------
  virtual DType activation_dtype() const = 0;
  virtual DType kv_cache_dtype() const = 0;
  // True when upload_weight converts and quantizes on an accelerator (the
  // loader then hands it source bytes and never quantizes on the host).
  virtual bool quantizes_on_device() const = 0;
  // Attention scores one call may materialise (the vision tower splits frames
  // into calls of at most this many query x key scores, so that a stop
  // request is seen between calls on a slow backend); 0 = no limit.
  virtual int64_t attention_scores_per_call() const = 0;

  // ---- memory -------------------------------------------------------------
  // A tensor of the current step (see the rules above): valid until the next
  // begin_step(), or until a rewind() to a mark taken before it.
  virtual TensorPtr new_tensor(DType dtype, int64_t rows, int64_t cols) = 0;
  // A tensor that lives as long as its handle (KV cache, seen masks).
  virtual TensorPtr new_persistent_tensor(DType dtype, int64_t rows, int64_t cols) = 0;
  // Starts a step: every step tensor made before is dead.
  virtual void begin_step() = 0;
  virtual size_t arena_mark() const = 0;
  virtual void rewind(size_t mark) = 0;
  // The step arena will hold at least `bytes` from the next begin_step() on
  // (the memory planner's workspace), so the first long step allocates once.
  virtual void reserve_workspace(size_t bytes) = 0;
  // A view of `rows` x `cols` elements starting at element `first_row * t.cols()`
  // of t's storage (reshape and row ranges; no copy). Lives as long as `t`.
  virtual TensorPtr view(const TensorPtr& t, int64_t first_row, int64_t rows, int64_t cols) = 0;
  // Host -> backend, in the input phase.
  virtual void write(Tensor& dst, const void* src, size_t bytes) = 0;
  // Backend -> host, after a forward (the token, logits). Waits for the ops before it.
  virtual void read(const Tensor& src, void* dst, size_t bytes) = 0;
  // Converts (and quantizes) as the HostWeight asks. `fp16_losses`, if not
  // null, receives what a conversion to fp16 lost (added to, over the stack).
  // Errors name the weight (and matrix): a NaN or infinity in a tensor being
  // converted, a value beyond fp16's range for int8, out of memory.
  virtual Result<WeightPtr> upload_weight(const HostWeight& w, quant::Dense16Report* fp16_losses) = 0;
  // Row range [first, first + rows) of a weight (e.g. q/k/v of a fused qkv).
  virtual WeightPtr weight_rows(const WeightPtr& w, int64_t first, int64_t rows) = 0;

  // ---- errors ---------------------------------------------------------------
  // Ops report nothing (a GPU op cannot report back mid-graph). A failure the
  // caller could not prevent (out of memory for a step tensor) is kept, later
  // ops of the step do nothing, and the model takes it here after the step, so
  // a failed forward is an error, not a crash. Returns and clears it.
  virtual Status take_error() = 0;

  // ---- recording (CUDA graphs) ------------------------------------------------
  // A step whose op sequence repeats exactly (a decode step) may be recorded
  // once and replayed. replay(key) runs the recording of `key` and returns
  // true, or returns false when there is none valid (never recorded, made
  // stale by a reallocated arena, or a backend that does not record); the
  // caller then issues the ops between begin_recording(key) and
  // end_recording(key), which records and runs them. Inputs are written
  // before replay()/begin_recording(), never between the two calls.
  virtual bool replay(uint64_t key) { return false; }
  virtual void begin_recording(uint64_t key) {}
  virtual Status end_recording(uint64_t key) { return {}; }
  virtual void forget_recording(uint64_t key) {}

  // ---- ops (outputs are allocated by the caller) ----------------------------
  // out[i] = table[ids[i]]; ids is I32 [n, 1].
  virtual void embed(const Tensor& ids, const Weight& table, Tensor& out) = 0;
  // out = (accumulate ? out : 0) + x . w^T (+ bias); x [n, K], w [N, K], out [n, N].
  virtual void linear(const Tensor& x, const Weight& w, const Weight* bias, Tensor& out, bool accumulate) = 0;
  // outs[i] = x . ws[i]^T for several weights of one input and no bias (q, k and v; gate and
  // up): a backend may read x once and launch once. The results are linear()'s, each within
  // that op's own tolerance. Default: one linear() each.
  virtual void linear_same_input(const Tensor& x, std::span<const Weight* const> ws, std::span<Tensor* const> outs) {
    for (size_t i = 0; i < ws.size() && i < outs.size(); ++i) linear(x, *ws[i], nullptr, *outs[i], false);
  }
  // RMSNorm over each group of `group` columns (group == cols: whole row;
  // group == head_dim: per-head q/k norm), weight of length `group`.
  virtual void rms_norm(const Tensor& x, const Weight& w, float eps, int64_t group, Tensor& out) = 0;
  virtual void layer_norm(const Tensor& x, const Weight& w, const Weight& b, float eps, Tensor& out) = 0;
  // In place, per head of width head_dim: x = x*cos + rotate_half(x)*sin with
  // rotate_half(v) = [-v[d/2:], v[:d/2]]; cos, sin are [n, head_dim].
  virtual void rope(Tensor& x, const Tensor& cos, const Tensor& sin, int head_dim) = 0;
  // The text attention's preparation in one op (docs/model.md §9.3): q and k
  // RMSNormed per head, both rotated (rope above), and the new K and V rows
  // stored in the caches: k_cache[write_rows[i]] = k_i, v_cache[write_rows[i]]
  // = v_i (converted to the cache's dtype). q is updated in place; k and v are
  // only read. write_rows is I32 [n, 1].
  virtual void qk_norm_rope_cache(Tensor& q, const Tensor& k, const Tensor& v, const Weight& q_norm,
                                  const Weight& k_norm, float eps, const Tensor& cos, const Tensor& sin,
                                  const Tensor& write_rows, const AttentionSpec& spec, Tensor& k_cache,
                                  Tensor& v_cache) = 0;
  // Causal attention of this step's query rows over the KV cache; `spans` is
  // I32 [sequences, kSequenceSpanWords] (SequenceSpan). q, out [n, heads*hd].
  virtual void attention_cached(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                const AttentionSpec& spec, const Tensor& spans, Tensor& out) = 0;
  // Full attention within segments (the vision tower): q, k, v [n, heads*hd]
  // (kv heads == heads); `segments` are cumulative starts from 0 to n, e.g.
  // {0, 256, 320} for two frames; row i sees the keys of its own segment.
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionSpec& spec,
                         std::span<const int64_t> segments, Tensor& out) = 0;
  // out = (accumulate ? out : 0) + MoE(x).
  virtual void moe(const Tensor& x, const MoeWeights& w, Tensor& out, bool accumulate) = 0;
  // out = silu(gate) * up, element-wise.
  virtual void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) = 0;
  virtual void gelu(const Tensor& x, GeluKind kind, Tensor& out) = 0;
  virtual void add(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // out[i] += sum_j weights[i, j] * table[indices[i, j]]; indices I32 [n, k], weights F32 [n, k].
  virtual void add_weighted_rows(const Weight& table, const Tensor& indices, const Tensor& weights, Tensor& out) = 0;
  // dst[rows[i]] = src[i]  /  dst[rows[i]] += src[i]; rows is I32 [n, 1].
  virtual void scatter_rows(const Tensor& src, const Tensor& rows, Tensor& dst) = 0;
  virtual void scatter_add_rows(const Tensor& src, const Tensor& rows, Tensor& dst) = 0;
  // out[i] = src[rows[i]].
  virtual void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) = 0;
  // Every element 0.
  virtual void zero(Tensor& t) = 0;

  // ---- sampling -------------------------------------------------------------
  // Picks the next token from one row of logits [1, V] with the settings and
  // draw in `inputs` (SamplingInputs); `seen` (I32 [1, V], or null) marks the
  // tokens of the sequence so far for the penalties, and gets the picked
  // token marked. Writes the token to `token` (I32 [1, 1]).
  virtual void sample(const Tensor& logits, const Tensor& inputs, Tensor* seen, Tensor& token) = 0;
  // seen[ids[i]] = 1; ids I32 [n, 1].
  virtual void mark_seen(const Tensor& ids, Tensor& seen) = 0;

  // ---- bookkeeping --------------------------------------------------------------
  // Bytes of backend memory in use by tensors and owned weights.
  virtual size_t bytes_in_use() const = 0;
  virtual MemoryInfo memory_info() const = 0;
  // A copy of `bytes` within the device's memory, timed: bytes read plus
  // bytes written per second (the bandwidth a benchmark's weight reads are
  // compared with). 0 when it cannot be measured.
  virtual double copy_bandwidth_gbps(size_t bytes) = 0;
};

}  // namespace ql::backend
