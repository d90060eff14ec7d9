// compare_precisions' per-token callback (what the GUI's compare view streams
// side by side): every token of every precision's measured answer arrives,
// tagged with its row (run order) and prompt, in order, and the tokens of one
// answer joined are exactly the report's answer; the warm-up and the
// teacher-forced runs stream nothing; a comparison can be stopped from it.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/compare.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;

struct Streamed {
  std::vector<int32_t> ids;  // the flush marker left out
  std::string text;
  int flushes = 0;
};
using Key = std::pair<size_t, size_t>;  // (row, prompt)

ComparePrompt ask(const std::string& text, std::vector<ImageInput> images = {}) {
  return {text, Conversation{{Message::user(text, std::move(images))}}};
}

CompareRequest demo_request(std::vector<std::string> precisions, int64_t tokens) {
  CompareRequest r;
  r.model_dir = demo_model_dir();
  r.precisions = std::move(precisions);
  r.prompts = {ask("What is the capital of France?"),
               ask("What is in this picture?", {ImageInput::file(engine_image("img_a_64x64.png"))})};
  r.tokens = tokens;
  return r;
}

class CompareTokens : public ::testing::Test {
 protected:
  Engine engine_{&ql::imageio::decode_image_file};
};

TEST_F(CompareTokens, EveryAnswerStreamsInRunOrderAndJoinsToTheReportsAnswer) {
  std::map<Key, Streamed> streamed;
  std::vector<Key> order;  // each (row, prompt) when its first token came
  auto report = compare_precisions(
      engine_, demo_request({"int8", "bf16"}, 6), {}, nullptr,
      [&](size_t row, size_t prompt, const StreamedToken& t) {
        const Key key{row, prompt};
        if (order.empty() || order.back() != key) order.push_back(key);
        Streamed& s = streamed[key];
        if (t.id == kFlushTokenId) ++s.flushes;
        else s.ids.push_back(t.id);
        s.text += t.text;
      });
  ASSERT_TRUE(report.ok()) << report.message();
  // bf16 is the reference and runs first although listed second.
  ASSERT_EQ(report->precisions.size(), 2u);
  EXPECT_EQ(report->precisions[0].name, "bf16");
  EXPECT_EQ(report->precisions[1].name, "int8");
  // One run of tokens per answer, in run order: no warm-up or forced run in between.
  EXPECT_EQ(order, (std::vector<Key>{{0, 0}, {0, 1}, {1, 0}, {1, 1}}));
  for (size_t row = 0; row < 2; ++row) {
    for (size_t prompt = 0; prompt < 2; ++prompt) {
      const PromptOutcome& outcome = report->precisions[row].prompts[prompt];
      const Streamed& s = streamed[{row, prompt}];
      EXPECT_EQ(s.ids, outcome.answer_ids) << "row " << row << ", prompt " << prompt;
      EXPECT_EQ(s.text, outcome.answer) << "row " << row << ", prompt " << prompt;
      EXPECT_FALSE(s.ids.empty());
      EXPECT_LE(s.ids.size(), 6u);
      EXPECT_LE(s.flushes, 1);
    }
  }
}

TEST_F(CompareTokens, StoppingFromTheCallbackCancelsTheComparison) {
  std::atomic<bool> cancel{false};
  std::vector<size_t> rows_seen;
  auto report = compare_precisions(engine_, demo_request({"bf16", "nf4"}, 6), {}, &cancel,
                                   [&](size_t row, size_t, const StreamedToken&) {
                                     rows_seen.push_back(row);
                                     if (row == 1) {  // the first token of the second precision
                                       cancel.store(true);
                                       engine_.stop();
                                     }
                                   });
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(Engine::is_cancelled(report.error())) << report.message();
  ASSERT_FALSE(rows_seen.empty());
  EXPECT_EQ(rows_seen.back(), 1u);
  // Stopped at once: no token of the second precision after the one that stopped it.
  size_t second_row_tokens = 0;
  for (size_t r : rows_seen) second_row_tokens += r == 1;
  EXPECT_EQ(second_row_tokens, 1u);
  EXPECT_FALSE(engine_.info().has_value());  // unloaded, as after any comparison
}

TEST_F(CompareTokens, NoCallbackChangesNothing) {
  // The existing callers pass none: the same answers as with one.
  auto without = compare_precisions(engine_, demo_request({"bf16"}, 4));
  size_t calls = 0;
  auto with = compare_precisions(engine_, demo_request({"bf16"}, 4), {}, nullptr,
                                 [&](size_t, size_t, const StreamedToken&) { ++calls; });
  ASSERT_TRUE(without.ok()) << without.message();
  ASSERT_TRUE(with.ok()) << with.message();
  ASSERT_EQ(without->precisions.size(), 1u);
  ASSERT_EQ(with->precisions.size(), 1u);
  size_t tokens = 0;
  for (size_t j = 0; j < 2; ++j) {
    EXPECT_EQ(without->precisions[0].prompts[j].answer_ids, with->precisions[0].prompts[j].answer_ids);
    tokens += with->precisions[0].prompts[j].answer_ids.size();
  }
  EXPECT_GE(calls, tokens);  // every token, plus at most one flush per answer
  EXPECT_LE(calls, tokens + 2);
}

}  // namespace
