// attention(): softmax(q . k^T * scale + mask) . v per query head, with GQA,
// a causal mask at an offset or block segments (MODEL.md §6.4, §9.3). The
// softmax is fp32 and subtracts the row maximum before exp.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_scratch.h"
#include "core/backend/cpu_tensor.h"

namespace ql::backend::cpu {

namespace {

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
  const int64_t group = heads / kv_heads;
  const int64_t q_stride = q.cols(), kv_stride = k.cols();

  // One item per (query row, head); each writes its own head slice of out.
  const double cost = 2.0 * static_cast<double>(hd) * static_cast<double>(spec.causal ? spec.q_offset + queries : keys);
  parallel_for(pool, queries * heads, cost, [&](int64_t i0, int64_t i1) {
    float* scores = thread_scratch(Scratch::kScores, static_cast<size_t>(keys));
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t row = item / heads, h = item % heads, kvh = h / group;
      const float* qh = q.f32() + row * q_stride + h * hd;
      const KeyRange range = visible_keys(spec, row, keys);
      float max_score = -std::numeric_limits<float>::infinity();
      for (int64_t j = range.begin; j < range.end; ++j) {
        const float* kj = k.f32() + j * kv_stride + kvh * hd;
        float dot = 0;
        for (int64_t d = 0; d < hd; ++d) dot += qh[d] * kj[d];
        scores[j] = dot * spec.scale;
        max_score = std::max(max_score, scores[j]);
      }
      float sum = 0;
      for (int64_t j = range.begin; j < range.end; ++j) {
        scores[j] = std::exp(scores[j] - max_score);
        sum += scores[j];
      }
      float* o = out.f32() + row * q_stride + h * hd;
      std::fill(o, o + hd, 0.0f);
      for (int64_t j = range.begin; j < range.end; ++j) {
        const float p = scores[j] / sum;
        const float* vj = v.f32() + j * kv_stride + kvh * hd;
        for (int64_t d = 0; d < hd; ++d) o[d] += p * vj[d];
      }
    }
  });
}

}  // namespace ql::backend::cpu
