// CudaBackend: memory, errors, recording, and dispatch of every op to its
// kernel (gpu/kernels/). One stream; the engine thread waits on it with a
// blocking sync (cudaDeviceScheduleBlockingSync), so it does not spin a core.
#include "gpu/cuda_backend.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gpu/cuda_status.h"
#include "gpu/cuda_tensor.h"
#include "gpu/device_memory.h"
#include "gpu/kernels/attention_decode.cuh"
#include "gpu/kernels/attention_prefill.cuh"
#include "gpu/kernels/attention_segments.cuh"
#include "gpu/kernels/dense_gemm.cuh"
#include "gpu/kernels/dequantize.cuh"
#include "gpu/kernels/elementwise.cuh"
#include "gpu/kernels/grouped_gemm.cuh"
#include "gpu/kernels/int8_activations.cuh"
#include "gpu/kernels/matvec.cuh"
#include "gpu/kernels/moe_decode.cuh"
#include "gpu/kernels/moe_group.cuh"
#include "gpu/kernels/moe_route.cuh"
#include "gpu/kernels/router_logits.cuh"
#include "gpu/kernels/norms.cuh"
#include "gpu/kernels/probe.cuh"
#include "gpu/kernels/qk_norm_rope_cache.cuh"
#include "gpu/kernels/rope.cuh"
#include "gpu/kernels/rows.cuh"
#include "gpu/kernels/sampling.cuh"
#include "gpu/weight_upload.h"

namespace ql::gpu {
namespace {

using backend::DType;
using backend::Tensor;
using backend::TensorPtr;
using backend::Weight;
using backend::WeightPtr;

static_assert(sizeof(SamplingInputs) == sizeof(backend::SamplingInputs), "one layout for the sampling inputs");
static_assert(offsetof(SamplingInputs, uniform) == offsetof(backend::SamplingInputs, uniform));
static_assert(offsetof(SamplingInputs, top_k) == offsetof(backend::SamplingInputs, top_k));
static_assert(sizeof(SeqSpan) == sizeof(backend::SequenceSpan));

constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

[[noreturn]] void contract_violation(const std::string& message) {
  spdlog::critical("CUDA backend contract violation: {}", message);
  std::abort();
}

#define QL_GPU_REQUIRE(cond, ...)                                   \
  do {                                                              \
    if (!(cond)) contract_violation(fmt::format(__VA_ARGS__));      \
  } while (0)

const CudaTensor& T(const Tensor& t, const char* op) {
  const auto* c = dynamic_cast<const CudaTensor*>(&t);
  QL_GPU_REQUIRE(c != nullptr, "{}: not a CUDA tensor", op);
  return *c;
}

const CudaWeight& W(const Weight& w, const char* op) {
  const auto* c = dynamic_cast<const CudaWeight*>(&w);
  QL_GPU_REQUIRE(c != nullptr, "{}: not a CUDA weight", op);
  return *c;
}

void require_f32(const Tensor& t, const char* op, const char* arg) {
  QL_GPU_REQUIRE(t.dtype() == DType::kF32, "{}: {} is {}, expected F32", op, arg, backend::dtype_name(t.dtype()));
}

bool graphs_enabled_by_environment() {
  const char* v = std::getenv("QL_CUDA_GRAPHS");
  return !(v && std::string(v) == "0");
}

// Up to how many tokens the MoE takes the decode kernels (each (token, slot) pair reads its
// expert's rows) rather than the grouped products (each chosen expert's rows read once for all
// its pairs). QL_MOE_DECODE_MAX_TOKENS=N (0-16) moves the crossover, for measuring it.
int moe_decode_max_tokens_by_environment() {
  const char* v = std::getenv("QL_MOE_DECODE_MAX_TOKENS");
  if (!v || !*v) return kMoeDecodeMaxTokens;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0 || n > kMoeDecodeMaxTokens) return kMoeDecodeMaxTokens;
  return static_cast<int>(n);
}

class CudaBackend final : public backend::Backend {
 public:
  CudaBackend(const backend::BackendOptions& options, cudaDeviceProp props)
      : props_(props),
        counters_(std::make_shared<MemoryCounters>()),
        arena_(counters_),
        int8_threshold_(options.int8_outlier_threshold),
        graphs_(graphs_enabled_by_environment()),
        moe_decode_max_tokens_(moe_decode_max_tokens_by_environment()) {}

  Status init() {
    QL_CUDA_TRY(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating the stream");
    // Their handles allocate device memory: on a full device that is what fails.
    if (cublasCreate(&blas_) != CUBLAS_STATUS_SUCCESS) return library_start_error("cuBLAS");
    if (cublasLtCreate(&lt_) != CUBLAS_STATUS_SUCCESS) return library_start_error("cuBLASLt");
    cublas_workspace_ = DeviceBlock::allocate(kCublasWorkspaceBytes, MemoryUse::kWorkspace, counters_);
    if (!cublas_workspace_) return err("out of GPU memory: the cuBLAS workspace (32 MiB)");
    uploader_ = std::make_unique<WeightUploader>(stream_, counters_);
    return {};
  }

  static Error library_start_error(const char* library) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
      (void)cudaGetLastError();
      return internal_err("{} could not be initialised", library);
    }
    constexpr size_t kFewMiB = size_t{256} << 20;  // what its handle and first kernels need, roughly
    if (free_b < kFewMiB)
      return err("out of GPU memory: {} could not be initialised ({:.1f} MiB free of {:.2f} GiB)", library,
                 static_cast<double>(free_b) / (1 << 20), static_cast<double>(total_b) / (1 << 30));
    return internal_err("{} could not be initialised ({:.2f} GiB free of {:.2f})", library,
                        static_cast<double>(free_b) / (1 << 30), static_cast<double>(total_b) / (1 << 30));
  }

  ~CudaBackend() override {
    if (stream_) cudaStreamSynchronize(stream_);
    for (auto& r : recordings_) cudaGraphExecDestroy(r.second.exec);
    uploader_.reset();
    if (lt_) cublasLtDestroy(lt_);
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "cuda"; }
  DType activation_dtype() const override { return DType::kF32; }
  DType kv_cache_dtype() const override { return DType::kBF16; }
  bool quantizes_on_device() const override { return true; }
  int64_t attention_scores_per_call() const override { return 0; }

  // ---- memory -------------------------------------------------------------------
  TensorPtr new_tensor(DType dtype, int64_t rows, int64_t cols) override {
    QL_GPU_REQUIRE(rows >= 0 && cols >= 0, "new_tensor: negative shape [{}, {}]", rows, cols);
    const size_t bytes = static_cast<size_t>(rows) * static_cast<size_t>(cols) * backend::dtype_bytes(dtype);
    void* p = arena_.allocate(bytes);
    if (!p) return failed_tensor(dtype, rows, cols, bytes, "a step tensor");
    return std::make_shared<CudaTensor>(dtype, rows, cols, p, nullptr);
  }

  TensorPtr new_persistent_tensor(DType dtype, int64_t rows, int64_t cols) override {
    QL_GPU_REQUIRE(rows >= 0 && cols >= 0, "new_persistent_tensor: negative shape [{}, {}]", rows, cols);
    const size_t bytes = static_cast<size_t>(rows) * static_cast<size_t>(cols) * backend::dtype_bytes(dtype);
    auto block = DeviceBlock::allocate(bytes, MemoryUse::kKvCache, counters_);
    if (!block) return failed_tensor(dtype, rows, cols, bytes, "a persistent tensor");
    void* p = block->data();
    return std::make_shared<CudaTensor>(dtype, rows, cols, p, std::move(block));
  }

  void begin_step() override {
    if (uploader_loaded_) {
      // The first step after loading: staging is no longer needed.
      uploader_->release_staging();
      uploader_loaded_ = false;
    }
    arena_.begin_step();
  }
  size_t arena_mark() const override { return arena_.mark(); }
  void rewind(size_t mark) override { arena_.rewind(mark); }
  void reserve_workspace(size_t bytes) override { arena_.reserve(bytes); }

  TensorPtr view(const TensorPtr& t, int64_t first_row, int64_t rows, int64_t cols) override {
    QL_GPU_REQUIRE(t != nullptr, "view: null tensor");
    const CudaTensor& base = T(*t, "view");
    QL_GPU_REQUIRE(first_row >= 0 && rows >= 0 && cols >= 0 && first_row * base.cols() + rows * cols <= base.numel(),
                   "view: [{}, {}] from row {} does not fit in [{}, {}]", rows, cols, first_row, base.rows(),
                   base.cols());
    char* p = static_cast<char*>(base.data());
    if (p) p += static_cast<size_t>(first_row * base.cols()) * backend::dtype_bytes(base.dtype());
    return std::make_shared<CudaTensor>(base.dtype(), rows, cols, p, base.owner());
  }

  void write(Tensor& dst, const void* src, size_t bytes) override {
    if (!ok()) return;
    const CudaTensor& t = T(dst, "write");
    QL_GPU_REQUIRE(bytes <= t.bytes(), "write: {} bytes into [{}, {}]", bytes, t.rows(), t.cols());
    check(staging_.copy_to_device(t.data(), src, bytes, stream_), "write");
  }

  void read(const Tensor& src, void* dst, size_t bytes) override {
    const CudaTensor& t = T(src, "read");
    QL_GPU_REQUIRE(bytes <= t.bytes(), "read: {} bytes from [{}, {}]", bytes, t.rows(), t.cols());
    if (!ok()) {
      std::memset(dst, 0, bytes);
      return;
    }
    check(staging_.copy_to_host(dst, t.data(), bytes, stream_), "read");
    if (!ok()) std::memset(dst, 0, bytes);
  }

  Result<WeightPtr> upload_weight(const backend::HostWeight& w, quant::Dense16Report* fp16_losses) override {
    auto r = uploader_->upload(w, fp16_losses);
    uploader_loaded_ = true;
    if (!r) return r.error();
    return WeightPtr(std::move(r).value());
  }

  WeightPtr weight_rows(const WeightPtr& w, int64_t first, int64_t rows) override {
    QL_GPU_REQUIRE(w != nullptr, "weight_rows: null weight");
    const CudaWeight& cw = W(*w, "weight_rows");
    QL_GPU_REQUIRE(cw.stack() == 1 && first >= 0 && rows > 0 && first + rows <= cw.rows(),
                   "weight_rows: rows [{}, {}) of {} [{}, {}] x {}", first, first + rows, cw.name(), cw.rows(),
                   cw.cols(), cw.stack());
    return cw.rows_view(first, rows);
  }

  Status take_error() override {
    // Errors of kernels that ran asynchronously show at the next call that waits.
    if (error_.ok()) {
      const cudaError_t e = cudaGetLastError();
      if (e != cudaSuccess) error_ = cuda_status(e, "a kernel");
    }
    Status e = std::move(error_);
    error_ = Status{};
    return e;
  }

  // ---- recording ------------------------------------------------------------------
  bool replay(uint64_t key) override {
    if (!graphs_ || !ok()) return false;
    auto it = recordings_.find(key);
    if (it == recordings_.end()) return false;
    if (it->second.generation != arena_.generation()) {  // the arena moved: its addresses are stale
      cudaGraphExecDestroy(it->second.exec);
      recordings_.erase(it);
      return false;
    }
    const cudaError_t e = cudaGraphLaunch(it->second.exec, stream_);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      cudaGraphExecDestroy(it->second.exec);
      recordings_.erase(it);
      return false;
    }
    return true;
  }

  void begin_recording(uint64_t key) override {
    if (!graphs_ || !ok()) return;
    if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
      (void)cudaGetLastError();
      return;
    }
    recording_ = true;
    recording_key_ = key;
    recording_generation_ = arena_.generation();
  }

  Status end_recording(uint64_t key) override {
    if (!recording_) return {};
    recording_ = false;
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
    if (!ok() || ended != cudaSuccess) {
      if (graph) cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      Status e = ok() ? cuda_status(ended, "recording a decode step") : std::move(error_);
      error_ = Status{};
      return e;
    }
    if (recording_generation_ != arena_.generation()) {
      cudaGraphDestroy(graph);
      return err("the step arena moved while recording");
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (made != cudaSuccess) {
      (void)cudaGetLastError();
      return cuda_status(made, "instantiating a recorded step");
    }
    forget_recording(key);
    recordings_[key] = Recording{exec, recording_generation_};
    // Recording does not run the ops: run them once now.
    const cudaError_t ran = cudaGraphLaunch(exec, stream_);
    if (ran != cudaSuccess) return cuda_status(ran, "running a recorded step");
    return {};
  }

  void forget_recording(uint64_t key) override {
    auto it = recordings_.find(key);
    if (it == recordings_.end()) return;
    cudaGraphExecDestroy(it->second.exec);
    recordings_.erase(it);
  }

  // ---- ops --------------------------------------------------------------------------
  void embed(const Tensor& ids, const Weight& table, Tensor& out) override {
    if (!ok()) return;
    const CudaTensor& i = T(ids, "embed");
    const CudaTensor& o = T(out, "embed");
    check(launch_embed(W(table, "embed").device(), i.i32(), o.rows(), o.f32(), o.cols(), stream_), "embed");
  }

  void linear(const Tensor& x, const Weight& w, const Weight* bias, Tensor& out, bool accumulate) override {
    if (!ok()) return;
    const CudaTensor& xt = T(x, "linear");
    const CudaTensor& ot = T(out, "linear");
    const CudaWeight& cw = W(w, "linear");
    require_f32(x, "linear", "x");
    QL_GPU_REQUIRE(x.cols() == cw.cols() && out.rows() == x.rows() && out.cols() == cw.rows() && cw.stack() == 1,
                   "linear: x [{}, {}], weight {} [{}, {}] x {}, out [{}, {}]", x.rows(), x.cols(), cw.name(),
                   cw.rows(), cw.cols(), cw.stack(), out.rows(), out.cols());
    const CudaWeight* bw = bias ? &W(*bias, "linear") : nullptr;
    // An fp32 bias goes into the product; others are added after it.
    const float* bias_f32 = bw && bw->device().format == WFormat::kF32 ? static_cast<const float*>(bw->device().data)
                                                                      : nullptr;
    multiply(xt.f32(), x.cols(), x.rows(), cw.device(), 0, bias_f32, ot.f32(), out.cols(), accumulate);
    if (bw && !bias_f32 && ok())
      check(launch_add_bias_rows(ot.f32(), out.rows(), out.cols(), bw->device(), stream_), "linear bias");
  }

  // One matvec launch for all targets (q, k and v: two launches fewer a layer) with INT8's
  // activations quantized once, where the decode path takes every target; else linear() each.
  void linear_same_input(const Tensor& x, std::span<const Weight* const> ws, std::span<Tensor* const> outs) override {
    if (!ok()) return;
    const size_t count = std::min(ws.size(), outs.size());
    const int64_t n = x.rows();
    bool together = n >= 1 && n <= kMatvecMaxRows && count >= 2 && count <= static_cast<size_t>(kMatvecMaxTargets) &&
                    x.dtype() == DType::kF32;
    MatvecTarget targets[kMatvecMaxTargets];
    for (size_t i = 0; together && i < count; ++i) {
      const CudaWeight& cw = W(*ws[i], "linear");
      const Tensor& out = *outs[i];
      QL_GPU_REQUIRE(x.cols() == cw.cols() && out.rows() == n && out.cols() == cw.rows(),
                     "linear: x [{}, {}], weight {} [{}, {}], out [{}, {}]", n, x.cols(), cw.name(), cw.rows(),
                     cw.cols(), out.rows(), out.cols());
      if (cw.stack() != 1 || out.dtype() != DType::kF32) together = false;
      targets[i].w = cw.device();
      targets[i].y = T(out, "linear").f32();
      targets[i].ldy = out.cols();
    }
    if (!together) return Backend::linear_same_input(x, ws, outs);
    matvec(T(x, "linear").f32(), x.cols(), n, x.cols(), targets, static_cast<int>(count), false);
  }

  void rms_norm(const Tensor& x, const Weight& w, float eps, int64_t group, Tensor& out) override {
    if (!ok()) return;
    check(launch_rms_norm(T(x, "rms_norm").f32(), x.rows(), x.cols(), group, W(w, "rms_norm").device(), eps,
                          T(out, "rms_norm").f32(), stream_),
          "rms_norm");
  }

  void layer_norm(const Tensor& x, const Weight& w, const Weight& b, float eps, Tensor& out) override {
    if (!ok()) return;
    check(launch_layer_norm(T(x, "layer_norm").f32(), x.rows(), x.cols(), W(w, "layer_norm").device(),
                            W(b, "layer_norm").device(), eps, T(out, "layer_norm").f32(), stream_),
          "layer_norm");
  }

  void rope(Tensor& x, const Tensor& cos, const Tensor& sin, int head_dim) override {
    if (!ok()) return;
    check(launch_rope(T(x, "rope").f32(), x.rows(), x.cols(), T(cos, "rope").f32(), T(sin, "rope").f32(), head_dim,
                      stream_),
          "rope");
  }

  void qk_norm_rope_cache(Tensor& q, const Tensor& k, const Tensor& v, const Weight& q_norm, const Weight& k_norm,
                          float eps, const Tensor& cos, const Tensor& sin, const Tensor& write_rows,
                          const backend::AttentionSpec& spec, Tensor& k_cache, Tensor& v_cache) override {
    if (!ok()) return;
    QL_GPU_REQUIRE(k_cache.dtype() == DType::kBF16 && v_cache.dtype() == DType::kBF16,
                   "qk_norm_rope_cache: the KV cache must be BF16");
    check(launch_qk_norm_rope_cache(T(q, "qk").f32(), q.cols(), T(k, "qk").f32(), k.cols(), T(v, "qk").f32(), v.cols(),
                                    q.rows(), spec.num_heads, spec.num_kv_heads, spec.head_dim,
                                    W(q_norm, "qk").device(), W(k_norm, "qk").device(), eps, T(cos, "qk").f32(),
                                    T(sin, "qk").f32(), T(write_rows, "qk").i32(), T(k_cache, "qk").data(),
                                    T(v_cache, "qk").data(), k_cache.cols(), stream_),
          "qk_norm_rope_cache");
  }

  void attention_cached(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        const backend::AttentionSpec& spec, const Tensor& spans, Tensor& out) override {
    if (!ok()) return;
    QL_GPU_REQUIRE(k_cache.dtype() == DType::kBF16 && spans.cols() == backend::kSequenceSpanWords,
                   "attention_cached: BF16 cache and [n, 4] spans expected");
    const auto* sp = reinterpret_cast<const SeqSpan*>(T(spans, "attention").i32());
    const int seqs = static_cast<int>(spans.rows());
    const CudaTensor& qt = T(q, "attention");
    const CudaTensor& ot = T(out, "attention");
    if (q.rows() == spans.rows()) {
      // One query per sequence (decode): the key count is read on the device.
      const size_t mark = arena_.mark();
      void* scratch = scratch_bytes(attention_decode_scratch_bytes(seqs, spec.num_heads, spec.head_dim,
                                                                   k_cache.rows()));
      if (ok())
        check(launch_attention_decode(qt.f32(), q.cols(), T(k_cache, "attention").data(),
                                      T(v_cache, "attention").data(), k_cache.cols(), sp, seqs, k_cache.rows(),
                                      spec.num_heads, spec.num_kv_heads, spec.head_dim, spec.scale, scratch, ot.f32(),
                                      out.cols(), stream_),
              "attention (decode)");
      arena_.rewind(mark);
      return;
    }
    check(launch_attention_prefill(qt.f32(), q.cols(), T(k_cache, "attention").data(), T(v_cache, "attention").data(),
                                   k_cache.cols(), sp, seqs, q.rows(), static_cast<int>(q.rows()), spec.num_heads,
                                   spec.num_kv_heads, spec.head_dim, spec.scale, ot.f32(), out.cols(), stream_),
          "attention (prefill)");
  }

  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const backend::AttentionSpec& spec,
                 std::span<const int64_t> segments, Tensor& out) override {
    if (!ok()) return;
    QL_GPU_REQUIRE(spec.num_heads == spec.num_kv_heads && q.cols() == k.cols() && k.cols() == v.cols(),
                   "attention: the vision attention has as many kv heads as heads");
    std::vector<int32_t> seg;
    if (segments.empty()) {
      seg = {0, static_cast<int32_t>(q.rows())};
    } else {
      for (int64_t s : segments) seg.push_back(static_cast<int32_t>(s));
    }
    int64_t longest = 0;
    for (size_t i = 1; i < seg.size(); ++i) longest = std::max<int64_t>(longest, seg[i] - seg[i - 1]);
    const size_t mark = arena_.mark();
    auto* dseg = static_cast<int32_t*>(scratch_bytes(seg.size() * 4));
    if (ok()) check(staging_.copy_to_device(dseg, seg.data(), seg.size() * 4, stream_), "attention segments");
    if (ok())
      check(launch_attention_segments(T(q, "attention").f32(), T(k, "attention").f32(), T(v, "attention").f32(),
                                      q.cols(), q.rows(), dseg, static_cast<int>(seg.size() - 1), longest,
                                      spec.num_heads, spec.head_dim, spec.scale, T(out, "attention").f32(), out.cols(),
                                      stream_),
            "attention (segments)");
    arena_.rewind(mark);
  }

  void moe(const Tensor& x, const backend::MoeWeights& w, Tensor& out, bool accumulate) override {
    if (!ok()) return;
    const CudaTensor& xt = T(x, "moe");
    const CudaTensor& ot = T(out, "moe");
    const CudaWeight& router = W(*w.router, "moe");
    const CudaWeight& gate_up = W(*w.gate_up, "moe");
    const CudaWeight& down = W(*w.down, "moe");
    const int64_t n = x.rows(), H = x.cols(), E = router.rows(), I = gate_up.rows() / 2;
    const int k = w.top_k;
    QL_GPU_REQUIRE(router.cols() == H && gate_up.stack() == E && down.stack() == E && gate_up.cols() == H &&
                       down.rows() == H && down.cols() == I && k >= 1 && k <= E,
                   "moe: router [{}, {}], experts {} x [{}, {}] and {} x [{}, {}], top-{} for x [{}, {}]", E,
                   router.cols(), gate_up.stack(), gate_up.rows(), gate_up.cols(), down.stack(), down.rows(),
                   down.cols(), k, n, H);
    const size_t mark = arena_.mark();
    auto* logits = static_cast<float*>(scratch_bytes(static_cast<size_t>(n * E) * 4));
    auto* ids = static_cast<int32_t*>(scratch_bytes(static_cast<size_t>(n * k) * 4));
    auto* weights = static_cast<float*>(scratch_bytes(static_cast<size_t>(n * k) * 4));
    if (!ok()) return arena_.rewind(mark);
    // 1. Route: router logits in fp32, softmax and top-k on the device.
    router_logits(xt.f32(), H, n, router.device(), logits);
    if (ok()) check(launch_moe_route(logits, E, n, static_cast<int>(E), k, ids, weights, stream_), "moe route");
    if (!ok()) return arena_.rewind(mark);
    const bool int8 = gate_up.device().format == WFormat::kInt8 || down.device().format == WFormat::kInt8;
    if (n <= moe_decode_max_tokens_) {
      // 2a. Few tokens: only the chosen experts' weights are read, in their format.
      auto* act = static_cast<float*>(scratch_bytes(static_cast<size_t>(n * k * I) * 4));
      Int8Activations xq{}, aq{};
      const Int8Activations* xq_p = nullptr;
      const Int8Activations* aq_p = nullptr;
      if (int8) {
        xq = int8_scratch(n, H, OutlierMode::kPerRow);
        aq = int8_scratch(n * k, I, OutlierMode::kPerRow);
        if (ok() && gate_up.device().format == WFormat::kInt8) {
          check(launch_quantize_int8_activations(xt.f32(), H, int8_threshold_, xq, stream_), "moe int8 x");
          xq_p = &xq;
        }
      }
      if (ok())
        check(launch_moe_gate_up(gate_up.device(), xt.f32(), H, n, ids, k, xq_p, act, stream_), "moe gate_up");
      if (ok() && int8 && down.device().format == WFormat::kInt8) {
        check(launch_quantize_int8_activations(act, I, int8_threshold_, aq, stream_), "moe int8 act");
        aq_p = &aq;
      }
      if (ok())
        check(launch_moe_down(down.device(), act, n, ids, weights, k, aq_p, ot.f32(), out.cols(), accumulate, stream_),
              "moe down");
      return arena_.rewind(mark);
    }
    // 2b. Many tokens: (token, slot) pairs grouped by expert, grouped products
    // that read each expert's weights once, then the weighted sum per token.
    const int64_t P = n * k;
    auto* offsets = static_cast<int32_t*>(scratch_bytes(static_cast<size_t>(E + 1) * 4));
    auto* rows = static_cast<int32_t*>(scratch_bytes(static_cast<size_t>(P) * 4));
    auto* pos = static_cast<int32_t*>(scratch_bytes(static_cast<size_t>(P) * 4));
    void* group_scratch = scratch_bytes(moe_group_scratch_bytes(n, k, static_cast<int>(E)));
    auto* act = static_cast<float*>(scratch_bytes(static_cast<size_t>(P * I) * 4));
    auto* y = static_cast<float*>(scratch_bytes(static_cast<size_t>(P * H) * 4));
    if (ok())
      check(launch_moe_group(ids, n, k, static_cast<int>(E), offsets, rows, pos, group_scratch, stream_), "moe group");
    if (ok())
      check(launch_grouped_gemm(gate_up.device(), xt.f32(), H, rows, offsets, E, P, P, true, act, I, stream_),
            "moe gate_up (grouped)");
    if (ok())
      check(launch_grouped_gemm(down.device(), act, I, nullptr, offsets, E, P, P, false, y, H, stream_),
            "moe down (grouped)");
    if (ok())
      check(launch_moe_combine(y, H, pos, weights, n, k, H, ot.f32(), out.cols(), accumulate, stream_), "moe combine");
    arena_.rewind(mark);
  }

  void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) override {
    if (!ok()) return;
    check(launch_swiglu(T(gate, "swiglu").f32(), T(up, "swiglu").f32(), out.numel(), T(out, "swiglu").f32(), stream_),
          "swiglu");
  }

  void gelu(const Tensor& x, backend::GeluKind kind, Tensor& out) override {
    if (!ok()) return;
    check(launch_gelu(T(x, "gelu").f32(), x.numel(), kind == backend::GeluKind::kTanh ? GeluMode::kTanh : GeluMode::kErf,
                      T(out, "gelu").f32(), stream_),
          "gelu");
  }

  void add(const Tensor& a, const Tensor& b, Tensor& out) override {
    if (!ok()) return;
    check(launch_add(T(a, "add").f32(), T(b, "add").f32(), out.numel(), T(out, "add").f32(), stream_), "add");
  }

  void add_weighted_rows(const Weight& table, const Tensor& indices, const Tensor& weights, Tensor& out) override {
    if (!ok()) return;
    check(launch_add_weighted_rows(W(table, "add_weighted_rows").device(), T(indices, "awr").i32(),
                                   T(weights, "awr").f32(), out.rows(), static_cast<int>(indices.cols()),
                                   T(out, "awr").f32(), out.cols(), stream_),
          "add_weighted_rows");
  }

  void scatter_rows(const Tensor& src, const Tensor& rows, Tensor& dst) override {
    if (!ok()) return;
    const CudaTensor& s = T(src, "scatter_rows");
    const CudaTensor& d = T(dst, "scatter_rows");
    if (dst.dtype() == DType::kBF16) {
      check(launch_scatter_rows_bf16(s.f32(), src.cols(), T(rows, "scatter").i32(), src.rows(), src.cols(), d.data(),
                                     dst.cols(), stream_),
            "scatter_rows");
      return;
    }
    check(launch_scatter_rows(s.f32(), src.cols(), T(rows, "scatter").i32(), src.rows(), src.cols(), d.f32(),
                              dst.cols(), stream_),
          "scatter_rows");
  }

  void scatter_add_rows(const Tensor& src, const Tensor& rows, Tensor& dst) override {
    if (!ok()) return;
    check(launch_scatter_add_rows(T(src, "scatter_add").f32(), src.cols(), T(rows, "scatter_add").i32(), src.rows(),
                                  src.cols(), T(dst, "scatter_add").f32(), dst.cols(), stream_),
          "scatter_add_rows");
  }

  void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) override {
    if (!ok()) return;
    check(launch_gather_rows(T(src, "gather").f32(), src.cols(), T(rows, "gather").i32(), out.rows(), out.cols(),
                             T(out, "gather").f32(), out.cols(), stream_),
          "gather_rows");
  }

  void zero(Tensor& t) override {
    if (!ok()) return;
    check(cudaMemsetAsync(T(t, "zero").data(), 0, t.bytes(), stream_), "zero");
  }

  void sample(const Tensor& logits, const Tensor& inputs, Tensor* seen, Tensor& token) override {
    if (!ok()) return;
    QL_GPU_REQUIRE(logits.rows() == 1 && inputs.numel() == backend::kSamplingInputsWords && token.numel() == 1,
                   "sample: logits [{}, {}], inputs {} words, token {} elements", logits.rows(), logits.cols(),
                   inputs.numel(), token.numel());
    const size_t mark = arena_.mark();
    void* scratch = scratch_bytes(sampling_scratch_bytes(logits.cols()));
    if (ok())
      check(launch_sample(T(logits, "sample").f32(), logits.cols(),
                          reinterpret_cast<const SamplingInputs*>(T(inputs, "sample").data()),
                          seen ? T(*seen, "sample").i32() : nullptr, T(token, "sample").i32(), scratch, stream_),
            "sample");
    arena_.rewind(mark);
  }

  void mark_seen(const Tensor& ids, Tensor& seen) override {
    if (!ok()) return;
    check(launch_mark_seen(T(ids, "mark_seen").i32(), ids.numel(), T(seen, "mark_seen").i32(), stream_), "mark_seen");
  }

  size_t bytes_in_use() const override { return counters_->total(); }

  double copy_bandwidth_gbps(size_t bytes) override {
    if (!ok()) return 0;
    auto a = DeviceBlock::allocate(bytes, MemoryUse::kWorkspace, counters_);
    auto b = DeviceBlock::allocate(bytes, MemoryUse::kWorkspace, counters_);
    if (!a || !b) return 0;
    cudaEvent_t start = nullptr, stop = nullptr;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    cudaMemsetAsync(a->data(), 1, bytes, stream_);
    cudaMemcpyAsync(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice, stream_);  // warm-up
    constexpr int kRuns = 10;
    cudaEventRecord(start, stream_);
    for (int i = 0; i < kRuns; ++i) cudaMemcpyAsync(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice, stream_);
    cudaEventRecord(stop, stream_);
    float ms = 0;
    const bool timed = cudaEventSynchronize(stop) == cudaSuccess && cudaEventElapsedTime(&ms, start, stop) == cudaSuccess;
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    (void)cudaGetLastError();
    if (!timed || ms <= 0) return 0;
    return 2.0 * static_cast<double>(bytes) * kRuns / (static_cast<double>(ms) * 1e-3) / 1e9;
  }

  backend::MemoryInfo memory_info() const override {
    backend::MemoryInfo m;
    m.device = props_.name;
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
      m.device_free = free_b;
      m.device_total = total_b;
    } else {
      (void)cudaGetLastError();
    }
    m.weights = counters_->bytes[static_cast<int>(MemoryUse::kWeights)];
    m.kv_cache = counters_->bytes[static_cast<int>(MemoryUse::kKvCache)];
    m.workspace = counters_->bytes[static_cast<int>(MemoryUse::kWorkspace)];
    m.peak_workspace = arena_.peak_used();
    return m;
  }

 private:
  struct Recording {
    cudaGraphExec_t exec = nullptr;
    uint64_t generation = 0;
  };

  bool ok() const { return error_.ok(); }

  void check(cudaError_t e, const char* op) {
    if (e == cudaSuccess || !error_.ok()) return;
    (void)cudaGetLastError();
    error_ = cuda_status(e, op);
  }

  TensorPtr failed_tensor(DType dtype, int64_t rows, int64_t cols, size_t bytes, const char* what) {
    if (error_.ok()) {
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      (void)cudaGetLastError();
      error_ = err("out of GPU memory: {} [{}, {}] {} of {:.1f} MiB could not be allocated ({:.2f} GiB free of {:.2f})",
                   what, rows, cols, backend::dtype_name(dtype), static_cast<double>(bytes) / (1 << 20),
                   static_cast<double>(free_b) / (1 << 30), static_cast<double>(total_b) / (1 << 30));
    }
    return std::make_shared<CudaTensor>(dtype, rows, cols, nullptr, nullptr);
  }

  // Op-internal scratch from the arena (the op rewinds it when done).
  void* scratch_bytes(size_t bytes) {
    void* p = arena_.allocate(bytes);
    if (!p && error_.ok())
      error_ = err("out of GPU memory: {:.1f} MiB of scratch could not be allocated",
                   static_cast<double>(bytes) / (1 << 20));
    return p;
  }

  Int8Activations int8_scratch(int64_t rows, int64_t cols, OutlierMode mode) {
    void* p = scratch_bytes(int8_activations_bytes(rows, cols, mode));
    if (!p) return {};
    return int8_activations_in(p, rows, cols, mode);
  }

  GemmContext gemm_context() const {
    return GemmContext{lt_, blas_, cublas_workspace_->data(), cublas_workspace_->size()};
  }

  // y [n, N] = (accumulate ? y : 0) + x [n, K] . W^T (+ bias) for matrix `m`
  // of any weight: matrix-vector kernels for a few rows (decode), cuBLASLt
  // for 16-bit weights and the dequantizing grouped product otherwise.
  // Router logits [n, w.rows] in fp32 for any n: the matvec (fp32 already)
  // for decode-sized n, the fp32 router kernel for 16-bit and fp32 routers,
  // and the matvec 16 rows at a time for a quantized router (a custom
  // precision; it reads the small router once per 16 rows). Never the dense
  // GEMM: its 16-bit rounding of x swaps nearly tied experts
  // (router_logits.cuh).
  void router_logits(const float* x, int64_t ldx, int64_t n, const DeviceWeight& w, float* logits) {
    if (!ok()) return;
    const bool dense = w.format == WFormat::kF32 || w.format == WFormat::kBF16 || w.format == WFormat::kF16;
    if (n <= kMatvecMaxRows || !dense) {
      for (int64_t r0 = 0; r0 < n && ok(); r0 += kMatvecMaxRows)
        multiply(x + r0 * ldx, ldx, std::min<int64_t>(kMatvecMaxRows, n - r0), w, 0, nullptr, logits + r0 * w.rows,
                 w.rows, false);
      return;
    }
    const size_t need = router_logits_scratch_bytes(n, w.rows, w.cols);
    const size_t mark = arena_.mark();
    void* scratch = need > 0 ? scratch_bytes(need) : nullptr;
    if (ok()) check(launch_router_logits(w, x, ldx, n, logits, w.rows, scratch, need, stream_), "moe router");
    arena_.rewind(mark);
  }

  // One matvec launch for targets sharing x (n <= kMatvecMaxRows, `cols` columns), with x
  // quantized once for LLM.int8 when a target is INT8 (kUnion, as core/quant/int8_matmul.cpp).
  void matvec(const float* x, int64_t ldx, int64_t n, int64_t cols, const MatvecTarget* targets, int count,
              bool accumulate) {
    const size_t mark = arena_.mark();
    Int8Activations xq{};
    const Int8Activations* xq_p = nullptr;
    if (std::any_of(targets, targets + count, [](const MatvecTarget& t) { return t.w.format == WFormat::kInt8; })) {
      xq = int8_scratch(n, cols, OutlierMode::kUnion);
      if (ok()) check(launch_quantize_int8_activations(x, ldx, int8_threshold_, xq, stream_), "int8 activations");
      xq_p = &xq;
    }
    if (ok()) check(launch_matvec(targets, count, x, ldx, n, xq_p, accumulate, stream_), "matvec");
    arena_.rewind(mark);
  }

  void multiply(const float* x, int64_t ldx, int64_t n, const DeviceWeight& w, int64_t m, const float* bias,
                float* y, int64_t ldy, bool accumulate) {
    if (!ok()) return;
    if (n <= kMatvecMaxRows) {
      MatvecTarget t;
      t.w = w;
      t.matrix = m;
      t.bias = bias;
      t.y = y;
      t.ldy = ldy;
      matvec(x, ldx, n, w.cols, &t, 1, accumulate);
      return;
    }
    const bool dense = w.format == WFormat::kF32 || w.format == WFormat::kBF16 || w.format == WFormat::kF16;
    const size_t mark = arena_.mark();
    if (dense) {
      void* scratch = scratch_bytes(dense_gemm_scratch_bytes(n, w.cols));
      int status = 0;
      if (ok()) {
        const cudaError_t e =
            launch_dense_gemm(gemm_context(), w, m, x, ldx, n, bias, y, ldy, accumulate, scratch, stream_, &status);
        if (e != cudaSuccess && error_.ok()) {
          (void)cudaGetLastError();
          error_ = internal_err("matrix product [{}, {}] x [{}, {}]^T failed: {} (cuBLAS status {})", n, w.cols,
                                w.rows, w.cols, cudaGetErrorString(e), status);
        }
      }
      arena_.rewind(mark);
      return;
    }
    // One group holding every row; the product into a temporary when it must
    // be added to y or get a bias.
    auto* offsets = static_cast<int32_t*>(scratch_bytes(8));
    const int32_t host_offsets[2] = {0, static_cast<int32_t>(n)};
    if (ok()) check(staging_.copy_to_device(offsets, host_offsets, 8, stream_), "offsets");
    const bool direct = !accumulate && bias == nullptr;
    float* target = direct ? y : static_cast<float*>(scratch_bytes(static_cast<size_t>(n * w.rows) * 4));
    const int64_t ld_target = direct ? ldy : w.rows;
    DeviceWeight one = w;
    if (m > 0) {  // a single matrix of a stack, as a weight of its own
      one = w;
      one.stack = 1;
      shift_to_matrix(one, m);
    }
    if (ok())
      check(launch_grouped_gemm(one, x, ldx, nullptr, offsets, 1, n, n, false, target, ld_target, stream_),
            "grouped product");
    if (!direct && ok()) {
      if (accumulate) check(add_strided(y, ldy, target, ld_target, n, w.rows), "accumulate");
      else check(copy_strided(y, ldy, target, ld_target, n, w.rows), "copy");
      if (bias && ok()) {
        DeviceWeight b;
        b.format = WFormat::kF32;
        b.rows = b.stored_rows = 1;
        b.cols = w.rows;
        b.data = bias;
        check(add_bias_strided(y, ldy, n, w.rows, b), "bias");
      }
    }
    arena_.rewind(mark);
  }

  static void shift_to_matrix(DeviceWeight& w, int64_t m) {
    const int64_t numel = w.stored_rows * w.cols;
    switch (w.format) {
      case WFormat::kF32: w.data = static_cast<const float*>(w.data) + m * numel; break;
      case WFormat::kBF16:
      case WFormat::kF16: w.data = static_cast<const uint16_t*>(w.data) + m * numel; break;
      case WFormat::kInt8:
        w.codes += m * numel;
        w.scb += m * w.stored_rows;
        break;
      case WFormat::kNF4:
        w.packed += m * w.packed_stride;
        w.absmax_codes += m * w.absmax_stride;
        w.nested_absmax += m * w.nested_stride;
        w.offset += m;
        break;
    }
  }

  // y rows (stride ldy) += t rows (stride ldt), or = t; row by row when the strides differ.
  cudaError_t add_strided(float* y, int64_t ldy, const float* t, int64_t ldt, int64_t n, int64_t cols) {
    if (ldy == cols && ldt == cols) return launch_add(y, t, n * cols, y, stream_);
    for (int64_t r = 0; r < n; ++r)
      if (cudaError_t e = launch_add(y + r * ldy, t + r * ldt, cols, y + r * ldy, stream_); e != cudaSuccess) return e;
    return cudaSuccess;
  }
  cudaError_t copy_strided(float* y, int64_t ldy, const float* t, int64_t ldt, int64_t n, int64_t cols) {
    return cudaMemcpy2DAsync(y, static_cast<size_t>(ldy) * 4, t, static_cast<size_t>(ldt) * 4,
                             static_cast<size_t>(cols) * 4, static_cast<size_t>(n), cudaMemcpyDeviceToDevice, stream_);
  }
  cudaError_t add_bias_strided(float* y, int64_t ldy, int64_t n, int64_t cols, const DeviceWeight& b) {
    if (ldy == cols) return launch_add_bias_rows(y, n, cols, b, stream_);
    for (int64_t r = 0; r < n; ++r)
      if (cudaError_t e = launch_add_bias_rows(y + r * ldy, 1, cols, b, stream_); e != cudaSuccess) return e;
    return cudaSuccess;
  }

  cudaDeviceProp props_;
  CountersPtr counters_;
  DeviceArena arena_;
  PinnedStaging staging_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  std::shared_ptr<DeviceBlock> cublas_workspace_;
  std::unique_ptr<WeightUploader> uploader_;
  bool uploader_loaded_ = false;
  float int8_threshold_;
  bool graphs_;
  int moe_decode_max_tokens_;  // see moe_decode_max_tokens_by_environment
  std::unordered_map<uint64_t, Recording> recordings_;
  bool recording_ = false;
  uint64_t recording_key_ = 0;
  uint64_t recording_generation_ = 0;
  Status error_;
};

}  // namespace

Result<std::string> probe_cuda_device() {
  // Before any call makes the context: a waiting engine thread sleeps instead of spinning.
  if (cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync) != cudaSuccess) (void)cudaGetLastError();
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return err("no usable CUDA GPU ({})", cudaGetErrorString(e));
  }
  if (count == 0) return err("no CUDA GPU found");
  cudaDeviceProp p{};
  e = cudaGetDeviceProperties(&p, 0);
  if (e != cudaSuccess) return err("the CUDA GPU cannot be read ({})", cudaGetErrorString(e));
  // This build carries sm_90a code only: it runs on compute capability 9.0.
  if (p.major != 9 || p.minor != 0)
    return err("the GPU {} (compute capability {}.{}) is not one this build has code for (sm_90a: H100, H200)",
               p.name, p.major, p.minor);
  e = probe_kernel_image();
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return err("the GPU {} cannot run this build's kernels ({})", p.name, cudaGetErrorString(e));
  }
  size_t free_b = 0, total_b = 0;
  (void)cudaMemGetInfo(&free_b, &total_b);
  return fmt::format("{}, {:.1f} GiB free of {:.1f}", p.name, static_cast<double>(free_b) / (1 << 30),
                     static_cast<double>(total_b) / (1 << 30));
}

Result<std::unique_ptr<backend::Backend>> make_cuda_backend(const backend::BackendOptions& options) {
  QL_ASSIGN_OR_RETURN(const std::string device, probe_cuda_device());
  cudaDeviceProp props{};
  QL_CUDA_TRY(cudaGetDeviceProperties(&props, 0), "reading the GPU");
  QL_CUDA_TRY(cudaSetDevice(0), "selecting the GPU");
  auto be = std::make_unique<CudaBackend>(options, props);
  QL_TRY(be->init());
  spdlog::debug("CUDA backend on {}", device);
  return std::unique_ptr<backend::Backend>(std::move(be));
}

void register_cuda_backend() {
  backend::BackendProvider p;
  p.name = "cuda";
  p.probe = [] { return probe_cuda_device(); };
  p.make = [](const backend::BackendOptions& o) { return make_cuda_backend(o); };
  p.activation_dtype = DType::kF32;
  p.kv_cache_dtype = DType::kBF16;
  p.free_memory = [] {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
      (void)cudaGetLastError();
      return size_t{0};
    }
    return free_b;
  };
  backend::register_backend_provider(std::move(p));
}

}  // namespace ql::gpu
