// Row ops: embed, gather, scatter (set and add), copy_rows into a KV cache,
// and add_weighted_rows (vision position-embedding interpolation).
#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

TEST(CpuRows, EmbedLooksUpRowsOfEveryFormat) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const int64_t vocab = 50, hidden = 6;
  const auto table_values = exact_values(vocab * hidden, 1);
  for (auto format : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16}) {
    auto table = hw.upload(table_values, vocab, hidden, format, false, /*misalign=*/format == WeightFormat::kF16);
    const std::vector<int32_t> ids = {49, 0, 7, 7};
    auto out = poisoned(*be, 4, hidden);
    be->embed(*ids_from(*be, ids), *table, *out);
    const auto got = read_all(*be, *out);
    for (size_t i = 0; i < ids.size(); ++i)
      for (int64_t c = 0; c < hidden; ++c)
        EXPECT_EQ(got[i * hidden + c], table_values[ids[i] * hidden + c]) << weight_format_name(format);
  }
}

TEST(CpuRows, GatherAndScatter) {
  auto be = make_cpu_backend(2);
  const std::vector<float> src_values = {0, 1, 10, 11, 20, 21, 30, 31};  // 4 rows of 2
  auto src = tensor_from(*be, 4, 2, src_values);

  auto gathered = poisoned(*be, 3, 2);
  be->gather_rows(*src, *ids_from(*be, {3, 0, 3}), *gathered);
  EXPECT_EQ(read_all(*be, *gathered), (std::vector<float>{30, 31, 0, 1, 30, 31}));

  // Image embeddings into the rows of their pad tokens; other rows unchanged.
  auto dst = tensor_from(*be, 5, 2, std::vector<float>(10, -1.0f));
  be->scatter_rows(*be->view(src, 1, 2, 2), *ids_from(*be, {4, 1}), *dst);
  EXPECT_EQ(read_all(*be, *dst), (std::vector<float>{-1, -1, 20, 21, -1, -1, -1, -1, 10, 11}));

  // DeepStack: added onto the rows; a repeated row gets both.
  be->scatter_add_rows(*src, *ids_from(*be, {0, 4, 0, 2}), *dst);
  EXPECT_EQ(read_all(*be, *dst), (std::vector<float>{-1 + 0 + 20, -1 + 1 + 21, 20, 21, -1 + 30, -1 + 31, -1, -1,
                                                      10 + 10, 11 + 11}));
}

TEST(CpuRows, ScatterRowsWritesACache) {
  auto be = make_cpu_backend(2);
  auto cache = poisoned(*be, 6, 3);
  be->scatter_rows(*tensor_from(*be, 2, 3, {1, 2, 3, 4, 5, 6}), *ids_from(*be, {0, 1}), *cache);
  be->scatter_rows(*tensor_from(*be, 1, 3, {7, 8, 9}), *ids_from(*be, {2}), *cache);
  const auto got = read_all(*be, *cache);
  EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + 9), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(count_nan(got), 9u) << "rows 3..5 must be untouched";
}

TEST(CpuRows, ZeroClearsEveryElement) {
  auto be = make_cpu_backend(2);
  auto t = poisoned(*be, 3, 5);
  be->zero(*t);
  EXPECT_EQ(read_all(*be, *t), std::vector<float>(15, 0.0f));
  auto ids = ids_from(*be, {4, 5, 6});
  be->zero(*ids);
  std::vector<int32_t> back(3, -1);
  be->read(*ids, back.data(), 12);
  EXPECT_EQ(back, (std::vector<int32_t>{0, 0, 0}));
}

TEST(CpuRows, AddWeightedRowsInterpolates) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const int64_t table_rows = 16, cols = 5, rows = 7, taps = 4;
  const auto table_values = exact_values(table_rows * cols, 2);
  auto table = hw.upload(table_values, table_rows, cols, WeightFormat::kBF16);
  std::vector<int32_t> idx(rows * taps);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int32_t>((i * 7 + 3) % table_rows);
  const auto weights = random_values(rows * taps, 3, 0.0f, 1.0f);
  const auto x_values = random_values(rows * cols, 4);
  auto out = tensor_from(*be, rows, cols, x_values);
  be->add_weighted_rows(*table, *ids_from(*be, idx, taps), *tensor_from(*be, rows, taps, weights), *out);
  std::vector<double> want(rows * cols), scale(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < cols; ++c) {
      double sum = x_values[i * cols + c], size = std::abs(x_values[i * cols + c]);
      for (int64_t j = 0; j < taps; ++j) {
        const double term = static_cast<double>(weights[i * taps + j]) * table_values[idx[i * taps + j] * cols + c];
        sum += term;
        size += std::abs(term);
      }
      want[i * cols + c] = sum;
      scale[i * cols + c] = size;
    }
  expect_close(read_all(*be, *out), want, 1e-6, scale);
}

}  // namespace
}  // namespace ql::backend::test
