// core/io/safetensors_writer.h: the header bytes against docs/formats.md §1.1
// written out by hand, the reference writer's buffer order, shard planning
// and the index file as transformers writes them, and whole files read back
// by the checkpoint reader (core/model/safetensors.h).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/io/safetensors_writer.h"
#include "core/model/safetensors.h"
#include "tests/unit/model_test_files.h"

namespace {

using namespace ql::io;
using ql::model::testing::TempDir;
namespace fs = std::filesystem;

std::vector<std::string> names_of(const std::vector<SafetensorsEntry>& es) {
  std::vector<std::string> out;
  for (const auto& e : es) out.push_back(e.name);
  return out;
}

TEST(SafetensorsWriter, HeaderBytesOfASmallCaseMatchTheSpecByHand) {
  // F32 [2] (8 bytes), BF16 [1, 3] (6 bytes), U8 0-rank (1 byte). Per §1.1 the
  // buffer holds F32 first, then BF16, then U8; the compact JSON has
  // __metadata__ first and keys dtype, shape, data_offsets; 195 characters are
  // padded with 5 spaces to 200 = 0xC8, the u64 LE length prefix.
  const std::vector<SafetensorsEntry> entries = {{"a", "BF16", {1, 3}}, {"c", "U8", {}}, {"b", "F32", {2}}};
  auto header = safetensors_header_bytes(entries, {{"format", "pt"}});
  ASSERT_TRUE(header.ok()) << header.message();
  const std::string expected_json = R"({"__metadata__":{"format":"pt"},)"
                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("a":{"dtype":"BF16","shape":[1,3],"data_offsets":[8,14]},)"
                                    R"("c":{"dtype":"U8","shape":[],"data_offsets":[14,15]}})"
                                    "     ";
  const std::string expected = std::string("\xC8\0\0\0\0\0\0\0", 8) + expected_json;
  EXPECT_EQ(*header, expected);

  auto size = safetensors_file_size(entries, {{"format", "pt"}});
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 8u + 200u + 15u);
}

TEST(SafetensorsWriter, HeaderWithoutMetadataHasNoMetadataKeyAndIsPaddedToEight) {
  // {"x":{"dtype":"I8","shape":[3],"data_offsets":[0,3]}} is 53 characters: 3 spaces make 56 = 0x38.
  auto header = safetensors_header_bytes({{"x", "I8", {3}}}, {});
  ASSERT_TRUE(header.ok()) << header.message();
  EXPECT_EQ(*header,
            std::string("\x38\0\0\0\0\0\0\0", 8) + R"({"x":{"dtype":"I8","shape":[3],"data_offsets":[0,3]}})" + "   ");
}

TEST(SafetensorsWriter, BufferOrderIsDtypeDescendingThenNameBytes) {
  const std::vector<SafetensorsEntry> entries = {{"z.u8", "U8", {1}}, {"b.bf16", "BF16", {1}}, {"a.bf16", "BF16", {1}},
                                                 {"i64", "I64", {1}}, {"f16", "F16", {1}},     {"Z.bf16", "BF16", {1}},
                                                 {"i8", "I8", {1}},   {"f32", "F32", {1}},     {"bool", "BOOL", {1}},
                                                 {"i32", "I32", {1}}, {"u64", "U64", {1}},     {"f64", "F64", {1}}};
  // §1.1's order: U64, I64, F64, C64, F32, U32, I32, BF16, F16, U16, I16, F8_*, I8, U8, F6_*, F4, BOOL;
  // ties by name in byte order ('Z' < 'a').
  const std::vector<std::string> expected = {"u64",    "i64",    "f64", "f32", "i32",  "Z.bf16",
                                             "a.bf16", "b.bf16", "f16", "i8",  "z.u8", "bool"};
  EXPECT_EQ(names_of(safetensors_buffer_order(entries)), expected);
}

TEST(SafetensorsWriter, BadEntriesAreRefusedNamingTheTensor) {
  auto unknown = safetensors_header_bytes({{"w", "F12", {2}}}, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("w"), std::string::npos);
  EXPECT_NE(unknown.message().find("F12"), std::string::npos);

  auto twice = safetensors_header_bytes({{"w", "F32", {2}}, {"w", "BF16", {2}}}, {});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.message().find("tensor w is listed twice"), std::string::npos) << twice.message();

  auto reserved = safetensors_header_bytes({{"__metadata__", "F32", {2}}}, {});
  ASSERT_FALSE(reserved.ok());
  EXPECT_NE(reserved.message().find("__metadata__"), std::string::npos);

  auto negative = safetensors_header_bytes({{"neg", "F32", {2, -1}}}, {});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.message().find("neg"), std::string::npos);

  auto sub_byte = safetensors_dtype_size("F4");
  ASSERT_FALSE(sub_byte.ok());
  EXPECT_NE(sub_byte.message().find("F4"), std::string::npos);
}

TEST(SafetensorsWriter, ShardsFollowTransformersNamesAndLimit) {
  // By name: a 4, b 4, big 12, c 4, d 4 bytes; limit 10: [a b] [big] [c d].
  const std::vector<SafetensorsEntry> entries = {
      {"d", "F32", {1}}, {"a", "F32", {1}}, {"big", "F32", {3}}, {"c", "F32", {1}}, {"b", "BF16", {2}}};
  const auto shards = plan_shards(entries, 10);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0].file_name, "model-00001-of-00003.safetensors");
  EXPECT_EQ(shards[1].file_name, "model-00002-of-00003.safetensors");
  EXPECT_EQ(shards[2].file_name, "model-00003-of-00003.safetensors");
  EXPECT_EQ(names_of(shards[0].entries), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names_of(shards[1].entries), (std::vector<std::string>{"big"}));
  EXPECT_EQ(names_of(shards[2].entries), (std::vector<std::string>{"c", "d"}));
}

TEST(SafetensorsWriter, ShardPlanPutsATensorOverTheLimitAloneAndFitsTheRestByBytes) {
  const std::vector<SafetensorsEntry> entries = {{"a", "F32", {1}}, {"b", "F32", {5}}, {"c", "F32", {1}}};
  const auto shards = plan_shards(entries, 10);  // 4, 20, 4 bytes
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(names_of(shards[0].entries), (std::vector<std::string>{"a"}));
  EXPECT_EQ(names_of(shards[1].entries), (std::vector<std::string>{"b"}));
  EXPECT_EQ(names_of(shards[2].entries), (std::vector<std::string>{"c"}));
}

TEST(SafetensorsWriter, OneShardIsModelSafetensors) {
  const auto shards = plan_shards({{"b", "F32", {1}}, {"a", "F32", {1}}}, 5'000'000'000ull);
  ASSERT_EQ(shards.size(), 1u);
  EXPECT_EQ(shards[0].file_name, "model.safetensors");
  EXPECT_EQ(names_of(shards[0].entries), (std::vector<std::string>{"a", "b"}));
}

TEST(SafetensorsWriter, IndexJsonIsSortedIndentedWithTrailingNewline) {
  const auto shards = plan_shards({{"b", "F32", {1}}, {"a", "BF16", {2}}}, 4);
  ASSERT_EQ(shards.size(), 2u);
  const std::string expected =
      "{\n"
      "  \"metadata\": {\n"
      "    \"total_size\": 8\n"
      "  },\n"
      "  \"weight_map\": {\n"
      "    \"a\": \"model-00001-of-00002.safetensors\",\n"
      "    \"b\": \"model-00002-of-00002.safetensors\"\n"
      "  }\n"
      "}\n";
  EXPECT_EQ(shard_index_json(shards), expected);
}

// Tensor k's bytes are one repeated value per tensor: a misplaced tensor shows up as a wrong byte.
char fill_byte(const std::string& name) { return name == "w.bf16" ? 1 : name == "s.u8" ? 2 : 3; }

ql::Status fill(const SafetensorsEntry& e, AtomicFile& out) {
  const std::string bytes(e.nbytes(), fill_byte(e.name));
  return out.write(bytes.data(), bytes.size());
}

TEST(SafetensorsWriter, WrittenFileHasEveryTensorWhereItsHeaderSays) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  const std::vector<SafetensorsEntry> entries = {{"w.bf16", "BF16", {2, 2}}, {"s.u8", "U8", {}}, {"x.f32", "F32", {3}}};
  ASSERT_TRUE(write_safetensors(path, entries, {{"format", "pt"}}, fill).ok());
  EXPECT_FALSE(fs::exists(dir.file(".t.safetensors.partial")));

  // Read by hand (§1.1), independent of the writer and of the checkpoint reader.
  const std::string raw = ql::model::testing::read_file(path);
  ASSERT_GE(raw.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[i]);
  ASSERT_EQ(n % 8, 0u);
  const auto header = nlohmann::json::parse(raw.substr(8, n));
  const size_t data = 8 + n;
  EXPECT_EQ(raw.size(), data + 8 + 1 + 12);
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  for (const auto& e : entries) {
    const auto& h = header.at(e.name);
    EXPECT_EQ(h["dtype"], e.dtype);
    EXPECT_EQ(h["shape"].get<std::vector<int64_t>>(), e.shape);
    const auto begin = h["data_offsets"][0].get<size_t>(), end = h["data_offsets"][1].get<size_t>();
    ASSERT_EQ(end - begin, e.nbytes()) << e.name;
    for (size_t i = begin; i < end; ++i) ASSERT_EQ(raw[data + i], fill_byte(e.name)) << e.name;
  }
}

TEST(SafetensorsWriter, FloatFileReadsBackThroughTheCheckpointReader) {
  TempDir dir;
  const std::string path = dir.file("f.safetensors");
  ASSERT_TRUE(
      write_safetensors(path, {{"w.bf16", "BF16", {2, 2}}, {"x.f32", "F32", {3}}}, {{"format", "pt"}}, fill).ok());
  auto file = ql::model::SafetensorsFile::open(path);
  ASSERT_TRUE(file.ok()) << file.message();
  EXPECT_EQ(file->metadata().at("format"), "pt");
  for (const char* name : {"w.bf16", "x.f32"}) {
    const auto view = file->find(name);
    ASSERT_TRUE(view.has_value()) << name;
    for (size_t i = 0; i < view->nbytes; ++i) ASSERT_EQ(static_cast<char>(view->data[i]), fill_byte(name)) << name;
  }
}

TEST(SafetensorsWriter, ATensorWritingTheWrongSizeFailsAndLeavesNoFile) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto short_write = [](const SafetensorsEntry& e, AtomicFile& out) -> ql::Status {
    const std::string bytes(e.nbytes() - 1, '\0');
    return out.write(bytes.data(), bytes.size());
  };
  const auto st = write_safetensors(path, {{"short.one", "F32", {4}}}, {}, short_write);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("short.one"), std::string::npos);
  EXPECT_NE(st.message().find("15"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
