// The GGUF container (docs/formats.md §2): the header and tensor table checked
// byte by byte against bytes this test builds itself from the spec, and the
// reader on good and malformed files.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/io/gguf/gguf_container.h"
#include "core/io/gguf/gguf_reader.h"

namespace ql::io::gguf {
namespace {

// ---- the test's own little GGUF encoder, straight from docs/formats.md §2.1 ----
struct Bytes {
  std::string s;
  void u8(uint8_t v) { s.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { for (int i = 0; i < 2; ++i) u8(static_cast<uint8_t>(v >> (8 * i))); }
  void u32(uint32_t v) { for (int i = 0; i < 4; ++i) u8(static_cast<uint8_t>(v >> (8 * i))); }
  void u64(uint64_t v) { for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(v >> (8 * i))); }
  void f32(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    u32(b);
  }
  void f64(double f) {
    uint64_t b;
    std::memcpy(&b, &f, 8);
    u64(b);
  }
  void str(const std::string& v) {
    u64(v.size());
    s += v;
  }
  void key(const std::string& k, uint32_t type) {
    str(k);
    u32(type);
  }
};

TEST(GgufContainer, HeaderAndTensorTableMatchTheSpecByteForByte) {
  std::vector<GgufKv> kvs;
  kvs.push_back({"general.architecture", GgufValue::string("qwen3vlmoe")});
  kvs.push_back({"a.u32", GgufValue::u32(0xDEADBEEF)});
  kvs.push_back({"a.i32", GgufValue::i32(-5)});
  kvs.push_back({"a.f32", GgufValue::f32(0.5f)});
  kvs.push_back({"a.bool", GgufValue::boolean(true)});
  kvs.push_back({"a.ints", GgufValue::array_i32({24, 20, 20, 0})});
  kvs.push_back({"a.floats", GgufValue::array_f32({0.5f, -2.0f})});
  kvs.push_back({"a.bools", GgufValue::array_bool({false, true, true})});
  kvs.push_back({"a.strings", GgufValue::array_string({"Ġ Ġ", "", "é"})});
  GgufValue u8;
  u8.type = GgufValueType::kUint8;
  u8.ints = {200};
  kvs.push_back({"a.u8", u8});
  GgufValue i16;
  i16.type = GgufValueType::kInt16;
  i16.ints = {static_cast<uint64_t>(int64_t{-2})};
  kvs.push_back({"a.i16", i16});
  GgufValue u64;
  u64.type = GgufValueType::kUint64;
  u64.ints = {0x0102030405060708ull};
  kvs.push_back({"a.u64", u64});
  GgufValue f64;
  f64.type = GgufValueType::kFloat64;
  f64.floats = {1e-300};
  kvs.push_back({"a.f64", f64});

  std::vector<GgufTensorInfo> tensors = {
      {"output_norm.weight", {24}, GgmlType::kF32},           // 96 bytes -> padded to 96
      {"blk.0.attn_q.weight", {64, 3}, GgmlType::kQ8_0},      // 2 blocks * 34 * 3 = 204 -> 224
      {"blk.0.ffn_up_exps.weight", {256, 2, 2}, GgmlType::kQ4_K},  // 144 * 4 = 576
      {"v.patch_embd.weight", {4, 4, 3, 2}, GgmlType::kF16},  // 96 * 2 = 192
  };
  auto header = encode_gguf_header(kvs, tensors);
  ASSERT_TRUE(header) << header.message();

  Bytes b;
  b.u8('G'), b.u8('G'), b.u8('U'), b.u8('F');
  b.u32(3);
  b.u64(4);   // tensors
  b.u64(13);  // kvs
  b.key("general.architecture", 8), b.str("qwen3vlmoe");
  b.key("a.u32", 4), b.u32(0xDEADBEEF);
  b.key("a.i32", 5), b.u32(0xFFFFFFFB);
  b.key("a.f32", 6), b.f32(0.5f);
  b.key("a.bool", 7), b.u8(1);
  b.key("a.ints", 9), b.u32(5), b.u64(4), b.u32(24), b.u32(20), b.u32(20), b.u32(0);
  b.key("a.floats", 9), b.u32(6), b.u64(2), b.f32(0.5f), b.f32(-2.0f);
  b.key("a.bools", 9), b.u32(7), b.u64(3), b.u8(0), b.u8(1), b.u8(1);
  b.key("a.strings", 9), b.u32(8), b.u64(3), b.str("Ġ Ġ"), b.str(""), b.str("é");
  b.key("a.u8", 0), b.u8(200);
  b.key("a.i16", 3), b.u16(0xFFFE);
  b.key("a.u64", 10), b.u64(0x0102030405060708ull);
  b.key("a.f64", 12), b.f64(1e-300);
  // Tensor infos: name, n_dims, ne..., type, offset (offsets padded to 32).
  b.str("output_norm.weight"), b.u32(1), b.u64(24), b.u32(0), b.u64(0);
  b.str("blk.0.attn_q.weight"), b.u32(2), b.u64(64), b.u64(3), b.u32(8), b.u64(96);
  b.str("blk.0.ffn_up_exps.weight"), b.u32(3), b.u64(256), b.u64(2), b.u64(2), b.u32(12), b.u64(96 + 224);
  b.str("v.patch_embd.weight"), b.u32(4), b.u64(4), b.u64(4), b.u64(3), b.u64(2), b.u32(1), b.u64(96 + 224 + 576);
  while (b.s.size() % 32 != 0) b.u8(0);

  EXPECT_EQ(header->bytes.size(), b.s.size());
  ASSERT_EQ(header->bytes, b.s) << "first difference at byte "
                                << std::mismatch(b.s.begin(), b.s.end(), header->bytes.begin()).first - b.s.begin();
  EXPECT_EQ(header->alignment, 32u);
  EXPECT_EQ(tensors[1].nbytes, 204u);
  EXPECT_EQ(tensors[2].offset, 320u);
  EXPECT_EQ(tensors[3].nbytes, 192u);
  EXPECT_EQ(header->data_bytes, 96u + 224 + 576 + 192);
  EXPECT_EQ(header->file_bytes(), b.s.size() + 1088);
}

TEST(GgufContainer, AlignmentKeyChangesPaddingAndOffsets) {
  std::vector<GgufKv> kvs = {{"general.alignment", GgufValue::u32(64)}};
  std::vector<GgufTensorInfo> tensors = {{"a.weight", {8}, GgmlType::kF32}, {"b.weight", {8}, GgmlType::kF32}};
  auto header = encode_gguf_header(kvs, tensors);
  ASSERT_TRUE(header) << header.message();
  EXPECT_EQ(header->bytes.size() % 64, 0u);
  EXPECT_EQ(tensors[1].offset, 64u);
  kvs[0].value = GgufValue::u32(48);
  auto bad = encode_gguf_header(kvs, tensors);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("48"), std::string::npos) << bad.message();
}

TEST(GgufContainer, RefusesWhatGgmlCannotLoad) {
  struct Case {
    GgufTensorInfo t;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {{std::string(64, 'x'), {32}, GgmlType::kF32}, "longer than 63"},
      {{"q.weight", {24, 2}, GgmlType::kQ8_0}, "whole number"},
      {{"k.weight", {256, 1, 1, 1, 2}, GgmlType::kF32}, "1 to 4"},
      {{"z.weight", {0}, GgmlType::kF32}, "empty dimension"},
  };
  for (const Case& c : cases) {
    std::vector<GgufTensorInfo> tensors = {c.t};
    auto h = encode_gguf_header({}, tensors);
    ASSERT_FALSE(h) << c.expect;
    EXPECT_NE(h.message().find(c.expect), std::string::npos) << h.message();
  }
  std::vector<GgufTensorInfo> twice = {{"a.weight", {4}, GgmlType::kF32}, {"a.weight", {4}, GgmlType::kF32}};
  auto dup = encode_gguf_header({}, twice);
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.message().find("twice"), std::string::npos);
  std::vector<GgufKv> kvs = {{"k", GgufValue::u32(1)}, {"k", GgufValue::u32(2)}};
  std::vector<GgufTensorInfo> none;
  auto dupkey = encode_gguf_header(kvs, none);
  ASSERT_FALSE(dupkey);
  EXPECT_NE(dupkey.message().find("'k' appears twice"), std::string::npos);
}

// A small valid file: header + data with recognisable bytes.
std::string small_file(std::vector<GgufTensorInfo>& tensors) {
  std::vector<GgufKv> kvs = {{"general.architecture", GgufValue::string("clip")},
                             {"x.list", GgufValue::array_string({"a", "bc"})}};
  auto h = encode_gguf_header(kvs, tensors);
  std::string file = h->bytes;
  for (const auto& t : tensors) {
    file.append(t.nbytes, static_cast<char>(0x40 + (&t - tensors.data())));
    file.append(gguf_pad(t.nbytes, 32) - t.nbytes, '\0');
  }
  return file;
}

TEST(GgufReader, ReadsBackKeysTensorsAndData) {
  std::vector<GgufTensorInfo> tensors = {{"t0", {3}, GgmlType::kF32}, {"t1", {32, 2}, GgmlType::kQ4_0}};
  const std::string file = small_file(tensors);
  auto g = parse_gguf(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "mem");
  ASSERT_TRUE(g) << g.message();
  EXPECT_EQ(g->version, 3u);
  ASSERT_EQ(g->kvs.size(), 2u);
  EXPECT_EQ(g->kvs[0].value.as_string(), "clip");
  ASSERT_EQ(g->kvs[1].value.strings.size(), 2u);
  EXPECT_EQ(g->kvs[1].value.strings[1], "bc");
  ASSERT_EQ(g->tensors.size(), 2u);
  EXPECT_EQ(g->tensors[1].ne, (std::vector<int64_t>{32, 2}));
  EXPECT_EQ(g->tensors[1].type, GgmlType::kQ4_0);
  EXPECT_EQ(g->tensors[1].offset, 32u);
  EXPECT_EQ(g->tensors[1].nbytes, 36u);
  EXPECT_EQ(g->data_start % 32, 0u);
  EXPECT_EQ(static_cast<uint8_t>(file[g->data_start + 32]), 0x41);
}

TEST(GgufReader, RefusesMalformedFilesWithAReason) {
  std::vector<GgufTensorInfo> tensors = {{"t0", {3}, GgmlType::kF32}, {"t1", {32, 2}, GgmlType::kQ4_0}};
  const std::string good = small_file(tensors);
  auto parse = [](const std::string& bytes) {
    return parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "f.gguf");
  };
  auto expect_error = [&](const std::string& bytes, const char* part) {
    auto g = parse(bytes);
    ASSERT_FALSE(g) << part;
    EXPECT_NE(g.message().find(part), std::string::npos) << g.message();
    EXPECT_EQ(g.message().rfind("f.gguf", 0), 0u) << g.message();
  };
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  expect_error(bad_magic, "not a GGUF file");
  std::string bad_version = good;
  bad_version[4] = 7;
  expect_error(bad_version, "version 7");
  expect_error(good.substr(0, 12), "truncated");
  std::string huge_count = good;
  for (int i = 0; i < 8; ++i) huge_count[16 + i] = static_cast<char>(0x7f);  // n_kv
  expect_error(huge_count, "more than the file holds");
  // The value type of the first key (after magic, version, counts, key string).
  std::string bad_type = good;
  const size_t type_at = 24 + 8 + std::string("general.architecture").size();
  bad_type[type_at] = 42;
  expect_error(bad_type, "unknown value type 42");
  // Cut inside the data section: the second tensor no longer fits.
  expect_error(good.substr(0, good.size() - 40), "past the end of the file");
}

}  // namespace
}  // namespace ql::io::gguf
