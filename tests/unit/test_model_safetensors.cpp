// safetensors header parsing and validation (docs/formats.md §1.1): a good file
// reads back; every malformed header gives one line naming the file and tensor.
#include <gtest/gtest.h>

#include <cstring>

#include "core/model/safetensors.h"
#include "tests/unit/model_test_files.h"

namespace ql::model {
namespace {

using testing::safetensors_bytes;
using testing::TempDir;

Result<SafetensorsHeader> parse_bytes(const std::string& bytes) {
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "F.safetensors");
}

// Parses `bytes`, expects an error that is one line, starts with the label and
// contains `fragment`.
void expect_error(const std::string& bytes, const std::string& fragment) {
  auto r = parse_bytes(bytes);
  ASSERT_FALSE(r.ok()) << "accepted; expected: " << fragment;
  EXPECT_EQ(r.message().find('\n'), std::string::npos) << r.message();
  EXPECT_EQ(r.message().rfind("F.safetensors: ", 0), 0u) << r.message();
  EXPECT_NE(r.message().find(fragment), std::string::npos) << r.message() << "\nexpected: " << fragment;
}

std::string data(size_t n) { return std::string(n, '\0'); }

TEST(Safetensors, GoodFileReadsBack) {
  TempDir tmp;
  const std::string path = tmp.file("m.safetensors");
  testing::write_safetensors(path,
                             {{"b.weight", {2, 3}, "F32"}, {"a.bias", {4}, "BF16"}, {"c", {}, "F16"}, {"z", {0, 5}, "F32"}},
                             {{"format", "pt"}});
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  ASSERT_EQ(f->tensors().size(), 4u);
  EXPECT_EQ(f->metadata().at("format"), "pt");

  auto b = f->find("b.weight");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->name, "b.weight");
  EXPECT_EQ(b->dtype, DType::kF32);
  EXPECT_EQ(std::vector<int64_t>(b->shape.begin(), b->shape.end()), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(b->nbytes, 24u);
  EXPECT_EQ(b->numel(), 6);
  float last;
  std::memcpy(&last, b->data + 20, 4);
  EXPECT_FLOAT_EQ(last, 1.25f);  // element 5 of the writer's 0.25 * i pattern

  auto a = f->find("a.bias");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->dtype, DType::kBF16);
  EXPECT_EQ(a->nbytes, 8u);
  EXPECT_EQ(a->data, b->data + 24);  // written after b.weight

  auto c = f->find("c");  // rank 0: one element
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->numel(), 1);
  EXPECT_EQ(c->nbytes, 2u);

  auto z = f->find("z");  // zero-size tensors are allowed
  ASSERT_TRUE(z.has_value());
  EXPECT_EQ(z->nbytes, 0u);

  EXPECT_FALSE(f->find("missing").has_value());
}

TEST(Safetensors, EmptyHeaderIsAValidFileWithNoTensors) {
  auto r = parse_bytes(safetensors_bytes("{}      ", ""));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(r->tensors.empty());
  EXPECT_EQ(r->data_start, 16u);
}

TEST(Safetensors, TruncatedFile) {
  expect_error("", "truncated: 0 bytes");
  expect_error(std::string(7, '\0'), "truncated: 7 bytes");
}

TEST(Safetensors, HeaderLengthPastEndOfFile) {
  expect_error(safetensors_bytes(100, "{}", ""), "header length 100 runs past the end of the file (10 bytes)");
}

TEST(Safetensors, HeaderLargerThan100MB) {
  expect_error(safetensors_bytes(100'000'001, "{}", ""), "header length 100000001 exceeds the 100000000 byte limit");
}

TEST(Safetensors, HeaderNotJsonOrNotObject) {
  expect_error(safetensors_bytes("{\"a\": ", ""), "header is not valid JSON");
  expect_error(safetensors_bytes("[1, 2]", ""), "header is not a JSON object");
  expect_error(safetensors_bytes("", ""), "header is not a JSON object");
  expect_error(safetensors_bytes("{\"a\": \"\xff\"}", ""), "header is not valid JSON");  // invalid UTF-8
}

TEST(Safetensors, EntryNotAnObject) {
  expect_error(safetensors_bytes(R"({"w": [1, 2]})", ""), "tensor \"w\": expected an object, got array");
}

TEST(Safetensors, BadDtypeString) {
  expect_error(safetensors_bytes(R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}})", data(1)),
               "tensor \"w\": unknown dtype \"Q4\"");
  expect_error(safetensors_bytes(R"({"w": {"dtype": 16, "shape": [1], "data_offsets": [0, 2]}})", data(2)),
               "tensor \"w\": dtype: expected a string, got integer 16");
  expect_error(safetensors_bytes(R"({"w": {"shape": [1], "data_offsets": [0, 2]}})", data(2)),
               "tensor \"w\": dtype: missing");
}

TEST(Safetensors, ValidButUnsupportedDtypesRefused) {
  for (const char* dt : {"F8_E4M3", "F64", "BOOL", "I64"}) {
    const std::string h = fmt::format(R"({{"w": {{"dtype": "{}", "shape": [1], "data_offsets": [0, 1]}}}})", dt);
    expect_error(safetensors_bytes(h, data(1)),
                 fmt::format("tensor \"w\": dtype {} is not supported (only BF16, F16, F32, and I8/U8 in "
                             "bitsandbytes checkpoints)",
                             dt));
  }
}

// I8 and U8 hold bitsandbytes' codes (docs/formats.md §6.2, §6.3): one byte per
// element, a 0-rank tensor is one element.
TEST(Safetensors, BitsandbytesIntegerDtypesParse) {
  const std::string h =
      R"({"codes": {"dtype": "I8", "shape": [2, 3], "data_offsets": [0, 6]},)"
      R"( "format": {"dtype": "U8", "shape": [], "data_offsets": [6, 7]}})";
  auto parsed = parse_bytes(safetensors_bytes(h, data(7)));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  ASSERT_EQ(parsed->tensors.size(), 2u);
  EXPECT_EQ(parsed->tensors[0].name, "codes");
  EXPECT_EQ(parsed->tensors[0].dtype, DType::kI8);
  EXPECT_EQ(parsed->tensors[0].nbytes, 6u);
  EXPECT_EQ(parsed->tensors[1].dtype, DType::kU8);
  EXPECT_EQ(parsed->tensors[1].nbytes, 1u);
  // The byte count still has to match the shape.
  expect_error(safetensors_bytes(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 3]}})", data(3)),
               "tensor \"w\": data_offsets [0, 3] hold 3 bytes but shape [4] of U8 needs 4");
}

TEST(Safetensors, ShapeNotAListOfNonNegativeInts) {
  const char* bad_shapes[] = {R"("3")", "[2, -1]", "[2.5]", R"(["2"])", "null", "[[2]]"};
  for (const char* s : bad_shapes) {
    const std::string h = fmt::format(R"({{"w": {{"dtype": "F32", "shape": {}, "data_offsets": [0, 4]}}}})", s);
    expect_error(safetensors_bytes(h, data(4)), "tensor \"w\": shape: expected a list of non-negative integers");
  }
  expect_error(safetensors_bytes(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", data(4)),
               "tensor \"w\": shape: missing");
}

TEST(Safetensors, ShapeWhoseSizeOverflows) {
  expect_error(
      safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})",
                        data(4)),
      "tensor \"w\": shape [4294967296, 4294967296] is too large");
}

TEST(Safetensors, DataOffsetsMalformed) {
  const char* bad[] = {"[0]", "[0, 4, 8]", "[4, 0]", "[-4, 0]", R"(["0", "4"])", "4", "[0, 4.0]"};
  for (const char* o : bad) {
    const std::string h = fmt::format(R"({{"w": {{"dtype": "F32", "shape": [1], "data_offsets": {}}}}})", o);
    expect_error(safetensors_bytes(h, data(4)), "tensor \"w\": data_offsets: expected [begin, end]");
  }
  expect_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [1]}})", data(4)),
               "tensor \"w\": data_offsets: missing");
}

TEST(Safetensors, OffsetsOutOfRange) {
  expect_error(safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", data(4)),
               "tensor \"w\": data_offsets [0, 8] run past the end of the data buffer (4 bytes)");
}

TEST(Safetensors, SizeNotShapeTimesDtypeSize) {
  expect_error(safetensors_bytes(R"({"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 10]}})", data(10)),
               "tensor \"w\": data_offsets [0, 10] hold 10 bytes but shape [2, 3] of BF16 needs 12");
}

TEST(Safetensors, OverlappingTensors) {
  expect_error(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                     "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                                 data(12)),
               "tensor \"b\" [4, 12) overlaps tensor \"a\"");
}

TEST(Safetensors, HolesInTheDataBuffer) {
  expect_error(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                     "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                                 data(12)),
               "bytes [4, 8) of the data buffer belong to no tensor (hole before tensor \"b\")");
  expect_error(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", data(8)),
               "bytes [0, 4) of the data buffer belong to no tensor (hole before tensor \"a\")");
  expect_error(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", data(6)),
               "bytes [4, 6) of the data buffer belong to no tensor (after tensor \"a\")");
}

TEST(Safetensors, DuplicateNames) {
  expect_error(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                     "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                 data(8)),
               "tensor \"a\" is listed twice in the header");
  expect_error(
      safetensors_bytes(R"({"a": {"dtype": "F32", "dtype": "F16", "shape": [1], "data_offsets": [0, 4]}})", data(4)),
      "tensor \"a\": key \"dtype\" appears twice");
}

TEST(Safetensors, MetadataValuesMustBeStrings) {
  expect_error(safetensors_bytes(R"({"__metadata__": {"format": "pt", "step": 3}})", ""),
               "__metadata__[\"step\"]: expected a string, got integer 3");
  expect_error(safetensors_bytes(R"({"__metadata__": ["pt"]})", ""), "__metadata__: expected an object, got array");
}

TEST(Safetensors, NamesWithControlCharactersStayOnOneLine) {
  expect_error(safetensors_bytes("{\"bad\\nname\": 5}", ""), "tensor \"bad\\nname\": expected an object");
}

TEST(Safetensors, OpenNamesThePath) {
  TempDir tmp;
  auto r = SafetensorsFile::open(tmp.file("absent.safetensors"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message().rfind(tmp.file("absent.safetensors") + ": cannot open", 0), 0u) << r.message();

  testing::write_file(tmp.file("short.safetensors"), "abc");
  r = SafetensorsFile::open(tmp.file("short.safetensors"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), tmp.file("short.safetensors") + ": truncated: 3 bytes, fewer than the 8-byte header length");
}

}  // namespace
}  // namespace ql::model
