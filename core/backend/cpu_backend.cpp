// CpuBackend: memory management and dispatch to the ops (cpu_ops.h).
#include "core/backend/cpu_backend.h"

#include <cblas.h>

#include <cstring>
#include <thread>

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

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options)
      : counter_(std::make_shared<std::atomic<size_t>>(0)),
        pool_(resolve_threads(options.threads)),
        matmul_{options.int8_outlier_threshold} {
    // OpenBLAS is called from inside the pool's tasks: its own threads would
    // only compete with ours for the same cores.
    openblas_set_num_threads(1);
  }

  std::string name() const override { return "cpu"; }

  // ---- memory ---------------------------------------------------------------
  TensorPtr new_tensor(DType dtype, int64_t rows, int64_t cols) override {
    QL_CPU_REQUIRE(rows >= 0 && cols >= 0, "new_tensor: negative shape [{}, {}]", rows, cols);
    const size_t bytes = static_cast<size_t>(rows) * static_cast<size_t>(cols) * 4;
    auto storage = cpu::AlignedBuffer::allocate(bytes, counter_);
    QL_CPU_REQUIRE(storage != nullptr, "new_tensor: out of memory for [{}, {}] ({} bytes)", rows, cols, bytes);
    return std::make_shared<CpuTensor>(dtype, rows, cols, std::move(storage), 0);
  }

  TensorPtr view(const TensorPtr& t, int64_t first_row, int64_t rows, int64_t cols) override {
    QL_CPU_REQUIRE(t != nullptr, "view: null tensor");
    const CpuTensor& base = cpu::any_arg(*t, "view", "t");
    QL_CPU_REQUIRE(first_row >= 0 && rows >= 0 && cols >= 0 && first_row * base.cols() + rows * cols <= base.numel(),
                   "view: [{}, {}] from row {} does not fit in {}", rows, cols, first_row, cpu::shape_of(base));
    return std::make_shared<CpuTensor>(base.dtype(), rows, cols, base.storage(),
                                       base.offset() + first_row * base.cols());
  }

  void write(Tensor& dst, const void* src, size_t bytes) override {
    CpuTensor& t = cpu::any_arg(dst, "write", "dst");
    QL_CPU_REQUIRE(bytes <= static_cast<size_t>(t.numel()) * 4, "write: {} bytes into {}", bytes, cpu::shape_of(t));
    if (bytes > 0) std::memcpy(t.f32(), src, bytes);
  }

  void read(const Tensor& src, void* dst, size_t bytes) override {
    const CpuTensor& t = cpu::any_arg(src, "read", "src");
    QL_CPU_REQUIRE(bytes <= static_cast<size_t>(t.numel()) * 4, "read: {} bytes from {}", bytes, cpu::shape_of(t));
    if (bytes > 0) std::memcpy(dst, t.f32(), bytes);
  }

  Result<WeightPtr> upload_weight(const HostWeight& w) override {
    auto r = cpu::upload_cpu_weight(w, counter_);
    if (!r.ok()) return r.error();
    return WeightPtr(std::move(r).value());
  }

  WeightPtr weight_rows(const WeightPtr& w, int64_t first, int64_t rows) override {
    QL_CPU_REQUIRE(w != nullptr, "weight_rows: null weight");
    return cpu::weight_arg(*w, "weight_rows", "w").rows_view(first, rows);
  }

  // ---- ops ------------------------------------------------------------------
  void embed(const Tensor& ids, const Weight& table, Tensor& out) override { cpu::embed(ids, table, out); }
  void linear(const Tensor& x, const Weight& w, const Weight* bias, Tensor& out) override {
    cpu::linear(pool_, x, w, bias, out, matmul_);
  }
  void rms_norm(const Tensor& x, const Weight& w, float eps, int64_t group, Tensor& out) override {
    cpu::rms_norm(pool_, x, w, eps, group, out);
  }
  void layer_norm(const Tensor& x, const Weight& w, const Weight& b, float eps, Tensor& out) override {
    cpu::layer_norm(pool_, x, w, b, eps, out);
  }
  void rope(Tensor& x, const Tensor& cos, const Tensor& sin, int head_dim) override {
    cpu::rope(pool_, x, cos, sin, head_dim);
  }
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionSpec& spec, Tensor& out) override {
    cpu::attention(pool_, q, k, v, spec, out);
  }
  void moe(const Tensor& x, const MoeWeights& w, Tensor& out) override { cpu::moe(pool_, x, w, out, matmul_); }
  void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) override { cpu::swiglu(pool_, gate, up, out); }
  void gelu(const Tensor& x, GeluKind kind, Tensor& out) override { cpu::gelu(pool_, x, kind, out); }
  void add(const Tensor& a, const Tensor& b, Tensor& out) override { cpu::add(pool_, a, b, out); }
  void add_weighted_rows(const Weight& table, const Tensor& indices, const Tensor& weights, Tensor& out) override {
    cpu::add_weighted_rows(table, indices, weights, out);
  }
  void scatter_rows(const Tensor& src, const Tensor& rows, Tensor& dst) override { cpu::scatter_rows(src, rows, dst); }
  void scatter_add_rows(const Tensor& src, const Tensor& rows, Tensor& dst) override {
    cpu::scatter_add_rows(src, rows, dst);
  }
  void copy_rows(const Tensor& src, Tensor& dst, int64_t dst_first) override { cpu::copy_rows(src, dst, dst_first); }
  void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) override { cpu::gather_rows(src, rows, out); }

  int32_t sample(const Tensor& logits, const SamplingParams& p, std::span<const int32_t> history,
                 double uniform) override {
    return cpu::sample(logits, p, history, uniform);
  }

  size_t bytes_in_use() const override { return *counter_; }

 private:
  cpu::ByteCounter counter_;
  cpu::ThreadPool pool_;
  cpu::MatmulSettings matmul_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

std::unique_ptr<Backend> make_cpu_backend(int threads) { return make_cpu_backend(CpuBackendOptions{threads}); }

}  // namespace ql::backend
