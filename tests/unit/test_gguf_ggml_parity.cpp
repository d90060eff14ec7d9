// Byte parity with ggml itself: tests/data/gguf/ggml-quant/ holds input.f32
// (raw little-endian float32, 16 rows x 512 columns) and, per format, the raw
// output of ggml_quantize_chunk for those rows without an importance matrix
// (q8_0.bin, q4_0.bin, iq4_nl.bin, q4_k.bin, q6_k.bin; q5_0.bin, q5_1.bin,
// q5_k.bin are checked too when present). Our quantizers must produce the
// very same bytes.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/io/gguf/block_quants.h"
#include "tests/unit/model_test_files.h"

namespace ql::io::gguf {
namespace {

namespace fs = std::filesystem;

const std::string kDir = std::string(QL_TEST_DATA) + "/gguf/ggml-quant";
constexpr int64_t kRows = 16, kCols = 512;

struct Fixture {
  const char* file;
  GgmlType type;
  bool required;
};

TEST(GgufGgmlParity, QuantizedBytesEqualGgmlQuantizeChunk) {
  // The fixture comes from ggml itself (tools/device/ggml_quant_fixture.c on the GPU machine).
  ASSERT_TRUE(fs::is_directory(kDir)) << "fixture folder " << kDir << " is missing";
  const std::string input = model::testing::read_file(kDir + "/input.f32");
  ASSERT_EQ(input.size(), static_cast<size_t>(kRows * kCols * 4)) << kDir << "/input.f32: expected 16 x 512 float32";
  std::vector<float> x(static_cast<size_t>(kRows * kCols));
  std::memcpy(x.data(), input.data(), input.size());

  const Fixture fixtures[] = {
      {"q8_0.bin", GgmlType::kQ8_0, true},  {"q4_0.bin", GgmlType::kQ4_0, true},
      {"iq4_nl.bin", GgmlType::kIQ4_NL, true}, {"q4_k.bin", GgmlType::kQ4_K, true},
      {"q6_k.bin", GgmlType::kQ6_K, true},  {"q5_0.bin", GgmlType::kQ5_0, true},
      {"q5_1.bin", GgmlType::kQ5_1, true},  {"q5_k.bin", GgmlType::kQ5_K, true},
  };
  for (const Fixture& f : fixtures) {
    const std::string path = kDir + "/" + f.file;
    if (!fs::exists(path)) {
      EXPECT_FALSE(f.required) << path << " is missing";
      continue;
    }
    const std::string expected = model::testing::read_file(path);
    const uint64_t row = *ggml_row_bytes(f.type, kCols);
    ASSERT_EQ(expected.size(), row * kRows) << path;
    std::vector<uint8_t> ours(expected.size());
    ASSERT_TRUE(quantize_rows(f.type, x.data(), kRows, kCols, ours.data(), 2));
    size_t first = expected.size();
    for (size_t i = 0; i < expected.size(); ++i)
      if (ours[i] != static_cast<uint8_t>(expected[i])) {
        first = i;
        break;
      }
    EXPECT_EQ(first, expected.size()) << f.file << ": first differing byte " << first << " (row " << first / row
                                      << ", byte " << first % row << " of the row)";
  }
}

}  // namespace
}  // namespace ql::io::gguf
