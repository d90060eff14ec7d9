// The prompts a comparison runs: the built-in set on the demo pictures and
// the --prompts file format (text or token ids, images, system), with its
// errors naming the item and key at fault.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <variant>

#include "core/engine/compare_prompts.h"
#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;

std::vector<const ImageInput*> images_in(const Conversation& c) {
  std::vector<const ImageInput*> out;
  for (const auto& m : c.messages)
    for (const auto& part : m.parts)
      if (const auto* im = std::get_if<ImageInput>(&part)) out.push_back(im);
  return out;
}

TEST(ComparePrompts, BuiltinSetMixesTextAndEachDemoPicture) {
  const std::string dir = data_path("../../resources/images");
  const auto set = builtin_compare_prompts(dir);
  ASSERT_GE(set.size(), 4u);
  ASSERT_LE(set.size(), 6u);
  size_t text_only = 0;
  std::set<std::string> pictures;
  for (const auto& p : set) {
    EXPECT_FALSE(p.label.empty());
    const auto* c = std::get_if<Conversation>(&p.prompt);
    ASSERT_NE(c, nullptr) << p.label;
    const auto images = images_in(*c);
    if (images.empty()) ++text_only;
    for (const auto* im : images) {
      EXPECT_TRUE(std::filesystem::is_regular_file(im->path)) << im->path;
      pictures.insert(std::filesystem::path(im->path).filename().string());
      EXPECT_NE(p.label.find(std::filesystem::path(im->path).filename().string()), std::string::npos) << p.label;
    }
  }
  EXPECT_GE(text_only, 1u);
  EXPECT_EQ(pictures, (std::set<std::string>{"shapes.png", "bar_chart.png", "stop_sign.png"}));
  EXPECT_EQ(builtin_compare_images().size(), 3u);
}

TEST(ComparePrompts, TextPromptsWithImagesAndSystem) {
  auto r = parse_compare_prompts(
      R"([{"text": "What is this?", "images": ["a.png", "/abs/b.png"], "system": "Be brief."},
          {"text": "Hello"}])",
      "p.json", "/base");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 2u);
  const auto& c = std::get<Conversation>((*r)[0].prompt);
  ASSERT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(c.messages[0].role, Role::kSystem);
  EXPECT_EQ(std::get<std::string>(c.messages[0].parts[0]), "Be brief.");
  EXPECT_EQ(c.messages[1].role, Role::kUser);
  ASSERT_EQ(c.messages[1].parts.size(), 3u);  // images first, then the text
  EXPECT_EQ(std::get<ImageInput>(c.messages[1].parts[0]).path, "/base/a.png");
  EXPECT_EQ(std::get<ImageInput>(c.messages[1].parts[1]).path, "/abs/b.png");
  EXPECT_EQ(std::get<std::string>(c.messages[1].parts[2]), "What is this?");
  EXPECT_EQ((*r)[0].label, "What is this? [a.png] [b.png]");
  const auto& hello = std::get<Conversation>((*r)[1].prompt);
  ASSERT_EQ(hello.messages.size(), 1u);
  EXPECT_EQ(hello.messages[0].parts.size(), 1u);
}

TEST(ComparePrompts, TokenIdPromptsWithImages) {
  auto r = parse_compare_prompts(R"([{"input_ids": [5, 7, 9], "images": ["img.png"]}])", "p.json", "/d");
  ASSERT_TRUE(r.ok()) << r.message();
  const auto& t = std::get<TokenPrompt>((*r)[0].prompt);
  EXPECT_EQ(t.ids, (std::vector<int32_t>{5, 7, 9}));
  ASSERT_EQ(t.images.size(), 1u);
  EXPECT_EQ(t.images[0].path, "/d/img.png");
  EXPECT_EQ((*r)[0].label, "token ids (3) [img.png]");
}

TEST(ComparePrompts, BadFilesNameTheItemAndKey) {
  auto fails_with = [](const std::string& json, const std::string& part) {
    auto r = parse_compare_prompts(json, "p.json", "");
    ASSERT_FALSE(r.ok()) << json;
    EXPECT_NE(r.message().find(part), std::string::npos) << r.message();
    EXPECT_EQ(r.message().rfind("p.json", 0), 0u) << r.message();
  };
  fails_with("[{\"text\": ", "not valid JSON");
  fails_with(R"({"text": "a"})", "array");
  fails_with("[]", "empty");
  fails_with(R"([{"text": "a"}, {"text": "b", "image": ["x.png"]}])", "prompt 2: unknown key \"image\"");
  fails_with(R"([{"text": "a", "input_ids": [1]}])", "exactly one");
  fails_with(R"([{"images": ["x.png"]}])", "exactly one");
  fails_with(R"([{"input_ids": [1], "system": "s"}])", "\"system\"");
  fails_with(R"([{"text": "a", "images": "x.png"}])", "\"images\" must be an array");
  fails_with(R"([{"text": "a", "images": ["x.png", 3]}])", "image 2");
  fails_with(R"([{"input_ids": [1, -2]}])", "prompt 1 input_ids");
  fails_with(R"([{"text": ""}])", "non-empty");
  fails_with(R"(["hello"])", "prompt 1: expected an object");
}

TEST(ComparePrompts, FileImagesAreRelativeToItsFolder) {
  ScratchDir dir;
  const std::string path = dir.write("prompts.json", R"([{"text": "Hi", "images": ["pic.png"]}])");
  auto r = load_compare_prompts(path);
  ASSERT_TRUE(r.ok()) << r.message();
  const auto images = images_in(std::get<Conversation>((*r)[0].prompt));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0]->path, dir.file("pic.png"));

  auto missing = load_compare_prompts(dir.file("nope.json"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("nope.json"), std::string::npos) << missing.message();
}

}  // namespace
