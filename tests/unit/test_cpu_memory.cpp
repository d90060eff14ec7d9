// CPU backend memory: tensors, views, read/write, weights borrowed or copied,
// row ranges of weights, bytes_in_use, and upload errors that name the weight.
#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

TEST(CpuMemory, NamesOfBackendAndFormats) {
  auto be = make_cpu_backend(2);
  EXPECT_EQ(be->name(), "cpu");
  EXPECT_STREQ(weight_format_name(WeightFormat::kF32), "F32");
  EXPECT_STREQ(weight_format_name(WeightFormat::kBF16), "BF16");
  EXPECT_STREQ(weight_format_name(WeightFormat::kF16), "F16");
}

TEST(CpuMemory, WriteThenReadGivesTheSameValues) {
  auto be = make_cpu_backend(2);
  const auto values = random_values(6 * 5, 1);
  auto t = tensor_from(*be, 6, 5, values);
  EXPECT_EQ(t->dtype(), DType::kF32);
  EXPECT_EQ(t->rows(), 6);
  EXPECT_EQ(t->cols(), 5);
  EXPECT_EQ(read_all(*be, *t), values);

  auto ids = ids_from(*be, {7, -3, 151935});
  std::vector<int32_t> back(3);
  be->read(*ids, back.data(), back.size() * sizeof(int32_t));
  EXPECT_EQ(back, (std::vector<int32_t>{7, -3, 151935}));
}

TEST(CpuMemory, ViewsShareStorage) {
  auto be = make_cpu_backend(2);
  std::vector<float> values(4 * 6);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  auto t = tensor_from(*be, 4, 6, values);

  auto rows_1_2 = be->view(t, 1, 2, 6);  // a row range
  EXPECT_EQ(read_all(*be, *rows_1_2), std::vector<float>(values.begin() + 6, values.begin() + 18));

  auto reshaped = be->view(t, 2, 4, 3);  // rows 2..3 seen as [4, 3]
  EXPECT_EQ(reshaped->rows(), 4);
  EXPECT_EQ(reshaped->cols(), 3);
  EXPECT_EQ(read_all(*be, *reshaped), std::vector<float>(values.begin() + 12, values.end()));

  // A write through a view of a view lands in the base tensor.
  auto inner = be->view(rows_1_2, 1, 1, 6);  // base row 2
  const std::vector<float> minus(6, -1.0f);
  be->write(*inner, minus.data(), minus.size() * sizeof(float));
  const auto all = read_all(*be, *t);
  for (int c = 0; c < 6; ++c) {
    EXPECT_EQ(all[2 * 6 + c], -1.0f);
    EXPECT_EQ(all[1 * 6 + c], values[6 + c]);
    EXPECT_EQ(all[3 * 6 + c], values[18 + c]);
  }
}

TEST(CpuMemory, BytesInUseCountsTensorsAndCopiesOnly) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const size_t before = be->bytes_in_use();
  {
    // Step tensors come from the arena: the first step's block grows to what
    // the step needed and is kept for the next steps (no allocation per token).
    auto t = be->new_tensor(DType::kF32, 10, 10);
    EXPECT_EQ(be->bytes_in_use(), before + 448);  // 400 rounded up to the 64-byte alignment
    auto v = be->view(t, 0, 5, 10);
    EXPECT_EQ(be->bytes_in_use(), before + 448);  // a view owns nothing
    // Persistent tensors are counted while they live.
    auto p = be->new_persistent_tensor(DType::kBF16, 10, 10);
    EXPECT_EQ(be->bytes_in_use(), before + 448 + 200);
    EXPECT_EQ(be->memory_info().kv_cache, 200u);
  }
  be->begin_step();
  EXPECT_EQ(be->memory_info().workspace, 448u);  // one block of the high-water size
  EXPECT_EQ(be->memory_info().kv_cache, 0u);
  auto again = be->new_tensor(DType::kF32, 10, 10);
  EXPECT_EQ(be->memory_info().workspace, 448u) << "a repeated step allocates nothing new";
  again.reset();
  const size_t after_step = be->bytes_in_use();

  const auto values = exact_values(8 * 12, 2);
  auto borrowed = hw.upload(values, 8, 12, WeightFormat::kBF16);
  EXPECT_EQ(borrowed->owned_bytes(), 0u);
  EXPECT_EQ(be->bytes_in_use(), after_step);

  auto transposed = hw.upload(values, 8, 12, WeightFormat::kBF16, /*transposed=*/true);
  EXPECT_EQ(transposed->owned_bytes(), 8u * 12u * 2u);
  auto misaligned = hw.upload(values, 8, 12, WeightFormat::kF32, false, /*misalign=*/true);
  EXPECT_EQ(misaligned->owned_bytes(), 8u * 12u * 4u);
  EXPECT_EQ(be->bytes_in_use(), after_step + 8 * 12 * 2 + 8 * 12 * 4);
  EXPECT_EQ(be->memory_info().weights, 8u * 12u * 2u + 8u * 12u * 4u);

  auto rows = be->weight_rows(transposed, 2, 3);  // shares the copy, counted once
  EXPECT_EQ(rows->owned_bytes(), 0u);
  EXPECT_EQ(be->bytes_in_use(), after_step + 8 * 12 * 2 + 8 * 12 * 4);
  transposed.reset();  // the row view keeps the copy alive
  EXPECT_EQ(be->bytes_in_use(), after_step + 8 * 12 * 2 + 8 * 12 * 4);
  rows.reset();
  misaligned.reset();
  EXPECT_EQ(be->bytes_in_use(), after_step);
}

// The aligned, row-major case reads the caller's bytes in place: an edit of
// the host bytes after upload shows in the next product.
TEST(CpuMemory, AlignedWeightIsBorrowedNotCopied) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  auto w = hw.upload({1.0f, 2.0f, 3.0f, 4.0f}, 2, 2, WeightFormat::kF32);
  auto x = tensor_from(*be, 1, 2, {1.0f, 1.0f});
  auto out = poisoned(*be, 1, 2);
  be->linear(*x, *w, nullptr, *out, false);
  EXPECT_EQ(read_all(*be, *out), (std::vector<float>{3.0f, 7.0f}));

  const float ten = 10.0f;
  std::memcpy(hw.last_bytes().data() + 16, &ten, 4);  // element [0, 0]
  be->linear(*x, *w, nullptr, *out, false);
  EXPECT_EQ(read_all(*be, *out), (std::vector<float>{12.0f, 7.0f}));
}

TEST(CpuMemory, WeightRowsSelectsARowRange) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  // A fused [q; k; v] of 2 + 1 + 1 rows over 3 inputs.
  const std::vector<float> qkv = {1, 0, 0,   // q0
                                  0, 1, 0,   // q1
                                  0, 0, 1,   // k
                                  1, 1, 1};  // v
  for (auto format : {WeightFormat::kF32, WeightFormat::kBF16, WeightFormat::kF16}) {
    auto w = hw.upload(qkv, 4, 3, format);
    auto k = be->weight_rows(w, 2, 1);
    auto v = be->weight_rows(w, 3, 1);
    auto q = be->weight_rows(w, 0, 2);
    EXPECT_EQ(k->rows(), 1);
    EXPECT_EQ(k->cols(), 3);
    EXPECT_EQ(k->format(), format);
    auto x = tensor_from(*be, 1, 3, {2.0f, 3.0f, 5.0f});
    auto out_q = poisoned(*be, 1, 2), out_k = poisoned(*be, 1, 1), out_v = poisoned(*be, 1, 1);
    be->linear(*x, *q, nullptr, *out_q, false);
    be->linear(*x, *k, nullptr, *out_k, false);
    be->linear(*x, *v, nullptr, *out_v, false);
    EXPECT_EQ(read_all(*be, *out_q), (std::vector<float>{2.0f, 3.0f})) << weight_format_name(format);
    EXPECT_EQ(read_all(*be, *out_k), (std::vector<float>{5.0f})) << weight_format_name(format);
    EXPECT_EQ(read_all(*be, *out_v), (std::vector<float>{10.0f})) << weight_format_name(format);
    // A range of a range.
    auto q1 = be->weight_rows(q, 1, 1);
    auto out_q1 = poisoned(*be, 1, 1);
    be->linear(*x, *q1, nullptr, *out_q1, false);
    EXPECT_EQ(read_all(*be, *out_q1), (std::vector<float>{3.0f}));
  }
}

TEST(CpuMemory, UploadErrorsNameTheWeight) {
  auto be = make_cpu_backend(2);
  const float data[4] = {1, 2, 3, 4};
  HostWeight w;
  w.source = w.target = WeightFormat::kF32;
  w.rows = 2;
  w.cols = 2;
  w.data = nullptr;
  w.name = "model.layers.3.mlp.gate.weight";
  auto null_data = be->upload_weight(w, nullptr);
  ASSERT_FALSE(null_data.ok());
  EXPECT_NE(null_data.message().find("model.layers.3.mlp.gate.weight"), std::string::npos) << null_data.message();

  w.data = data;
  w.rows = 0;
  auto zero_rows = be->upload_weight(w, nullptr);
  ASSERT_FALSE(zero_rows.ok());
  EXPECT_NE(zero_rows.message().find("model.layers.3.mlp.gate.weight"), std::string::npos);
  EXPECT_NE(zero_rows.message().find("[0, 2]"), std::string::npos) << zero_rows.message();

  w.rows = 2;
  w.cols = -1;
  auto negative = be->upload_weight(w, nullptr);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.message().find("[2, -1]"), std::string::npos) << negative.message();

  w.cols = 2;
  EXPECT_TRUE(be->upload_weight(w, nullptr).ok());
}

// Contract violations (wrong shapes) abort with a message naming the op, the
// weight and the shapes; they are bugs of the caller, not input errors.
TEST(CpuMemoryDeathTest, ShapeMismatchAbortsWithTheShapes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto be = make_cpu_backend(1);
        HostWeights hw(*be);
        auto w = hw.upload(random_values(15, 3), 3, 5, WeightFormat::kF32, false, false, "blk.attn_q");
        auto x = be->new_tensor(DType::kF32, 2, 4);
        auto out = be->new_tensor(DType::kF32, 2, 3);
        be->linear(*x, *w, nullptr, *out, false);
      },
      "linear: x \\[2, 4\\] does not fit weight blk.attn_q \\[3, 5\\]");
  EXPECT_DEATH(
      {
        auto be = make_cpu_backend(1);
        auto t = be->new_tensor(DType::kF32, 4, 4);
        be->view(t, 3, 2, 4);
      },
      "view: \\[2, 4\\] from row 3 does not fit in \\[4, 4\\]");
}

}  // namespace
}  // namespace ql::backend::test
