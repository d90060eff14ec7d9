// The whole engine against transformers 5.17 (tests/data/engine/cases-*.json,
// made by tools/make_engine_reference.py): for every case of the demo model
// and the two tiny checkpoints, the same token ids and images give identical
// 3-D position ids, logits within 1e-3 on every stored value, and the same
// 12 greedy tokens (eos ignored). For the demo model the prompt is also built
// from the case's messages (chat template, tokenizer, pad expansion) and must
// equal the reference ids. Images are preprocessed with each checkpoint
// folder's preprocessor_config.json, as the engine always does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using Ids = std::vector<int32_t>;

constexpr double kLogitTolerance = 1e-3;

std::string data_path(const std::string& rel) { return std::string(QL_TEST_DATA) + "/" + rel; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

class EngineParity : public ::testing::Test {
 protected:
  void load(const std::string& checkpoint) {
    doc_ = read_json(data_path("engine/cases-" + checkpoint + ".json"));
    ASSERT_TRUE(doc_.is_object()) << checkpoint;
    ASSERT_FALSE(doc_["cases"].empty());
    engine_ = std::make_unique<Engine>(&ql::imageio::decode_image_file);
    auto st = engine_->load(data_path(doc_["folder"].get<std::string>()));
    ASSERT_TRUE(st.ok()) << st.message();
  }
  std::vector<ImageInput> images(const nlohmann::json& c) const {
    std::vector<ImageInput> out;
    for (const auto& f : c["images"])
      out.push_back(ImageInput::file(data_path(doc_["image_dir"].get<std::string>() + "/" + f.get<std::string>())));
    return out;
  }

  void check_case(const std::string& checkpoint, const nlohmann::json& c) {
    const std::string name = c["name"];
    SCOPED_TRACE(checkpoint + "/" + name);
    const Ids input_ids = c["input_ids"].get<Ids>();

    // The preprocessor gives the reference's patch grids.
    auto prepared = engine_->prepare(TokenPrompt{input_ids, images(c)});
    ASSERT_TRUE(prepared.ok()) << prepared.message();
    ASSERT_EQ(prepared->images.size(), c["image_grid_thw"].size());
    for (size_t k = 0; k < prepared->images.size(); ++k) {
      const auto& im = prepared->images[k];
      EXPECT_EQ((std::vector<int>{im.grid_t, im.grid_h, im.grid_w}), c["image_grid_thw"][k].get<std::vector<int>>());
    }

    GenerationRequest r;
    r.prompt = TokenPrompt{input_ids, images(c)};
    r.sampling.temperature = 0;
    r.max_new_tokens = static_cast<int64_t>(c["greedy"].size());
    r.ignore_eos = true;
    for (const auto& [row, _] : c["logits"].items()) r.logit_rows.rows.push_back(std::stoll(row));
    auto result = engine_->generate(r);
    ASSERT_TRUE(result.ok()) << result.message();

    // Positions: a text-only prompt counts 0..n-1 on every axis (docs/model.md §8).
    std::vector<std::vector<int64_t>> want_positions;
    if (c["position_ids"].is_null()) {
      std::vector<int64_t> seq(input_ids.size());
      for (size_t i = 0; i < seq.size(); ++i) seq[i] = static_cast<int64_t>(i);
      want_positions = {seq, seq, seq};
    } else {
      want_positions = c["position_ids"].get<std::vector<std::vector<int64_t>>>();
    }
    ASSERT_EQ(result->reused_tokens, 0);
    for (int a = 0; a < 3; ++a) EXPECT_EQ(result->prompt_positions.axis[a], want_positions[a]) << "axis " << a;

    double case_max = 0;
    for (const auto& [row, want] : c["logits"].items()) {
      const auto it = result->logits.find(std::stoll(row));
      ASSERT_NE(it, result->logits.end()) << "row " << row;
      const std::vector<float>& got = it->second;
      const auto& values = want["values"];
      const bool all = want["columns"].is_string();
      ASSERT_EQ(all ? got.size() : values.size(), values.size());
      double row_max = 0;
      for (size_t i = 0; i < values.size(); ++i) {
        const size_t col = all ? i : want["columns"][i].get<size_t>();
        ASSERT_LT(col, got.size());
        row_max = std::max(row_max, std::abs(static_cast<double>(got[col]) - values[i].get<double>()));
      }
      std::printf("%s/%s row %s: %zu values, max |diff| %.3g\n", checkpoint.c_str(), name.c_str(), row.c_str(),
                  values.size(), row_max);
      EXPECT_LE(row_max, kLogitTolerance) << "row " << row;
      case_max = std::max(case_max, row_max);
    }
    std::printf("%s/%s: max |logit diff| %.3g\n", checkpoint.c_str(), name.c_str(), case_max);
    EXPECT_EQ(result->generated_ids, c["greedy"].get<Ids>());
  }

  void check_all(const std::string& checkpoint) {
    load(checkpoint);
    if (HasFatalFailure()) return;
    for (const auto& c : doc_["cases"]) check_case(checkpoint, c);
  }

  nlohmann::json doc_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineParity, DemoModel) { check_all("demo"); }
TEST_F(EngineParity, TinyB) { check_all("tiny-b"); }
TEST_F(EngineParity, TinyC) { check_all("tiny-c"); }

// Chat template + tokenizer + pad expansion reproduce the processor's ids.
TEST_F(EngineParity, DemoMessagesGiveTheReferenceIds) {
  load("demo");
  if (HasFatalFailure()) return;
  for (const auto& c : doc_["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    Conversation conv;
    for (const auto& m : c["messages"]) {
      const std::string role = m["role"];
      Message msg{role == "system" ? Role::kSystem : role == "assistant" ? Role::kAssistant : Role::kUser, {}};
      for (const auto& part : m["content"]) {
        if (part["type"] == "text") {
          msg.parts.emplace_back(part["text"].get<std::string>());
        } else {
          msg.parts.emplace_back(ImageInput::file(
              data_path(doc_["image_dir"].get<std::string>() + "/" + part["image"].get<std::string>())));
        }
      }
      conv.messages.push_back(std::move(msg));
    }
    auto prepared = engine_->prepare(conv);
    ASSERT_TRUE(prepared.ok()) << prepared.message();
    EXPECT_EQ(prepared->ids, c["input_ids"].get<Ids>());
  }
}

}  // namespace
