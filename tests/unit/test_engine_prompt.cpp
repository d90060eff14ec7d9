// Prompt building without the model: image pad expansion and its checks,
// chat template + tokenizer + expansion on the demo model's config, the
// context-length check, KV-cache prefix reuse, and the tokenizer choice.
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/cache_reuse.h"
#include "core/engine/context_limit.h"
#include "core/engine/image_pads.h"
#include "core/engine/model_tokenizer.h"
#include "core/engine/prompt_builder.h"
#include "core/model/model_config.h"
#include "core/vision/preprocess_config.h"

namespace {

using namespace ql::engine;
using Ids = std::vector<int32_t>;

// The tiny-b checkpoint's ids: pad 590, start 588, end 589.
const ImageTokenIds kTiny{590, 588, 589};
constexpr int32_t P = 590, S = 588, E = 589;

// Published Qwen3 ids (docs/model.md §1.5): the demo model uses the real vocabulary.
constexpr int32_t kImStart = 151644, kImEnd = 151645, kUser = 872, kAssistant = 77091, kNewline = 198;
constexpr int32_t kVisionStart = 151652, kVisionEnd = 151653, kImagePad = 151655;

const std::string kDemoDir = std::string(QL_TEST_DATA) + "/../../resources/demo-model";

TEST(EnginePads, ExpandsEachPlaceholderToItsImagesCount) {
  const Ids ids = {1, S, P, E, 2, 3, S, P, E, 4};
  auto out = expand_image_pads(ids, std::vector<int64_t>{3, 1}, kTiny);
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(*out, (Ids{1, S, P, P, P, E, 2, 3, S, P, E, 4}));
}

TEST(EnginePads, TextOnlyPromptIsUnchanged) {
  const Ids ids = {5, 6, 7};
  auto out = expand_image_pads(ids, {}, kTiny);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, ids);
}

TEST(EnginePads, PlaceholderCountMustMatchImages) {
  const Ids ids = {1, S, P, E, 2};
  auto none = expand_image_pads(ids, {}, kTiny);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.message().find("1 image placeholder but 0 images"), std::string::npos) << none.message();
  auto two = expand_image_pads(ids, std::vector<int64_t>{4, 4}, kTiny);
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.message().find("but 2 images"), std::string::npos) << two.message();
}

TEST(EnginePads, UnbracketedPadIsRejected) {
  auto out = expand_image_pads(Ids{1, P, E}, std::vector<int64_t>{4}, kTiny);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.message().find("token 1"), std::string::npos) << out.message();
}

TEST(EnginePads, CheckAcceptsExpandedIds) {
  const Ids ids = {1, S, P, P, E, 2, S, P, P, P, E};
  const std::vector<std::string> labels = {"a.png", "b.png"};
  EXPECT_TRUE(check_image_pads(ids, std::vector<int64_t>{2, 3}, labels, kTiny).ok());
}

TEST(EnginePads, CheckNamesTheImageWhoseCountIsWrong) {
  const Ids ids = {1, S, P, P, E, 2, S, P, P, E};
  const std::vector<std::string> labels = {"a.png", "b.png"};
  auto st = check_image_pads(ids, std::vector<int64_t>{2, 3}, labels, kTiny);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("b.png"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("2 image tokens"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("needs 3"), std::string::npos) << st.message();
}

TEST(EnginePads, CheckReportsMissingAndExtraRuns) {
  const std::vector<std::string> labels = {"a.png", "b.png"};
  auto missing = check_image_pads(Ids{S, P, E}, std::vector<int64_t>{1, 1}, labels, kTiny);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("b.png"), std::string::npos) << missing.message();
  auto extra = check_image_pads(Ids{S, P, E, S, P, E}, std::vector<int64_t>{1}, labels, kTiny);
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.message().find("2 runs"), std::string::npos) << extra.message();
  auto unbracketed = check_image_pads(Ids{1, P, E}, std::vector<int64_t>{1}, labels, kTiny);
  ASSERT_FALSE(unbracketed.ok());
  EXPECT_NE(unbracketed.message().find("a.png"), std::string::npos) << unbracketed.message();
  EXPECT_NE(unbracketed.message().find("vision_start (id 588)"), std::string::npos) << unbracketed.message();
}

TEST(EngineContext, PromptMustFitTheContext) {
  EXPECT_TRUE(check_prompt_fits(4096, 0, 4096).ok());
  auto st = check_prompt_fits(5000, 4000, 4096);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("5000 tokens"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("4000 of them image tokens"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("context of 4096"), std::string::npos) << st.message();
  EXPECT_EQ(st.error().kind, ql::ErrorKind::kInput);
  EXPECT_EQ(st.error().reason, ql::ErrorReason::kPromptTooLong) << "the server answers context_length_exceeded by it";
}

// ---- KV-cache reuse -----------------------------------------------------------

TEST(EngineCacheReuse, KeepsTheCommonPrefixButRunsTheLastPromptToken) {
  const Ids cached = {1, 2, 3, 4, 5};
  EXPECT_EQ(reusable_prefix(cached, {}, Ids{1, 2, 3, 9, 9}, {}, kTiny), 3);
  EXPECT_EQ(reusable_prefix(cached, {}, Ids{1, 2, 3, 4, 5, 6, 7}, {}, kTiny), 5);
  // The same prompt again: everything but its last token.
  EXPECT_EQ(reusable_prefix(cached, {}, cached, {}, kTiny), 4);
  EXPECT_EQ(reusable_prefix(cached, {}, Ids{7, 8}, {}, kTiny), 0);
  EXPECT_EQ(reusable_prefix({}, {}, Ids{1, 2}, {}, kTiny), 0);
}

TEST(EngineCacheReuse, NeverCutsInsideAnImage) {
  //                 0  1  2  3  4  5  6  7
  const Ids cached = {1, S, P, P, P, E, 2, 3};
  const std::vector<uint64_t> key = {42};
  // Differs inside the pad run (another image size): back off to before vision_start.
  EXPECT_EQ(reusable_prefix(cached, key, Ids{1, S, P, P, E, 2}, key, kTiny), 1);
  // Differs right after vision_start.
  EXPECT_EQ(reusable_prefix(cached, key, Ids{1, S, 9, 9}, key, kTiny), 1);
  // The whole image is common: keep it.
  EXPECT_EQ(reusable_prefix(cached, key, Ids{1, S, P, P, P, E, 2, 9, 9}, key, kTiny), 7);
}

TEST(EngineCacheReuse, SameSizeButOtherPixelsIsNotReused) {
  const Ids ids = {1, S, P, P, E, 2, 3};
  EXPECT_EQ(reusable_prefix(ids, std::vector<uint64_t>{1}, Ids{1, S, P, P, E, 2, 3, 4},
                            std::vector<uint64_t>{2}, kTiny),
            1);
  EXPECT_EQ(reusable_prefix(ids, std::vector<uint64_t>{1}, Ids{1, S, P, P, E, 2, 3, 4},
                            std::vector<uint64_t>{1}, kTiny),
            7);
}

TEST(EngineCacheReuse, SecondImageDiffersFirstIsKept) {
  const Ids ids = {S, P, E, 7, S, P, E, 8};
  EXPECT_EQ(reusable_prefix(ids, std::vector<uint64_t>{1, 2}, Ids{S, P, E, 7, S, P, E, 8, 9},
                            std::vector<uint64_t>{1, 3}, kTiny),
            4);
}

// ---- conversation -> ids, on the demo model's config and the installed tokenizer ----

struct FakeDecoder {
  // "WxH.png" decodes to a grey WxH image; anything else is a missing file.
  static ql::Result<ql::vision::ImageRGB8> decode(const std::string& path) {
    int w = 0, h = 0;
    if (std::sscanf(path.c_str(), "%dx%d.png", &w, &h) != 2) return ql::err("{}: image file not found", path);
    ql::vision::ImageRGB8 im;
    im.width = w;
    im.height = h;
    im.pixels.assign(static_cast<size_t>(w) * h * 3, 128);
    return im;
  }
};

class EnginePrompt : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = ql::model::load_model_config(kDemoDir);
    ASSERT_TRUE(cfg.ok()) << cfg.message();
    config_ = *cfg;
    // The published checkpoint's preprocessing (min 256x256 pixels): the counts below follow it,
    // whatever limits the demo model has.
    auto pre = ql::vision::load_preprocess_config(std::string(QL_TEST_DATA) + "/qwen3-vl-30b-a3b");
    ASSERT_TRUE(pre.ok()) << pre.message();
    preprocess_ = *pre;
    auto tok = ql::text::Tokenizer::load(QL_DEFAULT_TOKENIZER);
    ASSERT_TRUE(tok.ok()) << tok.message();
    tokenizer_ = std::move(*tok);
    ctx_.config = &config_;
    ctx_.preprocess = &preprocess_;
    ctx_.tokenizer = &*tokenizer_;
    ctx_.decoder = &decoder_;
    ctx_.context_tokens = 4096;
  }
  ql::model::ModelConfig config_;
  ql::vision::PreprocessConfig preprocess_;
  std::optional<ql::text::Tokenizer> tokenizer_;
  ImageDecoder decoder_ = &FakeDecoder::decode;
  PromptContext ctx_;
};

// The template's tokens around one image (docs/model.md §5.1), the image widened to
// 64 pads: a 64x64 image is upscaled to 256x256 by the published min_pixels, a
// 16x16 patch grid, 64 tokens.
TEST_F(EnginePrompt, OneImageTurnHasTheTemplateTokensAndExpandedPads) {
  Conversation c{{Message::user("", {ImageInput::file("64x64.png")})}};
  auto p = prepare_prompt(c, ctx_);
  ASSERT_TRUE(p.ok()) << p.message();
  Ids expected = {kImStart, kUser, kNewline, kVisionStart};
  expected.insert(expected.end(), 64, kImagePad);
  expected.insert(expected.end(), {kVisionEnd, kImEnd, kNewline, kImStart, kAssistant, kNewline});
  EXPECT_EQ(p->ids, expected);
  ASSERT_EQ(p->images.size(), 1u);
  EXPECT_EQ(p->image_labels, std::vector<std::string>{"64x64.png"});
  EXPECT_EQ(p->image_tokens(), 64);
}

TEST_F(EnginePrompt, TwoImagesGetTheirOwnCounts) {
  // 64x64 -> 16x16 patches (64 tokens); 48x80 -> 22x14 patches (77 tokens), as transformers does.
  Conversation c{{Message::user("", {ImageInput::file("64x64.png"), ImageInput::file("48x80.png")})}};
  auto p = prepare_prompt(c, ctx_);
  ASSERT_TRUE(p.ok()) << p.message();
  const auto spans = find_image_spans(p->ids, ImageTokenIds::from(config_));
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].pad_count(), 64);
  EXPECT_EQ(spans[1].pad_count(), 77);
  EXPECT_NE(p->image_keys[0], p->image_keys[1]);
}

TEST_F(EnginePrompt, MissingImageFileIsNamed) {
  Conversation c{{Message::user("What is this?", {ImageInput::file("no/such/file.png")})}};
  auto p = prepare_prompt(c, ctx_);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("no/such/file.png"), std::string::npos) << p.message();
  EXPECT_EQ(p.error().kind, ql::ErrorKind::kInput);
}

TEST_F(EnginePrompt, OverLongPromptFailsWithTheNumbers) {
  ctx_.context_tokens = 50;
  Conversation c{{Message::user("Describe it.", {ImageInput::file("64x64.png")})}};
  auto p = prepare_prompt(c, ctx_);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("64 of them image tokens"), std::string::npos) << p.message();
  EXPECT_NE(p.message().find("context of 50 tokens"), std::string::npos) << p.message();
  EXPECT_EQ(p.error().reason, ql::ErrorReason::kPromptTooLong);
}

TEST_F(EnginePrompt, ImagesOnlyInUserTurns) {
  Message sys = Message::system("x");
  sys.parts.emplace_back(ImageInput::file("64x64.png"));
  auto p = prepare_prompt(Conversation{{sys, Message::user("hi")}}, ctx_);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("64x64.png"), std::string::npos) << p.message();
}

TEST_F(EnginePrompt, UserTextThatSpellsAPlaceholderIsAMismatch) {
  Conversation c{{Message::user("<|vision_start|><|image_pad|><|vision_end|>")}};
  auto p = prepare_prompt(c, ctx_);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("1 image placeholder but 0 images"), std::string::npos) << p.message();
}

TEST_F(EnginePrompt, ChatNeedsATokenizer) {
  ctx_.tokenizer = nullptr;
  ctx_.no_tokenizer_reason = "none installed here";
  auto p = prepare_prompt(Conversation{{Message::user("hi")}}, ctx_);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("none installed here"), std::string::npos) << p.message();
}

TEST_F(EnginePrompt, TokenPromptIsCheckedAgainstItsImages) {
  Ids ids = {kImStart, kVisionStart};
  ids.insert(ids.end(), 63, kImagePad);
  ids.push_back(kVisionEnd);
  TokenPrompt tp{ids, {ImageInput::file("64x64.png")}};
  auto p = prepare_prompt(tp, ctx_);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("64x64.png"), std::string::npos) << p.message();
  EXPECT_NE(p.message().find("63 image tokens"), std::string::npos) << p.message();

  ids.insert(ids.begin() + 2, kImagePad);  // now 64
  auto ok = prepare_prompt(TokenPrompt{ids, {ImageInput::file("64x64.png")}}, ctx_);
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->ids, ids);
}

TEST_F(EnginePrompt, TokenPromptIdsMustBeInTheVocabulary) {
  auto p = prepare_prompt(TokenPrompt{{1, 2, 151936}, {}}, ctx_);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("151936 at position 2"), std::string::npos) << p.message();
  EXPECT_NE(p.message().find("vocabulary of 151936"), std::string::npos) << p.message();
}

TEST_F(EnginePrompt, PixelsNeedNoDecoder) {
  ctx_.decoder = nullptr;
  auto pixels = FakeDecoder::decode("64x64.png");
  ASSERT_TRUE(pixels.ok());
  auto p = prepare_prompt(Conversation{{Message::user("x", {ImageInput::decoded(*pixels, "pasted")})}}, ctx_);
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->image_tokens(), 64);
  auto file = prepare_prompt(Conversation{{Message::user("x", {ImageInput::file("64x64.png")})}}, ctx_);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.message().find("no image decoder"), std::string::npos) << file.message();
}

// ---- which tokenizer a model gets --------------------------------------------

TEST(EngineTokenizerChoice, DemoModelTakesTheInstalledTokenizer) {
  auto cfg = ql::model::load_model_config(kDemoDir);
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  auto choice = choose_tokenizer(std::string(QL_DEFAULT_TOKENIZER), *cfg);
  ASSERT_TRUE(choice.tokenizer.has_value()) << choice.note;
  EXPECT_EQ(choice.note, QL_DEFAULT_TOKENIZER);
}

TEST(EngineTokenizerChoice, TinyVocabularyRefusesTheQwenTokenizer) {
  auto cfg = ql::model::load_model_config(std::string(QL_TEST_DATA) + "/engine/tiny-b");
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  auto choice = choose_tokenizer(std::string(QL_DEFAULT_TOKENIZER), *cfg);
  EXPECT_FALSE(choice.tokenizer.has_value());
  EXPECT_NE(choice.note.find("vocabulary of 600"), std::string::npos) << choice.note;
}

TEST(EngineTokenizerChoice, NoTokenizerFoundKeepsTheReason) {
  auto cfg = ql::model::load_model_config(kDemoDir);
  ASSERT_TRUE(cfg.ok());
  auto choice = choose_tokenizer(ql::Result<std::string>(ql::err("nothing at /x")), *cfg);
  EXPECT_FALSE(choice.tokenizer.has_value());
  EXPECT_EQ(choice.note, "nothing at /x");
}

}  // namespace
