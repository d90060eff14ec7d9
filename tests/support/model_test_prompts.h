#pragma once
// Prompts for the whole-model gpu suites: the text cases of tests/data/engine
// (token ids recorded with transformers), and prompts with one generated
// picture (vision_start, the picture's pad tokens, vision_end between text).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/request.h"
#include "core/model/model_config.h"
#include "core/vision/preprocess.h"

namespace ql::test {

using Ids = std::vector<int32_t>;

inline std::string data_path(const std::string& rel) { return std::string(QL_TEST_DATA) + "/" + rel; }

inline nlohmann::json read_cases(const std::string& name) {
  std::ifstream in(data_path("engine/cases-" + name + ".json"));
  return nlohmann::json::parse(in, nullptr, false);
}

// The checkpoint folder of "demo", "tiny-b" or "tiny-c".
inline std::string folder_of(const std::string& checkpoint) {
  return data_path(read_cases(checkpoint)["folder"].get<std::string>());
}

// The checkpoint's first recorded case without pictures.
inline engine::TokenPrompt text_prompt(const std::string& checkpoint) {
  const auto cases = read_cases(checkpoint);
  for (const auto& c : cases["cases"])
    if (c["images"].empty()) return engine::TokenPrompt{c["input_ids"].get<Ids>(), {}};
  ADD_FAILURE() << "no text-only case for " << checkpoint;
  return {};
}

// A deterministic picture: smooth gradients plus a few edges.
inline vision::ImageRGB8 test_image(int w, int h, int seed) {
  vision::ImageRGB8 im;
  im.width = w;
  im.height = h;
  im.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        im.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] =
            static_cast<uint8_t>((x * (3 + c) + y * (5 + seed) + ((x / 7 + y / 5) % 2) * 60 + seed * 31) & 0xff);
  return im;
}

// Token ids with one image: `before`, vision_start, pads for the image's
// token count, vision_end, `after`.
inline engine::TokenPrompt image_prompt(const model::ModelConfig& cfg, const vision::PreprocessConfig& pre,
                                        const vision::ImageRGB8& image, const Ids& before, const Ids& after) {
  auto p = vision::preprocess_image(image, pre, "test image");
  EXPECT_TRUE(p.ok()) << p.message();
  const int64_t pads = p.ok() ? p->grid_t * p->grid_h * p->grid_w / (pre.merge_size * pre.merge_size) : 0;
  engine::TokenPrompt t;
  t.ids = before;
  t.ids.push_back(static_cast<int32_t>(cfg.vision_start_token_id));
  t.ids.insert(t.ids.end(), static_cast<size_t>(pads), static_cast<int32_t>(cfg.image_token_id));
  t.ids.push_back(static_cast<int32_t>(cfg.vision_end_token_id));
  t.ids.insert(t.ids.end(), after.begin(), after.end());
  t.images.push_back(engine::ImageInput::decoded(image, "test image"));
  return t;
}

}  // namespace ql::test
