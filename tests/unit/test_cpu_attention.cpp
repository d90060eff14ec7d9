// attention() (segments, the vision tower) and attention_cached() (causal over
// each sequence's span of a KV cache): hand cases, GQA with past keys in a
// cache longer than needed, two sequences in one call, against a double
// reference.
#include <limits>

#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

// Double reference: for query row i, head h, the keys [lo(i), hi(i)).
template <typename Range>
std::vector<double> reference_attention(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, int64_t rows, const AttentionSpec& s,
                                        Range visible) {
  const int64_t hd = s.head_dim, qc = s.num_heads * hd, kc = s.num_kv_heads * hd;
  std::vector<double> out(rows * qc);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t h = 0; h < s.num_heads; ++h) {
      const int64_t kvh = h / (s.num_heads / s.num_kv_heads);
      const auto [lo, hi] = visible(i);
      std::vector<double> score(hi - lo);
      double max_score = -1e300;
      for (int64_t j = lo; j < hi; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(q[i * qc + h * hd + d]) * k[j * kc + kvh * hd + d];
        score[j - lo] = dot * s.scale;
        max_score = std::max(max_score, score[j - lo]);
      }
      double sum = 0;
      for (double& p : score) sum += p = std::exp(p - max_score);
      for (int64_t d = 0; d < hd; ++d) {
        double acc = 0;
        for (int64_t j = lo; j < hi; ++j) acc += score[j - lo] / sum * v[j * kc + kvh * hd + d];
        out[i * qc + h * hd + d] = acc;
      }
    }
  return out;
}

// Outputs are averages of v: errors scale with max |v| (here 1).
std::vector<double> unit_scale(size_t n) { return std::vector<double>(n, 1.0); }

TensorPtr spans_tensor(Backend& be, const std::vector<SequenceSpan>& spans) {
  std::vector<int32_t> words;
  for (const auto& s : spans) words.insert(words.end(), {s.q_start, s.q_count, s.key_start, s.key_count});
  auto t = be.new_tensor(DType::kI32, static_cast<int64_t>(spans.size()), kSequenceSpanWords);
  be.write(*t, words.data(), words.size() * 4);
  return t;
}

TEST(CpuAttention, TwoKeysByHand) {
  auto be = make_cpu_backend(2);
  AttentionSpec spec;
  spec.num_heads = 1;
  spec.num_kv_heads = 1;
  spec.head_dim = 2;
  spec.scale = 1.0f;
  // Scores 0 and ln 3 -> weights 1/4, 3/4 -> 1/4 [4, 0] + 3/4 [0, 8] = [1, 6].
  const float ln3 = std::log(3.0f);
  auto q = tensor_from(*be, 1, 2, {1.0f, 0.0f});
  auto k = tensor_from(*be, 2, 2, {0.0f, 5.0f, ln3, -7.0f});
  auto v = tensor_from(*be, 2, 2, {4.0f, 0.0f, 0.0f, 8.0f});
  auto out = poisoned(*be, 1, 2);
  be->attention(*q, *k, *v, spec, {}, *out);
  expect_close(read_all(*be, *out), {1.0, 6.0}, 1e-6);

  // Cached: one new token as the only key -> v0.
  be->attention_cached(*q, *k, *v, spec, *spans_tensor(*be, {{0, 1, 0, 1}}), *out);
  expect_close(read_all(*be, *out), {4.0, 0.0}, 1e-6);
  // With one key before it, it sees both keys again.
  be->attention_cached(*q, *k, *v, spec, *spans_tensor(*be, {{0, 1, 0, 2}}), *out);
  expect_close(read_all(*be, *out), {1.0, 6.0}, 1e-6);
  // A sequence whose span starts at cache row 1 sees only that key -> v1.
  be->attention_cached(*q, *k, *v, spec, *spans_tensor(*be, {{0, 1, 1, 1}}), *out);
  expect_close(read_all(*be, *out), {0.0, 8.0}, 1e-6);
}

// Decode/chunked prefill: 3 query rows at absolute positions 5..7 of a cache
// of 20 rows, of which only 8 are filled; the rest is NaN and must not be read.
TEST(CpuAttention, GqaCausalWithOffsetInLongerCache) {
  auto be = make_cpu_backend(3);
  AttentionSpec spec;
  spec.num_heads = 6;
  spec.num_kv_heads = 2;
  spec.head_dim = 8;
  spec.scale = 1.0f / std::sqrt(8.0f);
  const int64_t rows = 3, filled = 8, capacity = 20, kc = 2 * 8, qc = 6 * 8;
  const auto q_values = random_values(rows * qc, 1, -2.0f, 2.0f);
  auto k_values = random_values(capacity * kc, 2, -2.0f, 2.0f);
  auto v_values = random_values(capacity * kc, 3);
  for (int64_t i = filled * kc; i < capacity * kc; ++i) k_values[i] = v_values[i] = std::nanf("");
  auto q = tensor_from(*be, rows, qc, q_values);
  auto k_cache = tensor_from(*be, capacity, kc, k_values);
  auto v_cache = tensor_from(*be, capacity, kc, v_values);
  auto out = poisoned(*be, rows, qc);
  // The whole cache is passed: the span alone limits the keys (5 before, 3 new).
  be->attention_cached(*q, *k_cache, *v_cache, spec, *spans_tensor(*be, {{0, 3, 0, filled}}), *out);
  const auto want = reference_attention(q_values, k_values, v_values, rows, spec,
                                        [&](int64_t i) { return std::pair<int64_t, int64_t>{0, 5 + i + 1}; });
  expect_close(read_all(*be, *out), want, 1e-5, unit_scale(want.size()));

  // A view of exactly the filled rows gives the same result.
  auto out2 = poisoned(*be, rows, qc);
  be->attention_cached(*q, *be->view(k_cache, 0, filled, kc), *be->view(v_cache, 0, filled, kc), spec,
                       *spans_tensor(*be, {{0, 3, 0, filled}}), *out2);
  expect_close(read_all(*be, *out2), want, 1e-5, unit_scale(want.size()));
}

// Two sequences in one call (what batching adds): rows 0-1 belong to a
// sequence of 4 keys at cache rows 10..13, row 2 to one of 7 keys at rows 0..6.
TEST(CpuAttention, TwoSequencesInOneCall) {
  auto be = make_cpu_backend(2);
  AttentionSpec spec;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  spec.head_dim = 4;
  spec.scale = 0.5f;
  const int64_t rows = 3, capacity = 16, kc = 8, qc = 16;
  const auto q_values = random_values(rows * qc, 21, -2.0f, 2.0f);
  const auto k_values = random_values(capacity * kc, 22, -2.0f, 2.0f);
  const auto v_values = random_values(capacity * kc, 23);
  auto out = poisoned(*be, rows, qc);
  be->attention_cached(*tensor_from(*be, rows, qc, q_values), *tensor_from(*be, capacity, kc, k_values),
                       *tensor_from(*be, capacity, kc, v_values), spec,
                       *spans_tensor(*be, {{0, 2, 10, 4}, {2, 1, 0, 7}}), *out);
  const auto want = reference_attention(q_values, k_values, v_values, rows, spec, [](int64_t i) {
    if (i == 0) return std::pair<int64_t, int64_t>{10, 13};  // 2 old keys + itself
    if (i == 1) return std::pair<int64_t, int64_t>{10, 14};
    return std::pair<int64_t, int64_t>{0, 7};
  });
  expect_close(read_all(*be, *out), want, 1e-5, unit_scale(want.size()));
}

TEST(CpuAttention, NonCausalSeesAllKeys) {
  auto be = make_cpu_backend(2);
  AttentionSpec spec;
  spec.num_heads = 4;
  spec.num_kv_heads = 4;
  spec.head_dim = 12;
  spec.scale = 0.3f;
  const int64_t rows = 5, keys = 9, qc = 48;
  const auto q_values = random_values(rows * qc, 4, -2.0f, 2.0f);
  const auto k_values = random_values(keys * qc, 5, -2.0f, 2.0f);
  const auto v_values = random_values(keys * qc, 6);
  auto out = poisoned(*be, rows, qc);
  be->attention(*tensor_from(*be, rows, qc, q_values), *tensor_from(*be, keys, qc, k_values),
                *tensor_from(*be, keys, qc, v_values), spec, {}, *out);
  const auto want = reference_attention(q_values, k_values, v_values, rows, spec,
                                        [&](int64_t) { return std::pair<int64_t, int64_t>{0, keys}; });
  expect_close(read_all(*be, *out), want, 1e-5, unit_scale(want.size()));
}

// Vision attention over two images of 5 and 3 patches (plus an empty
// segment): a patch sees only the patches of its own image.
TEST(CpuAttention, BlockSegmentsKeepImagesApart) {
  auto be = make_cpu_backend(2);
  AttentionSpec spec;
  spec.num_heads = 2;
  spec.num_kv_heads = 2;
  spec.head_dim = 6;
  spec.scale = 1.0f / std::sqrt(6.0f);
  const std::vector<int64_t> segments = {0, 5, 5, 8};
  const int64_t rows = 8, qc = 12;
  const auto q_values = random_values(rows * qc, 7, -2.0f, 2.0f);
  const auto k_values = random_values(rows * qc, 8, -2.0f, 2.0f);
  auto v_values = random_values(rows * qc, 9);
  auto out = poisoned(*be, rows, qc);
  auto q = tensor_from(*be, rows, qc, q_values), k = tensor_from(*be, rows, qc, k_values);
  be->attention(*q, *k, *tensor_from(*be, rows, qc, v_values), spec, segments, *out);
  const auto visible = [](int64_t i) { return i < 5 ? std::pair<int64_t, int64_t>{0, 5} : std::pair<int64_t, int64_t>{5, 8}; };
  const auto want = reference_attention(q_values, k_values, v_values, rows, spec, visible);
  const auto got = read_all(*be, *out);
  expect_close(got, want, 1e-5, unit_scale(want.size()));

  // Changing the second image's values leaves the first image's outputs alone.
  for (int64_t i = 5 * qc; i < rows * qc; ++i) v_values[i] += 10.0f;
  auto out2 = poisoned(*be, rows, qc);
  be->attention(*q, *k, *tensor_from(*be, rows, qc, v_values), spec, segments, *out2);
  const auto got2 = read_all(*be, *out2);
  for (int64_t i = 0; i < 5 * qc; ++i) EXPECT_EQ(got2[i], got[i]) << i;
  for (int64_t i = 5 * qc; i < rows * qc; ++i) EXPECT_NEAR(got2[i], got[i] + 10.0f, 1e-4) << i;
}

// Scores in the thousands: the max is subtracted before exp, so no overflow.
TEST(CpuAttention, LargeScoresStayFinite) {
  auto be = make_cpu_backend(2);
  AttentionSpec spec;
  spec.num_heads = 1;
  spec.num_kv_heads = 1;
  spec.head_dim = 4;
  spec.scale = 100.0f;
  const auto q_values = random_values(3 * 4, 10, 2.0f, 4.0f);
  const auto k_values = random_values(6 * 4, 11, 2.0f, 4.0f);
  const auto v_values = random_values(6 * 4, 12);
  auto out = poisoned(*be, 3, 4);
  be->attention(*tensor_from(*be, 3, 4, q_values), *tensor_from(*be, 6, 4, k_values),
                *tensor_from(*be, 6, 4, v_values), spec, {}, *out);
  const auto want = reference_attention(q_values, k_values, v_values, 3, spec,
                                        [](int64_t) { return std::pair<int64_t, int64_t>{0, 6}; });
  // Scores ~1e3 carry fp32 errors ~1e-4 into the exponent.
  expect_close(read_all(*be, *out), want, 1e-3, unit_scale(want.size()));
}

}  // namespace
}  // namespace ql::backend::test
