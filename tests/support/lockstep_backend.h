#pragma once
// A Backend that runs every op on two backends in lockstep: the one under
// test (CUDA) and the reference (CPU). Before an op, the reference's copy of
// each input is overwritten with the tested backend's values, so every op is
// compared on identical inputs and a divergence points at the op that made
// it, not at the ops after it. After the op both outputs are read back and
// compared; each call leaves one OpRecord. The model and the engine above it
// run unchanged (LoadOptions::make_backend), so a whole prefill and decode is
// checked op by op. Slow by design (every op reads its tensors back): for the
// tiny checkpoints only. Two CPU backends in lockstep must agree exactly
// (test_lockstep_backend.cpp, in CI); the CUDA one is checked in
// tests/gpu/test_gpu_op_parity.cpp.
//
// Weights are converted by each backend from the same HostWeight; it says it
// does not quantize on the device, so quantized formats arrive quantized on
// the host (the GPU quantizers' bytes equal the host's: test_gpu_quantize).
// Recording is off (every step runs its ops). Reference tensors of a 16-bit
// dtype (the tested KV cache) are fp32 on the reference.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/common/float16.h"

namespace ql::test {

// One op call: the worst relative error of an output row (||t - r|| / ||r||,
// rows of near-zero norm measured against the tensor's mean row norm), the
// whole output's relative error, and elements finite on one side only.
struct OpRecord {
  std::string op;      // "linear", "moe", ...
  std::string detail;  // shapes, weight name
  double worst_row = 0;
  double whole = 0;
  int64_t worst_row_index = -1;
  int64_t nonfinite_mismatches = 0;
};

class LockstepBackend final : public backend::Backend {
  using DType = backend::DType;
  using Tensor = backend::Tensor;
  using TensorPtr = backend::TensorPtr;
  using Weight = backend::Weight;
  using WeightPtr = backend::WeightPtr;

  class PairTensor final : public Tensor {
   public:
    PairTensor(TensorPtr t, TensorPtr r) : Tensor(t->dtype(), t->rows(), t->cols()), tested(std::move(t)), ref(std::move(r)) {}
    TensorPtr tested, ref;
  };
  class PairWeight final : public Weight {
   public:
    PairWeight(WeightPtr t, WeightPtr r, std::string n)
        : Weight(t->format(), t->rows(), t->cols(), t->stack()), tested(std::move(t)), ref(std::move(r)), name(std::move(n)) {}
    size_t owned_bytes() const override { return tested->owned_bytes(); }
    size_t stored_bytes() const override { return tested->stored_bytes(); }
    WeightPtr tested, ref;
    std::string name;
  };

 public:
  LockstepBackend(std::unique_ptr<Backend> tested, std::unique_ptr<Backend> reference)
      : t_(std::move(tested)), r_(std::move(reference)) {}

  // Every op call so far, in order (shared so a test keeps it after the engine drops the backend).
  std::shared_ptr<std::vector<OpRecord>> records() const { return records_; }

  std::string name() const override { return "lockstep " + t_->name() + "/" + r_->name(); }
  DType activation_dtype() const override { return t_->activation_dtype(); }
  DType kv_cache_dtype() const override { return t_->kv_cache_dtype(); }
  bool quantizes_on_device() const override { return false; }
  int64_t attention_scores_per_call() const override { return t_->attention_scores_per_call(); }

  TensorPtr new_tensor(DType d, int64_t rows, int64_t cols) override {
    return pair(t_->new_tensor(d, rows, cols), r_->new_tensor(ref_dtype(d), rows, cols));
  }
  TensorPtr new_persistent_tensor(DType d, int64_t rows, int64_t cols) override {
    return pair(t_->new_persistent_tensor(d, rows, cols), r_->new_persistent_tensor(ref_dtype(d), rows, cols));
  }
  void begin_step() override {
    t_->begin_step();
    r_->begin_step();
    marks_.clear();
  }
  // One mark stands for both backends' marks: its index in marks_ (marks nest).
  size_t arena_mark() const override {
    marks_.push_back({t_->arena_mark(), r_->arena_mark()});
    return marks_.size() - 1;
  }
  void rewind(size_t mark) override {
    if (mark >= marks_.size()) return;
    t_->rewind(marks_[mark].first);
    r_->rewind(marks_[mark].second);
    marks_.resize(mark + 1);
  }
  void reserve_workspace(size_t bytes) override {
    t_->reserve_workspace(bytes);
    r_->reserve_workspace(bytes);
  }
  TensorPtr view(const TensorPtr& t, int64_t first_row, int64_t rows, int64_t cols) override {
    const auto& p = P(*t);
    return pair(t_->view(p.tested, first_row, rows, cols), r_->view(p.ref, first_row, rows, cols));
  }
  void write(Tensor& dst, const void* src, size_t bytes) override {
    auto& p = P(dst);
    t_->write(*p.tested, src, bytes);
    if (p.ref->dtype() == p.tested->dtype()) {
      r_->write(*p.ref, src, bytes);
    } else {
      std::vector<float> f = widen(src, bytes, p.tested->dtype());
      r_->write(*p.ref, f.data(), f.size() * sizeof(float));
    }
  }
  void read(const Tensor& src, void* dst, size_t bytes) override { t_->read(*P(src).tested, dst, bytes); }
  Result<WeightPtr> upload_weight(const backend::HostWeight& w, quant::Dense16Report* fp16_losses) override {
    auto r = r_->upload_weight(w, fp16_losses);
    if (!r.ok()) return r.error();
    auto t = t_->upload_weight(w, nullptr);
    if (!t.ok()) return t.error();
    return WeightPtr(std::make_shared<PairWeight>(std::move(t).value(), std::move(r).value(), w.name));
  }
  WeightPtr weight_rows(const WeightPtr& w, int64_t first, int64_t rows) override {
    const auto& p = static_cast<const PairWeight&>(*w);
    return std::make_shared<PairWeight>(t_->weight_rows(p.tested, first, rows), r_->weight_rows(p.ref, first, rows),
                                        p.name + " rows " + std::to_string(first) + "+" + std::to_string(rows));
  }
  Status take_error() override {
    Status a = t_->take_error();
    Status b = r_->take_error();
    if (!a.ok()) return a;
    return b;
  }

  // ---- ops: sync inputs, run both, compare outputs ----------------------------
  void embed(const Tensor& ids, const Weight& table, Tensor& out) override {
    sync(ids);
    t_->embed(T(ids), TW(table), T(out));
    r_->embed(R(ids), RW(table), R(out));
    check("embed", name_of(table), out);
  }
  void linear(const Tensor& x, const Weight& w, const Weight* bias, Tensor& out, bool accumulate) override {
    sync(x);
    if (accumulate) sync(out);
    t_->linear(T(x), TW(w), bias ? &TW(*bias) : nullptr, T(out), accumulate);
    r_->linear(R(x), RW(w), bias ? &RW(*bias) : nullptr, R(out), accumulate);
    check("linear", name_of(w) + " " + weight_format_name(w.format()) + " x" + shape(x) + (bias ? " +bias" : "") +
                        (accumulate ? " +=" : ""),
          out);
  }
  // Each backend's own shared-input path (the CUDA one launches once for all targets); each
  // output checked as a linear of its own.
  void linear_same_input(const Tensor& x, std::span<const Weight* const> ws, std::span<Tensor* const> outs) override {
    sync(x);
    std::vector<const Weight*> tw, rw;
    std::vector<Tensor*> to, ro;
    for (size_t i = 0; i < ws.size() && i < outs.size(); ++i) {
      tw.push_back(&TW(*ws[i]));
      rw.push_back(&RW(*ws[i]));
      to.push_back(&T(*outs[i]));
      ro.push_back(&R(*outs[i]));
    }
    t_->linear_same_input(T(x), tw, to);
    r_->linear_same_input(R(x), rw, ro);
    for (size_t i = 0; i < tw.size(); ++i)
      check("linear", name_of(*ws[i]) + " " + weight_format_name(ws[i]->format()) + " x" + shape(x) + " (shared input)",
            *outs[i]);
  }
  void rms_norm(const Tensor& x, const Weight& w, float eps, int64_t group, Tensor& out) override {
    sync(x);
    t_->rms_norm(T(x), TW(w), eps, group, T(out));
    r_->rms_norm(R(x), RW(w), eps, group, R(out));
    check("rms_norm", name_of(w) + " x" + shape(x) + " group " + std::to_string(group), out);
  }
  void layer_norm(const Tensor& x, const Weight& w, const Weight& b, float eps, Tensor& out) override {
    sync(x);
    t_->layer_norm(T(x), TW(w), TW(b), eps, T(out));
    r_->layer_norm(R(x), RW(w), RW(b), eps, R(out));
    check("layer_norm", name_of(w) + " x" + shape(x), out);
  }
  void rope(Tensor& x, const Tensor& cos, const Tensor& sin, int head_dim) override {
    sync(x), sync(cos), sync(sin);
    t_->rope(T(x), T(cos), T(sin), head_dim);
    r_->rope(R(x), R(cos), R(sin), head_dim);
    check("rope", "x" + shape(x) + " head_dim " + std::to_string(head_dim), x);
  }
  void qk_norm_rope_cache(Tensor& q, const Tensor& k, const Tensor& v, const Weight& q_norm, const Weight& k_norm,
                          float eps, const Tensor& cos, const Tensor& sin, const Tensor& write_rows,
                          const backend::AttentionSpec& spec, Tensor& k_cache, Tensor& v_cache) override {
    sync(q), sync(k), sync(v), sync(cos), sync(sin), sync(write_rows), sync(k_cache), sync(v_cache);
    t_->qk_norm_rope_cache(T(q), T(k), T(v), TW(q_norm), TW(k_norm), eps, T(cos), T(sin), T(write_rows), spec,
                           T(k_cache), T(v_cache));
    r_->qk_norm_rope_cache(R(q), R(k), R(v), RW(q_norm), RW(k_norm), eps, R(cos), R(sin), R(write_rows), spec,
                           R(k_cache), R(v_cache));
    const std::string d = "q" + shape(q) + " " + name_of(q_norm);
    check("qk_norm_rope_cache q", d, q);
    check("qk_norm_rope_cache k_cache", d, k_cache);
    check("qk_norm_rope_cache v_cache", d, v_cache);
  }
  void attention_cached(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        const backend::AttentionSpec& spec, const Tensor& spans, Tensor& out) override {
    sync(q), sync(k_cache), sync(v_cache), sync(spans);
    t_->attention_cached(T(q), T(k_cache), T(v_cache), spec, T(spans), T(out));
    r_->attention_cached(R(q), R(k_cache), R(v_cache), spec, R(spans), R(out));
    check("attention_cached", "q" + shape(q) + " heads " + std::to_string(spec.num_heads) + "/" +
                                  std::to_string(spec.num_kv_heads) + " x" + std::to_string(spec.head_dim),
          out);
  }
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const backend::AttentionSpec& spec,
                 std::span<const int64_t> segments, Tensor& out) override {
    sync(q), sync(k), sync(v);
    t_->attention(T(q), T(k), T(v), spec, segments, T(out));
    r_->attention(R(q), R(k), R(v), spec, segments, R(out));
    check("attention (segments)", "q" + shape(q) + " heads " + std::to_string(spec.num_heads) + " x" +
                                      std::to_string(spec.head_dim) + " segments " +
                                      std::to_string(segments.empty() ? 1 : segments.size() - 1),
          out);
  }
  void moe(const Tensor& x, const backend::MoeWeights& w, Tensor& out, bool accumulate) override {
    sync(x);
    if (accumulate) sync(out);
    backend::MoeWeights tw{PW(*w.router).tested, PW(*w.gate_up).tested, PW(*w.down).tested, w.top_k};
    backend::MoeWeights rw{PW(*w.router).ref, PW(*w.gate_up).ref, PW(*w.down).ref, w.top_k};
    t_->moe(T(x), tw, T(out), accumulate);
    r_->moe(R(x), rw, R(out), accumulate);
    check("moe", name_of(*w.gate_up) + " " + weight_format_name(w.gate_up->format()) + " x" + shape(x), out);
  }
  void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) override {
    sync(gate), sync(up);
    t_->swiglu(T(gate), T(up), T(out));
    r_->swiglu(R(gate), R(up), R(out));
    check("swiglu", shape(out), out);
  }
  void gelu(const Tensor& x, backend::GeluKind kind, Tensor& out) override {
    sync(x);
    t_->gelu(T(x), kind, T(out));
    r_->gelu(R(x), kind, R(out));
    check(kind == backend::GeluKind::kTanh ? "gelu tanh" : "gelu erf", shape(out), out);
  }
  void add(const Tensor& a, const Tensor& b, Tensor& out) override {
    sync(a), sync(b);
    t_->add(T(a), T(b), T(out));
    r_->add(R(a), R(b), R(out));
    check("add", shape(out), out);
  }
  void add_weighted_rows(const Weight& table, const Tensor& indices, const Tensor& weights, Tensor& out) override {
    sync(indices), sync(weights), sync(out);
    t_->add_weighted_rows(TW(table), T(indices), T(weights), T(out));
    r_->add_weighted_rows(RW(table), R(indices), R(weights), R(out));
    check("add_weighted_rows", name_of(table) + " out" + shape(out), out);
  }
  void scatter_rows(const Tensor& src, const Tensor& rows, Tensor& dst) override {
    sync(src), sync(rows), sync(dst);
    t_->scatter_rows(T(src), T(rows), T(dst));
    r_->scatter_rows(R(src), R(rows), R(dst));
    check("scatter_rows", shape(src) + " into" + shape(dst), dst);
  }
  void scatter_add_rows(const Tensor& src, const Tensor& rows, Tensor& dst) override {
    sync(src), sync(rows), sync(dst);
    t_->scatter_add_rows(T(src), T(rows), T(dst));
    r_->scatter_add_rows(R(src), R(rows), R(dst));
    check("scatter_add_rows", shape(src) + " into" + shape(dst), dst);
  }
  void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) override {
    sync(src), sync(rows);
    t_->gather_rows(T(src), T(rows), T(out));
    r_->gather_rows(R(src), R(rows), R(out));
    check("gather_rows", shape(src) + " to" + shape(out), out);
  }
  void zero(Tensor& t) override {
    t_->zero(T(t));
    r_->zero(R(t));
    check("zero", shape(t), t);
  }
  void sample(const Tensor& logits, const Tensor& inputs, Tensor* seen, Tensor& token) override {
    sync(logits), sync(inputs);
    if (seen) sync(*seen);
    t_->sample(T(logits), T(inputs), seen ? &T(*seen) : nullptr, T(token));
    r_->sample(R(logits), R(inputs), seen ? &R(*seen) : nullptr, R(token));
    check("sample token", "logits" + shape(logits), token);
    if (seen) check("sample seen", shape(*seen), *seen);
  }
  void mark_seen(const Tensor& ids, Tensor& seen) override {
    sync(ids), sync(seen);
    t_->mark_seen(T(ids), T(seen));
    r_->mark_seen(R(ids), R(seen));
    check("mark_seen", shape(ids), seen);
  }

  size_t bytes_in_use() const override { return t_->bytes_in_use(); }
  backend::MemoryInfo memory_info() const override { return t_->memory_info(); }
  double copy_bandwidth_gbps(size_t bytes) override { return t_->copy_bandwidth_gbps(bytes); }

 private:
  static DType ref_dtype(DType d) { return d == DType::kBF16 || d == DType::kF16 ? DType::kF32 : d; }
  TensorPtr pair(TensorPtr t, TensorPtr r) {
    if (!t || !r) return nullptr;
    return std::make_shared<PairTensor>(std::move(t), std::move(r));
  }
  static const PairTensor& P(const Tensor& t) { return static_cast<const PairTensor&>(t); }
  static PairTensor& P(Tensor& t) { return static_cast<PairTensor&>(t); }
  static const PairWeight& PW(const Weight& w) { return static_cast<const PairWeight&>(w); }
  static Tensor& T(const Tensor& t) { return *P(t).tested; }
  static Tensor& R(const Tensor& t) { return *P(t).ref; }
  static const Weight& TW(const Weight& w) { return *PW(w).tested; }
  static const Weight& RW(const Weight& w) { return *PW(w).ref; }
  static std::string name_of(const Weight& w) { return PW(w).name; }
  static std::string shape(const Tensor& t) {
    return "[" + std::to_string(t.rows()) + ", " + std::to_string(t.cols()) + "]";
  }

  static std::vector<float> widen(const void* src, size_t bytes, DType d) {
    std::vector<float> f;
    if (d == DType::kF32) {
      f.resize(bytes / 4);
      std::memcpy(f.data(), src, f.size() * 4);
    } else {
      std::vector<uint16_t> h(bytes / 2);
      std::memcpy(h.data(), src, h.size() * 2);
      f.resize(h.size());
      for (size_t i = 0; i < h.size(); ++i) f[i] = d == DType::kBF16 ? bf16_to_f32(h[i]) : f16_to_f32(h[i]);
    }
    return f;
  }
  // The tested backend's values of t, as floats (I32 as its integers).
  std::vector<float> tested_values(const Tensor& t) {
    const Tensor& x = T(t);
    std::vector<uint8_t> raw(x.bytes());
    t_->read(x, raw.data(), raw.size());
    if (x.dtype() == DType::kI32) {
      std::vector<float> f(raw.size() / 4);
      for (size_t i = 0; i < f.size(); ++i) {
        int32_t v;
        std::memcpy(&v, raw.data() + 4 * i, 4);
        f[i] = static_cast<float>(v);
      }
      return f;
    }
    return widen(raw.data(), raw.size(), x.dtype());
  }
  std::vector<float> ref_values(const Tensor& t) {
    const Tensor& x = R(t);
    std::vector<float> f(static_cast<size_t>(x.numel()));
    if (x.dtype() == DType::kI32) {
      std::vector<int32_t> v(f.size());
      r_->read(x, v.data(), v.size() * 4);
      for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(v[i]);
    } else {
      r_->read(x, f.data(), f.size() * 4);
    }
    return f;
  }
  // The reference's copy of an input := the tested backend's values.
  void sync(const Tensor& t) {
    const Tensor& x = T(t);
    std::vector<uint8_t> raw(x.bytes());
    t_->read(x, raw.data(), raw.size());
    if (R(t).dtype() == x.dtype()) {
      r_->write(R(t), raw.data(), raw.size());
    } else {
      std::vector<float> f = widen(raw.data(), raw.size(), x.dtype());
      r_->write(R(t), f.data(), f.size() * sizeof(float));
    }
  }
  void check(const char* op, std::string detail, const Tensor& out) {
    const std::vector<float> a = tested_values(out), b = ref_values(out);
    OpRecord rec{op, std::move(detail)};
    const int64_t rows = out.rows(), cols = out.cols();
    std::vector<double> num(rows, 0), den(rows, 0);
    double num_all = 0, den_all = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float x = a[r * cols + c], y = b[r * cols + c];
        if (!std::isfinite(x) || !std::isfinite(y)) {
          const bool same = (std::isnan(x) && std::isnan(y)) || x == y;
          if (!same) ++rec.nonfinite_mismatches;
          continue;
        }
        const double d = static_cast<double>(x) - y;
        num[r] += d * d;
        den[r] += static_cast<double>(y) * y;
      }
      num_all += num[r];
      den_all += den[r];
    }
    rec.whole = std::sqrt(num_all / std::max(den_all, 1e-30));
    // Rows far below the mean norm (a zero row, an unwritten cache row) are measured against it.
    const double floor = 1e-6 * den_all / std::max<int64_t>(rows, 1);
    for (int64_t r = 0; r < rows; ++r) {
      const double e = std::sqrt(num[r] / std::max({den[r], floor, 1e-30}));
      if (e > rec.worst_row) {
        rec.worst_row = e;
        rec.worst_row_index = r;
      }
    }
    records_->push_back(std::move(rec));
  }

  std::unique_ptr<Backend> t_, r_;
  mutable std::vector<std::pair<size_t, size_t>> marks_;
  std::shared_ptr<std::vector<OpRecord>> records_ = std::make_shared<std::vector<OpRecord>>();
};

}  // namespace ql::test
