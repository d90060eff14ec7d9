// attention(): softmax(q . k^T * scale + mask) . v per query head, with GQA,
// a causal mask at an offset or block segments (MODEL.md §6.4, §9.3). The
// softmax is fp32 and subtracts the row maximum before exp.
//
// Work is split into (head, block of query rows) tasks. A block's scores are
// one sgemm over the union of its rows' visible keys; keys a row may not see
// get probability 0; then one more sgemm multiplies by v.
#include <algorithm>
#include <cmath>
#include <limits>

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

void check_segments(const AttentionSpec& spec, int64_t queries, int64_t keys) {
  const auto& seg = spec.segments;
  QL_CPU_REQUIRE(queries == keys, "attention: segments need one query per key, got {} queries and {} keys", queries,
                 keys);
  QL_CPU_REQUIRE(seg.size() >= 2 && seg.front() == 0 && seg.back() == keys,
                 "attention: segments must run from 0 to the {} keys ({} starts given)", keys, seg.size());
  for (size_t i = 1; i < seg.size(); ++i)
    QL_CPU_REQUIRE(seg[i] >= seg[i - 1], "attention: segment starts decrease at index {}", i);
}

// The keys query row `row` may see.
KeyRange visible_keys(const AttentionSpec& spec, int64_t row, int64_t keys) {
  if (spec.causal) return {0, spec.q_offset + row + 1};
  if (spec.segments.empty()) return {0, keys};
  // The segment holding `row`: the last start <= row.
  const auto it = std::upper_bound(spec.segments.begin(), spec.segments.end(), row);
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

}  // namespace

void attention(ThreadPool& pool, const Tensor& q_, const Tensor& k_, const Tensor& v_, const AttentionSpec& spec,
               Tensor& out_) {
  const CpuTensor& q = f32_arg(q_, "attention", "q");
  const CpuTensor& k = f32_arg(k_, "attention", "k");
  const CpuTensor& v = f32_arg(v_, "attention", "v");
  CpuTensor& out = f32_arg(out_, "attention", "out");
  const int64_t heads = spec.num_heads, kv_heads = spec.num_kv_heads, hd = spec.head_dim;
  QL_CPU_REQUIRE(heads > 0 && kv_heads > 0 && hd > 0 && heads % kv_heads == 0,
                 "attention: {} heads cannot share {} kv heads (head_dim {})", heads, kv_heads, hd);
  QL_CPU_REQUIRE(q.cols() == heads * hd, "attention: q {} is not {} heads x {}", shape_of(q), heads, hd);
  QL_CPU_REQUIRE(k.cols() == kv_heads * hd && v.rows() == k.rows() && v.cols() == k.cols(),
                 "attention: k {} and v {} must be [keys, {} x {}]", shape_of(k), shape_of(v), kv_heads, hd);
  QL_CPU_REQUIRE(out.rows() == q.rows() && out.cols() == q.cols(), "attention: out {} for q {}", shape_of(out),
                 shape_of(q));
  const int64_t queries = q.rows(), keys = k.rows();
  if (spec.causal) {
    QL_CPU_REQUIRE(spec.q_offset >= 0 && spec.q_offset + queries <= keys,
                   "attention: causal rows [{}, {}) need that many keys, k has {}", spec.q_offset,
                   spec.q_offset + queries, keys);
  } else if (!spec.segments.empty()) {
    check_segments(spec, queries, keys);
  }
  const int64_t group = heads / kv_heads;  // GQA: query head h reads kv head h / group
  const auto q_stride = static_cast<blasint>(q.cols()), kv_stride = static_cast<blasint>(k.cols());
  const int64_t blocks = (queries + kRowsPerBlock - 1) / kRowsPerBlock;

  pool.run(heads * blocks, [&](int64_t task) {
    const int64_t h = task % heads, kvh = h / group;
    const int64_t r0 = (task / heads) * kRowsPerBlock, r1 = std::min(queries, r0 + kRowsPerBlock);
    const int64_t rows = r1 - r0;
    KeyRange ranges[kRowsPerBlock];
    KeyRange span{keys, 0};  // union of the rows' ranges
    for (int64_t r = 0; r < rows; ++r) {
      ranges[r] = visible_keys(spec, r0 + r, keys);
      span.begin = std::min(span.begin, ranges[r].begin);
      span.end = std::max(span.end, ranges[r].end);
    }
    const int64_t n = span.end - span.begin;
    float* scores = thread_scratch(Scratch::kScores, static_cast<size_t>(rows * n));
    const float* qb = q.row(r0) + h * hd;
    const float* kb = k.row(span.begin) + kvh * hd;
    const float* vb = v.row(span.begin) + kvh * hd;
    float* ob = out.row(r0) + h * hd;
    // Zeroed first: BLAS may scale old contents by beta = 0, and 0 * NaN is NaN.
    std::fill(scores, scores + rows * n, 0.0f);
    for (int64_t r = 0; r < rows; ++r) std::fill_n(ob + r * q_stride, hd, 0.0f);
    // scores = scale * q_h . k_kvh^T, over keys the block can see at all.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(n),
                static_cast<blasint>(hd), spec.scale, qb, q_stride, kb, kv_stride, 0.0f, scores,
                static_cast<blasint>(n));
    softmax_rows(scores, rows, n, span.begin, ranges);
    // out_h = p . v_kvh
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows), static_cast<blasint>(hd),
                static_cast<blasint>(n), 1.0f, scores, static_cast<blasint>(n), vb, kv_stride, 0.0f, ob, q_stride);
  });
}

}  // namespace ql::backend::cpu
