// CpuBackend: memory (step arena, persistent tensors), errors, and dispatch
// to the ops (cpu_ops.h).
#include "core/backend/cpu_backend.h"

#include <cblas.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/backend/cpu_arena.h"
#include "core/backend/cpu_check.h"
#include "core/backend/cpu_memory.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_tensor.h"
#include "core/backend/cpu_thread_pool.h"
#include "core/backend/cpu_weight.h"

namespace ql::backend {

namespace {

using cpu::CpuTensor;

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// MemTotal and MemAvailable of /proc/meminfo in bytes (0 when unreadable).
void read_meminfo(size_t& total, size_t& available) {
  total = available = 0;
  std::ifstream f("/proc/meminfo");
  std::string key;
  size_t kib = 0;
  std::string unit;
  while (f >> key >> kib >> unit) {
    if (key == "MemTotal:") total = kib * 1024;
    if (key == "MemAvailable:") available = kib * 1024;
  }
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options)
      : counter_(std::make_shared<std::atomic<size_t>>(0)),
        persistent_(std::make_shared<std::atomic<size_t>>(0)),
        weights_(std::make_shared<std::atomic<size_t>>(0)),
        arena_(counter_),
        threads_(resolve_threads(options.threads)),
        pool_(threads_),
        matmul_{options.int8_outlier_threshold} {
    // OpenBLAS is called from inside the pool's tasks: its own threads would
    // only compete with ours for the same cores.
    openblas_set_num_threads(1);
  }

  std::string name() const override { return "cpu"; }
  DType activation_dtype() const override { return DType::kF32; }
  DType kv_cache_dtype() const override { return DType::kF32; }
  bool quantizes_on_device() const override { return false; }
  // One frame's attention can take 100 ms here: calls of at most 2^21 scores
  // keep a stop request within a few milliseconds.
  int64_t attention_scores_per_call() const override { return int64_t{1} << 21; }

  // ---- memory ---------------------------------------------------------------
  TensorPtr new_tensor(DType dtype, int64_t rows, int64_t cols) override {
    QL_CPU_REQUIRE(rows >= 0 && cols >= 0, "new_tensor: negative shape [{}, {}]", rows, cols);
    const size_t bytes = static_cast<size_t>(rows) * static_cast<size_t>(cols) * dtype_bytes(dtype);
    auto slot = arena_.allocate(bytes);
    if (!slot.block) return failed_tensor(dtype, rows, cols, bytes);
    return std::make_shared<CpuTensor>(dtype, rows, cols, std::move(slot.block), slot.offset);
  }

  TensorPtr new_persistent_tensor(DType dtype, int64_t rows, int64_t cols) override {
    QL_CPU_REQUIRE(rows >= 0 && cols >= 0, "new_persistent_tensor: negative shape [{}, {}]", rows, cols);
    const size_t bytes = static_cast<size_t>(rows) * static_cast<size_t>(cols) * dtype_bytes(dtype);
    auto storage = cpu::AlignedBuffer::allocate(bytes, persistent_);
    if (!storage) return failed_tensor(dtype, rows, cols, bytes);
    return std::make_shared<CpuTensor>(dtype, rows, cols, std::move(storage), 0);
  }

  void begin_step() override { arena_.begin_step(); }
  size_t arena_mark() const override { return arena_.mark(); }
  void rewind(size_t mark) override { arena_.rewind(mark); }
  void reserve_workspace(size_t bytes) override { arena_.reserve(bytes); }

  TensorPtr view(const TensorPtr& t, int64_t first_row, int64_t rows, int64_t cols) override {
    QL_CPU_REQUIRE(t != nullptr, "view: null tensor");
    const CpuTensor& base = cpu::any_arg(*t, "view", "t");
    QL_CPU_REQUIRE(first_row >= 0 && rows >= 0 && cols >= 0 && first_row * base.cols() + rows * cols <= base.numel(),
                   "view: [{}, {}] from row {} does not fit in {}", rows, cols, first_row, cpu::shape_of(base));
    const size_t offset = base.byte_offset() + static_cast<size_t>(first_row * base.cols()) * dtype_bytes(base.dtype());
    return std::make_shared<CpuTensor>(base.dtype(), rows, cols, base.storage(), offset);
  }

  void write(Tensor& dst, const void* src, size_t bytes) override {
    if (!error_.ok()) return;
    CpuTensor& t = cpu::any_arg(dst, "write", "dst");
    QL_CPU_REQUIRE(bytes <= t.bytes(), "write: {} bytes into {}", bytes, cpu::shape_of(t));
    if (bytes > 0) std::memcpy(t.data(), src, bytes);
  }

  void read(const Tensor& src, void* dst, size_t bytes) override {
    const CpuTensor& t = cpu::any_arg(src, "read", "src");
    QL_CPU_REQUIRE(bytes <= t.bytes(), "read: {} bytes from {}", bytes, cpu::shape_of(t));
    if (!error_.ok()) {
      std::memset(dst, 0, bytes);
      return;
    }
    if (bytes > 0) std::memcpy(dst, t.data(), bytes);
  }

  Result<WeightPtr> upload_weight(const HostWeight& w, quant::Dense16Report* fp16_losses) override {
    auto r = cpu::upload_cpu_weight(w, weights_, threads_, fp16_losses);
    if (!r.ok()) return r.error();
    return WeightPtr(std::move(r).value());
  }

  WeightPtr weight_rows(const WeightPtr& w, int64_t first, int64_t rows) override {
    QL_CPU_REQUIRE(w != nullptr, "weight_rows: null weight");
    return cpu::weight_arg(*w, "weight_rows", "w").rows_view(first, rows);
  }

  Status take_error() override {
    Status e = std::move(error_);
    error_ = Status{};
    return e;
  }

  // ---- ops ------------------------------------------------------------------
  // While an error is pending (a step tensor could not be had), ops do nothing.
#define QL_CPU_OP_GUARD() \
  if (!error_.ok()) return

  void embed(const Tensor& ids, const Weight& table, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::embed(ids, table, out);
  }
  void linear(const Tensor& x, const Weight& w, const Weight* bias, Tensor& out, bool accumulate) override {
    QL_CPU_OP_GUARD();
    cpu::linear(pool_, x, w, bias, out, accumulate, matmul_);
  }
  void rms_norm(const Tensor& x, const Weight& w, float eps, int64_t group, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::rms_norm(pool_, x, w, eps, group, out);
  }
  void layer_norm(const Tensor& x, const Weight& w, const Weight& b, float eps, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::layer_norm(pool_, x, w, b, eps, out);
  }
  void rope(Tensor& x, const Tensor& cos, const Tensor& sin, int head_dim) override {
    QL_CPU_OP_GUARD();
    cpu::rope(pool_, x, cos, sin, head_dim);
  }
  // Composed of the reference ops, in docs/model.md §9.3's order.
  void qk_norm_rope_cache(Tensor& q, const Tensor& k, const Tensor& v, const Weight& q_norm, const Weight& k_norm,
                          float eps, const Tensor& cos, const Tensor& sin, const Tensor& write_rows,
                          const AttentionSpec& spec, Tensor& k_cache, Tensor& v_cache) override {
    QL_CPU_OP_GUARD();
    const int64_t hd = spec.head_dim;
    cpu::rms_norm(pool_, q, q_norm, eps, hd, q);
    const size_t mark = arena_.mark();
    TensorPtr kn = new_tensor(DType::kF32, k.rows(), k.cols());
    if (!error_.ok()) return;
    cpu::rms_norm(pool_, k, k_norm, eps, hd, *kn);
    cpu::rope(pool_, q, cos, sin, static_cast<int>(hd));
    cpu::rope(pool_, *kn, cos, sin, static_cast<int>(hd));
    cpu::scatter_rows(*kn, write_rows, k_cache);
    cpu::scatter_rows(v, write_rows, v_cache);
    arena_.rewind(mark);
  }
  void attention_cached(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionSpec& spec,
                        const Tensor& spans, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::attention_cached(pool_, q, k_cache, v_cache, spec, spans, out);
  }
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionSpec& spec,
                 std::span<const int64_t> segments, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::attention(pool_, q, k, v, spec, segments, out);
  }
  void moe(const Tensor& x, const MoeWeights& w, Tensor& out, bool accumulate) override {
    QL_CPU_OP_GUARD();
    cpu::moe(pool_, x, w, out, accumulate, matmul_);
  }
  void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::swiglu(pool_, gate, up, out);
  }
  void gelu(const Tensor& x, GeluKind kind, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::gelu(pool_, x, kind, out);
  }
  void add(const Tensor& a, const Tensor& b, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::add(pool_, a, b, out);
  }
  void add_weighted_rows(const Weight& table, const Tensor& indices, const Tensor& weights, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::add_weighted_rows(table, indices, weights, out);
  }
  void scatter_rows(const Tensor& src, const Tensor& rows, Tensor& dst) override {
    QL_CPU_OP_GUARD();
    cpu::scatter_rows(src, rows, dst);
  }
  void scatter_add_rows(const Tensor& src, const Tensor& rows, Tensor& dst) override {
    QL_CPU_OP_GUARD();
    cpu::scatter_add_rows(src, rows, dst);
  }
  void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) override {
    QL_CPU_OP_GUARD();
    cpu::gather_rows(src, rows, out);
  }
  void zero(Tensor& t) override {
    QL_CPU_OP_GUARD();
    cpu::zero(t);
  }
  void sample(const Tensor& logits, const Tensor& inputs, Tensor* seen, Tensor& token) override {
    QL_CPU_OP_GUARD();
    cpu::sample(logits, inputs, seen, token);
  }
  void mark_seen(const Tensor& ids, Tensor& seen) override {
    QL_CPU_OP_GUARD();
    cpu::mark_seen(ids, seen);
  }
#undef QL_CPU_OP_GUARD

  size_t bytes_in_use() const override { return *counter_ + *persistent_ + *weights_; }

  double copy_bandwidth_gbps(size_t bytes) override {
    auto a = cpu::AlignedBuffer::allocate(bytes, nullptr), b = cpu::AlignedBuffer::allocate(bytes, nullptr);
    if (!a || !b) return 0;
    std::memset(a->data(), 1, bytes);
    std::memcpy(b->data(), a->data(), bytes);  // warm-up: pages in
    double best = 0;
    for (int i = 0; i < 3; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      std::memcpy(b->data(), a->data(), bytes);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s > 0) best = std::max(best, 2.0 * static_cast<double>(bytes) / s / 1e9);
    }
    return best;
  }

  MemoryInfo memory_info() const override {
    MemoryInfo m;
    m.device = fmt::format("CPU ({} threads)", threads_);
    read_meminfo(m.device_total, m.device_free);
    m.weights = *weights_;
    m.kv_cache = *persistent_;
    m.workspace = arena_.capacity();
    m.peak_workspace = arena_.peak_used();
    return m;
  }

 private:
  // A tensor whose memory could not be had: the error is kept for
  // take_error() and the step's ops do nothing until then.
  TensorPtr failed_tensor(DType dtype, int64_t rows, int64_t cols, size_t bytes) {
    if (error_.ok())
      error_ = internal_err("out of memory: a [{}, {}] {} tensor ({:.1f} MiB) could not be allocated", rows, cols,
                            dtype_name(dtype), static_cast<double>(bytes) / (1024.0 * 1024.0));
    // The shape the caller asked for (so views and shapes downstream stay
    // consistent) over no memory: every op, write and read is skipped until
    // the error is taken.
    auto empty = cpu::AlignedBuffer::allocate(0, nullptr);
    return std::make_shared<CpuTensor>(dtype, rows, cols, std::move(empty), 0);
  }

  cpu::ByteCounter counter_;     // step arena
  cpu::ByteCounter persistent_;  // KV caches, seen masks
  cpu::ByteCounter weights_;     // owned weight storage
  cpu::CpuArena arena_;
  int threads_;
  cpu::ThreadPool pool_;
  cpu::MatmulSettings matmul_;
  Status error_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

std::unique_ptr<Backend> make_cpu_backend(int threads) { return make_cpu_backend(CpuBackendOptions{threads}); }

}  // namespace ql::backend
