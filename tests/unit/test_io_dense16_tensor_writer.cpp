// core/io/dense16_tensor_writer.h on hand-made tensors: the fp16 range check
// at its exact boundaries, the conversion error figures on values worked out
// by hand, experts written transposed, and a tensor larger than one piece
// that moves the progress bar while it is written and stops when cancelled
// in the middle.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/io/dense16_tensor_writer.h"
#include "tests/unit/model_test_files.h"

namespace {

using namespace ql::io;
using ql::model::DType;
using ql::model::TensorView;
using ql::model::testing::read_file;
using ql::model::testing::TempDir;

TensorView view(const char* name, DType dtype, const std::vector<int64_t>& shape, const void* data, size_t nbytes) {
  TensorView v;
  v.name = name;
  v.dtype = dtype;
  v.shape = shape;
  v.data = static_cast<const uint8_t*>(data);
  v.nbytes = nbytes;
  return v;
}

std::vector<uint16_t> u16s(const std::string& bytes) {
  std::vector<uint16_t> out(bytes.size() / 2);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

TEST(Dense16Writer, Fp16RangeStopsExactlyWhereRoundingReachesInfinity) {
  const std::vector<int64_t> shape = {3};
  // bf16: 65280 (0x477f) is the largest below 65536 and fits; 65536 (0x4780) does not; -inf is not "beyond".
  const uint16_t fits[3] = {0x477f, 0xc77f, 0xff80};
  EXPECT_TRUE(check_fp16_range(view("ok.bf16", DType::kBF16, shape, fits, 6)).ok());
  const uint16_t over[3] = {0x3f80, 0xc780, 0x4780};
  auto r = check_fp16_range(view("big.bf16", DType::kBF16, shape, over, 6));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("big.bf16: 2 values beyond float16"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("-65536 at element 1"), std::string::npos) << r.message();

  // f32: 65519.996 rounds down to 65504; 65520 is the midpoint and rounds (to even) up to infinity.
  const float below[3] = {65519.996f, -65504.0f, 1e-30f};
  EXPECT_TRUE(check_fp16_range(view("ok.f32", DType::kF32, shape, below, 12)).ok());
  const float at[3] = {1.0f, 65520.0f, 2.0f};
  auto at_r = check_fp16_range(view("edge.f32", DType::kF32, shape, at, 12));
  ASSERT_FALSE(at_r.ok());
  EXPECT_NE(at_r.message().find("edge.f32: 1 value beyond"), std::string::npos) << at_r.message();
}

TEST(Dense16Writer, ConversionErrorIsTheRelativeRmsOfWhatRoundingLost) {
  TempDir dir;
  // 1 + 2^-8 lies halfway between the bf16 values 1 and 1 + 2^-7: it rounds to even, 1.
  // The error is 2^-8 on one value; the tensor's norm is |1 + 2^-8| (the zero adds nothing).
  const float x[2] = {1.0f + 1.0f / 256.0f, 0.0f};
  const std::vector<int64_t> shape = {2};
  auto out = AtomicFile::create(dir.file("t.bin"));
  ASSERT_TRUE(out.ok());
  Dense16Stats stats;
  ASSERT_TRUE(
      write_dense16_tensor(view("w", DType::kF32, shape, x, 8), false, Dense16Out::kBF16, *out, nullptr, 1, &stats)
          .ok());
  ASSERT_TRUE(out->commit().ok());
  EXPECT_EQ(u16s(read_file(dir.file("t.bin"))), (std::vector<uint16_t>{0x3f80, 0x0000}));
  EXPECT_TRUE(stats.converted);
  EXPECT_DOUBLE_EQ(stats.rel_rmse(), (1.0 / 256.0) / (1.0 + 1.0 / 256.0));

  // A copy (bf16 to bf16) reports no error figure: -1.
  const uint16_t b[2] = {0x3f80, 0x4000};
  auto copy = AtomicFile::create(dir.file("c.bin"));
  ASSERT_TRUE(copy.ok());
  ASSERT_TRUE(
      write_dense16_tensor(view("c", DType::kBF16, shape, b, 4), false, Dense16Out::kBF16, *copy, nullptr, 1, &stats)
          .ok());
  EXPECT_FALSE(stats.converted);
  EXPECT_EQ(stats.rel_rmse(), -1);
}

TEST(Dense16Writer, SubnormalAndFlushedValuesAreCounted) {
  TempDir dir;
  // fp16's smallest normal is 2^-14 and smallest subnormal 2^-24: 2^-20 becomes
  // subnormal, 2^-26 rounds to zero, 0.5 stays normal.
  const float x[3] = {std::ldexp(1.0f, -20), std::ldexp(1.0f, -26), 0.5f};
  const std::vector<int64_t> shape = {3};
  auto out = AtomicFile::create(dir.file("s.bin"));
  ASSERT_TRUE(out.ok());
  Dense16Stats stats;
  ASSERT_TRUE(
      write_dense16_tensor(view("s", DType::kF32, shape, x, 12), false, Dense16Out::kF16, *out, nullptr, 1, &stats)
          .ok());
  EXPECT_EQ(stats.became_subnormal, 1);
  EXPECT_EQ(stats.flushed_to_zero, 1);
}

TEST(Dense16Writer, ExpertsStoredOutInAreWrittenInOut) {
  TempDir dir;
  // Stored [E=2, out=2, in=3]; written [2, 3, 2] with element (e, i, o) = stored (e, o, i).
  std::vector<uint16_t> stored(12);
  for (size_t k = 0; k < stored.size(); ++k) stored[k] = static_cast<uint16_t>(0x3f80 + k);
  const std::vector<int64_t> shape = {2, 2, 3};
  const TensorView v = view("layers.0.mlp.experts.down_proj", DType::kBF16, shape, stored.data(), 24);
  EXPECT_EQ(dense16_output_shape(v, true), (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(dense16_output_shape(v, false), shape);
  auto out = AtomicFile::create(dir.file("e.bin"));
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(write_dense16_tensor(v, true, Dense16Out::kBF16, *out, nullptr, 2, nullptr).ok());
  ASSERT_TRUE(out->commit().ok());
  // Expert 0 stored rows (o): [0 1 2], [3 4 5] -> written rows (i): [0 3], [1 4], [2 5]; expert 1 likewise + 6.
  const std::vector<uint16_t> expected = {0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11};
  auto got = u16s(read_file(dir.file("e.bin")));
  ASSERT_EQ(got.size(), expected.size());
  for (size_t k = 0; k < got.size(); ++k) EXPECT_EQ(got[k], 0x3f80 + expected[k]) << k;
}

TEST(Dense16Writer, ALargeTensorMovesProgressAndStopsWhenCancelledMidway) {
  TempDir dir;
  const int64_t n = int64_t{9} << 20;                          // more than two 4M-element pieces
  std::vector<uint16_t> data(static_cast<size_t>(n), 0x3f80);  // bf16 1.0
  const std::vector<int64_t> shape = {n};
  const TensorView v = view("big", DType::kBF16, shape, data.data(), static_cast<size_t>(n) * 2);

  std::atomic<bool> cancel{false};
  std::vector<uint64_t> seen;
  ExportProgressFn progress = [&](const ExportProgress& p) {
    seen.push_back(p.done_bytes);
    if (p.done_bytes > 0) cancel = true;  // after the first piece
  };
  ExportContext context(progress, &cancel, static_cast<uint64_t>(n) * 2);
  auto out = AtomicFile::create(dir.file("big.bin"));
  ASSERT_TRUE(out.ok());
  const auto st = write_dense16_tensor(v, false, Dense16Out::kF16, *out, &context, 1, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), kExportCancelledMessage);
  EXPECT_EQ(out->bytes_written(), uint64_t{4} << 21);  // one 4M-element piece of 2 bytes
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), uint64_t{4} << 21);
}

}  // namespace
