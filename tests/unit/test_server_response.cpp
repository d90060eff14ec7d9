// What the server sends back (core/server/chat_completion_response.h,
// stop_matcher.h): OpenAI's chat.completion and chat.completion.chunk shapes
// field by field, server-sent event framing, finish reasons, usage with
// cached tokens; stop sequences end a streamed answer exactly where the
// whole answer would end, even when a sequence is split across pieces.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/server/chat_completion_response.h"
#include "core/server/stop_matcher.h"

namespace {

using namespace ql::server;
using nlohmann::json;

const CompletionIds kIds{"chatcmpl-1", "qwen3-vl", 1765000000};

TEST(ServerResponse, ACompletionHasOpenAIsShape) {
  const json j = completion_json(kIds, "A red square.", "stop", Usage{120, 5, 100});
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1765000000);
  EXPECT_EQ(j["model"], "qwen3-vl");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "A red square.");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 120);
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], 125);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
}

TEST(ServerResponse, ChunksCarryRoleThenTextThenTheFinishReason) {
  const json first = chunk_json(kIds, std::string("assistant"), std::string(""), std::nullopt);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  const json middle = chunk_json(kIds, std::nullopt, std::string("red"), std::nullopt);
  EXPECT_FALSE(middle["choices"][0]["delta"].contains("role"));
  EXPECT_EQ(middle["choices"][0]["delta"]["content"], "red");
  const json last = chunk_json(kIds, std::nullopt, std::nullopt, std::string("length"));
  EXPECT_TRUE(last["choices"][0]["delta"].empty());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  const json usage = usage_chunk_json(kIds, Usage{10, 2, 0});
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 12);
}

TEST(ServerResponse, EventsAreFramedAsServerSentEvents) {
  const std::string e = sse_event(json{{"a", 1}});
  EXPECT_EQ(e, "data: {\"a\":1}\n\n");
  EXPECT_STREQ(kSseDone, "data: [DONE]\n\n");
  // Text that is not valid UTF-8 is replaced, not thrown about.
  const std::string bad = sse_event(json{{"t", std::string("a\xff" "b")}});
  EXPECT_EQ(bad, "data: {\"t\":\"a\xEF\xBF\xBD" "b\"}\n\n");
}

TEST(ServerResponse, FinishReasons) {
  using ql::engine::StopReason;
  EXPECT_STREQ(finish_reason(StopReason::kEos, false), "stop");
  EXPECT_STREQ(finish_reason(StopReason::kMaxTokens, false), "length");
  EXPECT_STREQ(finish_reason(StopReason::kContextFull, false), "length");
  EXPECT_STREQ(finish_reason(StopReason::kMaxTokens, true), "stop");  // a stop sequence ended it first
}

// Feeds `pieces` one by one; returns what was sent, and whether it stopped.
std::pair<std::string, bool> stream(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher m(stops);
  std::string sent;
  for (const auto& p : pieces) sent += m.feed(p);
  sent += m.flush();
  return {sent, m.stopped()};
}

TEST(StopMatcher, EndsBeforeTheFirstStopSequenceWhereverThePiecesSplitIt) {
  const std::string text = "The answer is 42.\nEND of it";
  for (size_t cut = 1; cut < text.size(); ++cut) {
    for (size_t cut2 = cut; cut2 < text.size(); ++cut2) {
      const auto [sent, stopped] =
          stream({"END", "\nX"}, {text.substr(0, cut), text.substr(cut, cut2 - cut), text.substr(cut2)});
      ASSERT_EQ(sent, "The answer is 42.\n") << cut << " " << cut2;
      ASSERT_TRUE(stopped);
    }
  }
}

TEST(StopMatcher, HeldBackTextIsSentWhenItTurnsOutNotToBeAStop) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.feed("go ST"), "go ");  // "ST" may begin STOP
  EXPECT_EQ(m.feed("ART"), "START");
  EXPECT_EQ(m.feed(" S"), " ");
  EXPECT_EQ(m.flush(), "S");  // the answer ended: nothing is held back for ever
  EXPECT_FALSE(m.stopped());
  // No stop sequences: everything passes at once.
  StopMatcher none({});
  EXPECT_EQ(none.feed("abc"), "abc");
}

TEST(StopMatcher, TheEarliestOfSeveralWinsAndNothingFollows) {
  const auto [sent, stopped] = stream({"world", "lo"}, {"hello world"});
  EXPECT_EQ(sent, "hel");
  EXPECT_TRUE(stopped);
  StopMatcher m({"x"});
  EXPECT_EQ(m.feed("axb"), "a");
  EXPECT_EQ(m.feed("more"), "");
  EXPECT_EQ(m.flush(), "");
}

}  // namespace
