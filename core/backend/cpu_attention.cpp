// attention() and attention_cached(): softmax(q . k^T * scale + mask) . v per
// query head, with GQA, block segments (the vision tower, docs/model.md §6.4) or a
// causal mask over each sequence's cached keys (docs/model.md §9.3). The
// softmax is fp32 and subtracts the row maximum before exp.
//
// Work is split into (head, block of query rows) tasks. A block's scores are
// one sgemm over the union of its rows' visible keys; keys a row may not see
// get probability 0; then one more sgemm multiplies by v.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

#include <cblas.h>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_scratch.h"
#include "core/backend/cpu_tensor.h"

namespace ql::backend::cpu {

namespace {

constexpr int64_t kRowsPerBlock = 32;

struct KeyRange {
  int64_t begin, end;
};

// Which keys each query row may see: causal at an offset, or block segments.
struct Visibility {
  bool causal = false;
  int64_t q_offset = 0;  // causal: query row i sits at key index q_offset + i
  std::span<const int64_t> segments;
};

void check_segments(std::span<const int64_t> seg, int64_t queries, int64_t keys) {
  QL_CPU_REQUIRE(queries == keys, "attention: segments need one query per key, got {} queries and {} keys", queries,
                 keys);
  QL_CPU_REQUIRE(seg.size() >= 2 && seg.front() == 0 && seg.back() == keys,
                 "attention: segments must run from 0 to the {} keys ({} starts given)", keys, seg.size());
  for (size_t i = 1; i < seg.size(); ++i)
    QL_CPU_REQUIRE(seg[i] >= seg[i - 1], "attention: segment starts decrease at index {}", i);
}

// The keys query row `row` may see.
KeyRange visible_keys(const Visibility& vis, int64_t row, int64_t keys) {
  if (vis.causal) return {0, vis.q_offset + row + 1};
  if (vis.segments.empty()) return {0, keys};
  // The segment holding `row`: the last start <= row.
  const auto it = std::upper_bound(vis.segments.begin(), vis.segments.end(), row);
  return {*(it - 1), *it};
}

// scores [rows, n] (row-major) -> probabilities, each row over its own
// visible keys [range.begin - first, range.end - first); 0 elsewhere.
void softmax_rows(float* scores, int64_t rows, int64_t n, int64_t first, const KeyRange* ranges) {
  for (int64_t r = 0; r < rows; ++r) {
    float* s = scores + r * n;
    const int64_t lo = ranges[r].begin - first, hi = ranges[r].end - first;
    float max_score = -std::numeric_limits<float>::infinity();
    for (int64_t j = lo; j < hi; ++j) max_score = std::max(max_score, s[j]);
    float sum = 0;
    for (int64_t j = lo; j < hi; ++j) sum += s[j] = std::exp(s[j] - max_score);
    for (int64_t j = 0; j < lo; ++j) s[j] = 0.0f;
    for (int64_t j = lo; j < hi; ++j) s[j] /= sum;
    for (int64_t j = hi; j < n; ++j) s[j] = 0.0f;
  }
}

// The product over raw rows: q [queries, heads*hd] (stride q_stride), k and v
// [keys, kv_heads*hd] (stride kv_stride), out like q.
void attend(ThreadPool& pool, const float* q_data, int64_t queries, int64_t q_stride, const float* k_data,
            const float* v_data, int64_t keys, int64_t kv_stride_, const AttentionSpec& spec, const Visibility& vis,
            float* out_data) {
  const int64_t heads = spec.num_heads, kv_heads = spec.num_kv_heads, hd = spec.head_dim;
  const int64_t group = heads / kv_heads;  // GQA: query head h reads kv head h / group
  const auto kv_stride = static_cast<blasint>(kv_stride_);
  const int64_t blocks = (queries + kRowsPerBlock - 1) / kRowsPerBlock;

  pool.run(heads * blocks, [&](int64_t task) {
    const int64_t h = task % heads, kvh = h / group;
    const int64_t r0 = (task / heads) * kRowsPerBlock, r1 = std::min(queries, r0 + kRowsPerBlock);
    const int64_t rows = r1 - r0;
    KeyRange ranges[kRowsPerBlock];
    KeyRange span{keys, 0};  // union of the rows' ranges
    for (int64_t r = 0; r < rows; ++r) {
      ranges[r] = visible_keys(vis, r0 + r, keys);
      span.begin = std::min(span.begin, ranges[r].begin);
      span.end = std::max(span.end, ranges[r].end);
    }
    const int64_t n = span.end - span.begin;
    float* scores = thread_scratch(Scratch::kScores, static_cast<size_t>(rows * n));
    const float* qb = q_data + r0 * q_stride + h * hd;
    const float* kb = k_data + span.begin * kv_stride_ + kvh * hd;
    const float* vb = v_data + span.begin * kv_stride_ + kvh * hd;
    float* ob = out_data + r0 * q_stride + h * hd;
    // Zeroed first: BLAS may scale old contents by beta = 0, and 0 * NaN is NaN.
    std::fill(scores, scores + rows * n, 0.0f);
    for (int64_t r = 0; r < rows; ++r) std::fill_n(ob + r * q_stride, hd, 0.0f);
    // scores = scale * q_h . k_kvh^T, over keys the block can see at all.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(n),
                static_cast<blasint>(hd), spec.scale, qb, static_cast<blasint>(q_stride), kb, kv_stride, 0.0f, scores,
                static_cast<blasint>(n));
    softmax_rows(scores, rows, n, span.begin, ranges);
    // out_h = p . v_kvh
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows), static_cast<blasint>(hd),
                static_cast<blasint>(n), 1.0f, scores, static_cast<blasint>(n), vb, kv_stride, 0.0f, ob,
                static_cast<blasint>(q_stride));
  });
}

void check_shapes(const AttentionSpec& spec, const CpuTensor& q, const CpuTensor& k, const CpuTensor& v,
                  const CpuTensor& out, const char* op) {
  const int64_t heads = spec.num_heads, kv_heads = spec.num_kv_heads, hd = spec.head_dim;
  QL_CPU_REQUIRE(heads > 0 && kv_heads > 0 && hd > 0 && heads % kv_heads == 0,
                 "{}: {} heads cannot share {} kv heads (head_dim {})", op, heads, kv_heads, hd);
  QL_CPU_REQUIRE(q.cols() == heads * hd, "{}: q {} is not {} heads x {}", op, shape_of(q), heads, hd);
  QL_CPU_REQUIRE(k.cols() == kv_heads * hd && v.rows() == k.rows() && v.cols() == k.cols(),
                 "{}: k {} and v {} must be [keys, {} x {}]", op, shape_of(k), shape_of(v), kv_heads, hd);
  QL_CPU_REQUIRE(out.rows() == q.rows() && out.cols() == q.cols(), "{}: out {} for q {}", op, shape_of(out),
                 shape_of(q));
}

}  // namespace

void attention(ThreadPool& pool, const Tensor& q_, const Tensor& k_, const Tensor& v_, const AttentionSpec& spec,
               std::span<const int64_t> segments, Tensor& out_) {
  const CpuTensor& q = f32_arg(q_, "attention", "q");
  const CpuTensor& k = f32_arg(k_, "attention", "k");
  const CpuTensor& v = f32_arg(v_, "attention", "v");
  CpuTensor& out = f32_arg(out_, "attention", "out");
  check_shapes(spec, q, k, v, out, "attention");
  if (!segments.empty()) check_segments(segments, q.rows(), k.rows());
  Visibility vis;
  vis.segments = segments;
  attend(pool, q.f32(), q.rows(), q.cols(), k.f32(), v.f32(), k.rows(), k.cols(), spec, vis, out.f32());
}

void attention_cached(ThreadPool& pool, const Tensor& q_, const Tensor& k_cache_, const Tensor& v_cache_,
                      const AttentionSpec& spec, const Tensor& spans_, Tensor& out_) {
  const CpuTensor& q = f32_arg(q_, "attention_cached", "q");
  const CpuTensor& k = f32_arg(k_cache_, "attention_cached", "k_cache");
  const CpuTensor& v = f32_arg(v_cache_, "attention_cached", "v_cache");
  const CpuTensor& spans = i32_arg(spans_, "attention_cached", "spans");
  CpuTensor& out = f32_arg(out_, "attention_cached", "out");
  check_shapes(spec, q, k, v, out, "attention_cached");
  QL_CPU_REQUIRE(spans.cols() == kSequenceSpanWords && spans.rows() >= 1, "attention_cached: spans {} must be [n, {}]",
                 shape_of(spans), kSequenceSpanWords);
  for (int64_t s = 0; s < spans.rows(); ++s) {
    const int32_t* sp = spans.i32() + s * kSequenceSpanWords;
    const SequenceSpan span{sp[0], sp[1], sp[2], sp[3]};
    QL_CPU_REQUIRE(span.q_start >= 0 && span.q_count >= 1 && span.q_start + span.q_count <= q.rows() &&
                       span.key_start >= 0 && span.key_count >= span.q_count &&
                       span.key_start + span.key_count <= k.rows(),
                   "attention_cached: sequence {} (queries {}+{}, keys {}+{}) does not fit q {} and cache {}", s,
                   span.q_start, span.q_count, span.key_start, span.key_count, shape_of(q), shape_of(k));
    Visibility vis;
    vis.causal = true;
    vis.q_offset = span.key_count - span.q_count;
    attend(pool, q.row(span.q_start), span.q_count, q.cols(), k.row(span.key_start), v.row(span.key_start),
           span.key_count, k.cols(), spec, vis, out.row(span.q_start));
  }
}

}  // namespace ql::backend::cpu
