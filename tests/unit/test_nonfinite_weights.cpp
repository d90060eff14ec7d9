// NaN and infinity in weights (issue 12, point 5): a weight kept as stored
// (a norm, here) is checked while loading as the quantized ones are, at every
// precision and as stored, and the error names the tensor; `info --check`
// scans every value and names the tensor, while plain `info` (headers only)
// says nothing about values; a NaN in a bitsandbytes quant state (the int8
// scales SCB, the NF4 nested absmax) is refused when the folder loads.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "tests/unit/bnb_test_support.h"
#include "tests/unit/engine_test_support.h"
#include "tests/unit/model_test_files.h"

namespace {

using namespace ql::engine;
namespace mt = ql::model::testing;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

constexpr const char* kNorm = "model.language_model.layers.0.input_layernorm.weight";

std::string tiny_with_nan_norm(const mt::TempDir& tmp) {
  auto tensors = mt::tiny_tensors();
  mt::FakeTensor& t = *mt::find_fake(tensors, kNorm);
  t.bytes = mt::fake_tensor_data(t);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(t.bytes.data() + 7 * 4, &nan, 4);
  const std::string dir = tmp.sub("tiny");
  mt::write_model_folder(dir, mt::tiny_config_json(), tensors);
  return dir;
}

TEST(NonFiniteWeights, ANanInANormIsRefusedAtLoadNamingIt) {
  mt::TempDir tmp;
  const std::string dir = tiny_with_nan_norm(tmp);
  Engine engine;
  for (const char* precision : {"", "bf16", "int8", "nf4"}) {
    SCOPED_TRACE(precision);
    LoadOptions o;
    o.precision = precision;
    auto st = engine.load(dir, o);
    ASSERT_FALSE(st.ok()) << "a NaN weight loaded";
    EXPECT_TRUE(contains(st.message(), kNorm)) << st.message();
    EXPECT_TRUE(contains(st.message(), "element 7")) << st.message();
    EXPECT_TRUE(contains(st.message(), "nan")) << st.message();
    EXPECT_EQ(st.error().kind, ql::ErrorKind::kInput);
  }
}

TEST(NonFiniteWeights, InfoCheckScansEveryValueAndNamesTheTensor) {
  mt::TempDir tmp;
  const std::string dir = tiny_with_nan_norm(tmp);
  const auto checked = mt::run_cli("info --check " + dir);
  EXPECT_EQ(checked.exit_code, 2) << checked.err;
  EXPECT_TRUE(contains(checked.err, kNorm)) << checked.err;
  EXPECT_TRUE(contains(checked.err, "1 of its 40 values are not finite (the first, element 7, is nan)")) << checked.err;
  EXPECT_TRUE(contains(checked.err, "with NaN or infinity")) << checked.err;
  // Without --check only headers are read, and the help says so.
  const auto plain = mt::run_cli("info " + dir);
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  const auto help = mt::run_cli("info --help");
  EXPECT_TRUE(contains(help.out, "--check")) << help.out;
}

TEST(NonFiniteWeights, InfoCheckOnAFiniteModelSaysEveryValueIsFinite) {
  const auto r = mt::run_cli("info --check " + ql::engine::testing::demo_model_dir());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "every value is finite")) << r.out;
}

// Overwrites element `index` of an F32 tensor in a safetensors file in place.
void poke_f32(const std::string& file, const std::string& tensor, size_t index, float value) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << file;
  uint64_t header_len = 0;
  f.read(reinterpret_cast<char*>(&header_len), 8);
  std::string header(header_len, '\0');
  f.read(header.data(), static_cast<std::streamsize>(header_len));
  const auto j = nlohmann::json::parse(header);
  ASSERT_TRUE(j.contains(tensor)) << tensor << " is not in " << file;
  ASSERT_EQ(j[tensor]["dtype"], "F32");
  const uint64_t at = 8 + header_len + j[tensor]["data_offsets"][0].get<uint64_t>() + index * 4;
  f.seekp(static_cast<std::streamoff>(at));
  f.write(reinterpret_cast<const char*>(&value), 4);
}

// The shard of a bnb export holding `tensor`.
std::string shard_of(const std::string& dir, const std::string& tensor) {
  std::ifstream in(dir + "/model.safetensors.index.json");
  if (!in) return dir + "/model.safetensors";
  const auto index = nlohmann::json::parse(in);
  return dir + "/" + index["weight_map"][tensor].get<std::string>();
}

TEST(NonFiniteWeights, ANanInABitsandbytesQuantStateIsRefusedNamingIt) {
  const std::string module = "model.language_model.layers.0.self_attn.q_proj";
  struct Case {
    const char* precision;
    std::string tensor;
  } cases[] = {{"int8", module + ".SCB"}, {"nf4", module + ".weight.nested_absmax"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.precision);
    ql::engine::testing::ScratchDir scratch;
    const std::string out = scratch.file("bnb");
    auto exported = ql::bnb_testing::export_bnb(ql::engine::testing::demo_model_dir(), out, c.precision);
    ASSERT_TRUE(exported.ok()) << exported.message();
    poke_f32(shard_of(out, c.tensor), c.tensor, 0, std::numeric_limits<float>::quiet_NaN());
    Engine engine;
    auto st = engine.load(out, {});
    ASSERT_FALSE(st.ok()) << "a NaN quant state loaded";
    EXPECT_TRUE(contains(st.message(), c.tensor)) << st.message();
    EXPECT_TRUE(contains(st.message(), "element 0")) << st.message();
  }
}

}  // namespace
