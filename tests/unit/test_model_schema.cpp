// The tensor schema against independent lists: the published tensors.txt for
// the 30B config, the hand-written tiny list; parameter counts against
// docs/model.md §2.2 and hand arithmetic.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>

#include "core/model/model_config.h"
#include "core/model/model_info.h"
#include "core/model/tensor_schema.h"
#include "tests/unit/model_test_files.h"

namespace ql::model {
namespace {

const std::string kPublishedDir = std::string(QL_TEST_DATA) + "/qwen3-vl-30b-a3b";

using ShapeMap = std::map<std::string, std::vector<int64_t>>;

std::vector<int64_t> parse_shape(const std::string& s) {  // "[151936, 2048]"
  std::vector<int64_t> out;
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), num); it != std::sregex_iterator(); ++it)
    out.push_back(std::stoll(it->str()));
  return out;
}

// tensors.txt lists indexed tensors for index 0 and a comment
// "# PREFIX.N.* : the K tensors above repeat for N = 0..LAST"; expand it.
ShapeMap read_published_tensor_list() {
  std::ifstream in(kPublishedDir + "/tensors.txt");
  EXPECT_TRUE(in.good());
  std::vector<std::pair<std::string, std::vector<int64_t>>> rows;
  const std::regex repeat(R"(^# (\S+)\.([A-Z])\.\* : the (\d+) tensors above repeat for [A-Z] = 0\.\.(\d+))");
  std::string line;
  ShapeMap out;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, repeat)) {
      const std::string prefix = m[1].str() + ".";
      const size_t count = std::stoul(m[3].str());
      const int last = std::stoi(m[4].str());
      EXPECT_GE(rows.size(), count);
      for (size_t i = rows.size() - count; i < rows.size(); ++i) {
        const std::string& name = rows[i].first;
        EXPECT_EQ(name.rfind(prefix + "0.", 0), 0u) << name;
        for (int k = 1; k <= last; ++k)
          out[prefix + std::to_string(k) + name.substr(prefix.size() + 1)] = rows[i].second;
      }
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const size_t tab1 = line.find('\t'), tab2 = line.find('\t', tab1 + 1);
    const std::string name = line.substr(0, tab1);
    auto shape = parse_shape(line.substr(tab1 + 1, tab2 - tab1 - 1));
    EXPECT_EQ(line.substr(tab2 + 1), "BF16") << line;
    rows.emplace_back(name, shape);
    out[name] = shape;
  }
  return out;
}

ShapeMap schema_shapes(const std::vector<TensorSpec>& schema) {
  ShapeMap out;
  for (const auto& s : schema) EXPECT_TRUE(out.emplace(s.name, s.shape).second) << "duplicate " << s.name;
  return out;
}

ModelConfig published_config() {
  auto r = load_model_config(kPublishedDir);
  EXPECT_TRUE(r.ok()) << r.message();
  return *r;
}

ModelConfig tiny_config(const nlohmann::json& j = testing::tiny_config_json()) {
  auto r = parse_model_config(j.dump(), "tiny/config.json");
  EXPECT_TRUE(r.ok()) << r.message();
  return *r;
}

TEST(TensorSchema, PublishedConfigGivesExactlyThePublishedTensorList) {
  const ShapeMap expected = read_published_tensor_list();
  ASSERT_EQ(expected.size(), 882u);  // 48 x 11 + 27 x 12 + 3 x 6 + 12 singles
  const ShapeMap actual = schema_shapes(build_tensor_schema(published_config()));
  EXPECT_EQ(actual.size(), expected.size());
  for (const auto& [name, shape] : expected) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      ADD_FAILURE() << "schema lacks " << name;
      continue;
    }
    EXPECT_EQ(it->second, shape) << name;
  }
  for (const auto& [name, shape] : actual) EXPECT_TRUE(expected.count(name)) << "schema has extra " << name;
}

TEST(TensorSchema, PublishedParameterCountsMatchModelMd) {
  const ParameterCounts c = count_parameters(build_tensor_schema(published_config()));
  EXPECT_EQ(c[Component::kVision], 538'631'408);
  EXPECT_EQ(c[Component::kAttention], 905'981'952);
  EXPECT_EQ(c[Component::kTextNorms], 198'656);
  EXPECT_EQ(c[Component::kRouter], 12'582'912);
  EXPECT_EQ(c[Component::kExperts], 28'991'029'248);
  EXPECT_EQ(c[Component::kEmbeddings], 311'164'928);
  EXPECT_EQ(c[Component::kLmHead], 311'164'928);
  EXPECT_EQ(c[Component::kDenseMlp], 0);
  EXPECT_EQ(c.other, 0);
  EXPECT_EQ(c.total(), 31'070'754'032);
  // tensors.txt: text params touched per token (8 of 128 experts, excl. vision).
  EXPECT_EQ(text_parameters_per_token(published_config().text, c), 3'353'032'704);
}

TEST(TensorSchema, TinyConfigGivesTheHandWrittenList) {
  ShapeMap expected;
  for (const auto& t : testing::tiny_tensors()) expected[t.name] = t.shape;
  ASSERT_EQ(expected.size(), 75u);
  EXPECT_EQ(schema_shapes(build_tensor_schema(tiny_config())), expected);
}

TEST(TensorSchema, TinyParameterCountsByHand) {
  const ModelConfig cfg = tiny_config();
  const ParameterCounts c = count_parameters(build_tensor_schema(cfg));
  // attention: 3 x (48*40 + 24*40 + 24*40 + 40*48 + 12 + 12)
  EXPECT_EQ(c[Component::kAttention], 17'352);
  EXPECT_EQ(c[Component::kTextNorms], 280);       // 3 x 2 x 40 + 40
  EXPECT_EQ(c[Component::kRouter], 480);          // 2 MoE layers x 6 x 40
  EXPECT_EQ(c[Component::kExperts], 34'560);      // 2 x (6*40*48 + 6*24*40)
  EXPECT_EQ(c[Component::kDenseMlp], 6'720);      // 2*56*40 + 40*56
  EXPECT_EQ(c[Component::kEmbeddings], 2'560);    // 64 x 40
  EXPECT_EQ(c[Component::kLmHead], 2'560);
  // vision: patch 2304+24, pos 384, 2 blocks x 4284, merger 13240, deepstack 13384
  EXPECT_EQ(c[Component::kVision], 37'904);
  EXPECT_EQ(c.total(), 102'416);
  // per token: everything in the text model but 4 of 6 experts' share (34560 / 6 * 2 = 11520 kept)
  EXPECT_EQ(text_parameters_per_token(cfg.text, c), 41'472);
}

TEST(TensorSchema, TiedEmbeddingsMakeLmHeadOptionalAndUncounted) {
  auto j = testing::tiny_config_json();
  j["tie_word_embeddings"] = true;
  const auto schema = build_tensor_schema(tiny_config(j));
  bool found = false;
  for (const auto& s : schema)
    if (s.name == "lm_head.weight") {
      found = true;
      EXPECT_TRUE(s.optional);
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(count_parameters(schema)[Component::kLmHead], 0);
}

TEST(TensorSchema, AttentionBiasAddsBiases) {
  auto j = testing::tiny_config_json();
  j["text_config"]["attention_bias"] = true;
  const ShapeMap shapes = schema_shapes(build_tensor_schema(tiny_config(j)));
  const std::string p = "model.language_model.layers.2.self_attn.";
  EXPECT_EQ(shapes.at(p + "q_proj.bias"), (std::vector<int64_t>{48}));
  EXPECT_EQ(shapes.at(p + "k_proj.bias"), (std::vector<int64_t>{24}));
  EXPECT_EQ(shapes.at(p + "v_proj.bias"), (std::vector<int64_t>{24}));
  EXPECT_EQ(shapes.at(p + "o_proj.bias"), (std::vector<int64_t>{40}));
  EXPECT_EQ(shapes.size(), 75u + 12u);
}

TEST(TensorSchema, ComponentNames) {
  EXPECT_EQ(component_name(Component::kVision), "vision");
  EXPECT_EQ(component_name(Component::kTextNorms), "text_norms");
  EXPECT_EQ(component_name(Component::kLmHead), "lm_head");
}

}  // namespace
}  // namespace ql::model
