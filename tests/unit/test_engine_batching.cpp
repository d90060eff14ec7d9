// Engine::run_sequences (core/engine/batch_runner.h) on the demo model, CPU:
// requests decoded together answer exactly what each answers alone through
// generate() (greedy at bf16, and at int8, whose outlier columns are chosen
// per sequence), whether they start together or join a running batch; a
// cancelled one stops without disturbing the others; a sampled one follows
// its seed; more jobs than slots wait for a free one.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;

struct Outcome {
  std::vector<int32_t> ids;
  std::string streamed;
  StopReason stop = StopReason::kMaxTokens;
  bool done = false, failed = false;
};

GenerationRequest chat_request(const std::string& text, int64_t tokens, std::vector<std::string> images = {}) {
  Conversation c;
  std::vector<ImageInput> pictures;
  for (auto& p : images) pictures.push_back(ImageInput::file(p));
  c.messages.push_back(Message::user(text, std::move(pictures)));
  GenerationRequest r;
  r.prompt = c;
  r.max_new_tokens = tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0;
  return r;
}

// Hands job i over when `start_step[i]` decode steps have run (0: at once),
// as many as fit; records the most sequences seen running.
class ScriptedFeed : public SequenceFeed {
 public:
  ScriptedFeed(std::vector<GenerationRequest> requests, std::vector<int> start_step)
      : requests_(std::move(requests)), start_(std::move(start_step)) {
    out.resize(requests_.size());
    given_.assign(start_.size(), false);
    for (size_t i = 0; i < requests_.size(); ++i) cancels.push_back(std::make_shared<std::atomic<bool>>(false));
  }
  std::optional<std::vector<SequenceJob>> next(int free_slots, int running) override {
    max_running = std::max(max_running, running);
    std::vector<SequenceJob> jobs;
    for (size_t i = 0; i < requests_.size() && static_cast<int>(jobs.size()) < free_slots; ++i) {
      if (given_[i] || start_[i] > steps_) continue;
      given_[i] = true;
      SequenceJob j;
      j.request = requests_[i];
      j.cancel = cancels[i];
      j.on_token = [this, i](const StreamedToken& t) {
        out[i].streamed += t.text;
        return !on_token || on_token(i, t);
      };
      j.on_done = [this, i](const ql::Result<GenerationResult>& r) {
        out[i].done = true;
        out[i].failed = !r.ok();
        if (r.ok()) {
          out[i].ids = r->generated_ids;
          out[i].stop = r->stop_reason;
        }
      };
      jobs.push_back(std::move(j));
    }
    ++steps_;
    const bool all_given = std::all_of(given_.begin(), given_.end(), [](bool b) { return b; });
    if (jobs.empty() && running == 0 && all_given) return std::nullopt;
    return jobs;
  }

  std::vector<std::shared_ptr<std::atomic<bool>>> cancels;
  std::vector<Outcome> out;
  int max_running = 0;
  std::function<bool(size_t, const StreamedToken&)> on_token;

 private:
  std::vector<GenerationRequest> requests_;
  std::vector<int> start_;
  std::vector<bool> given_;
  int steps_ = 0;
};

std::vector<GenerationRequest> four_requests() {
  return {chat_request("Describe a red square.", 10), chat_request("What is two plus two?", 7),
          chat_request("What is in the picture?", 9, {engine_image("img_a_64x64.png")}),
          chat_request("Name three colours and a shape.", 12)};
}

std::vector<int32_t> alone(const std::string& precision, const GenerationRequest& r) {
  Engine e(&ql::imageio::decode_image_file);
  LoadOptions lo;
  lo.backend = ql::backend::BackendChoice::kCpu;
  lo.precision = precision;
  EXPECT_TRUE(e.load(demo_model_dir(), lo).ok());
  auto g = e.generate(r);
  EXPECT_TRUE(g.ok()) << g.message();
  return g.ok() ? g->generated_ids : std::vector<int32_t>{};
}

std::unique_ptr<Engine> batched_engine(const std::string& precision, int parallel) {
  auto e = std::make_unique<Engine>(&ql::imageio::decode_image_file);
  LoadOptions lo;
  lo.backend = ql::backend::BackendChoice::kCpu;
  lo.precision = precision;
  lo.parallel = parallel;
  const auto st = e->load(demo_model_dir(), lo);
  EXPECT_TRUE(st.ok()) << st.message();
  return e;
}

TEST(EngineBatching, FourTogetherAnswerWhatEachAnswersAlone) {
  for (const char* precision : {"bf16", "int8"}) {
    SCOPED_TRACE(precision);
    const auto requests = four_requests();
    auto e = batched_engine(precision, 4);
    ScriptedFeed feed(requests, {0, 0, 0, 0});
    ASSERT_TRUE(e->run_sequences(feed).ok());
    EXPECT_EQ(feed.max_running, 4) << "the four were decoded together";
    for (size_t i = 0; i < requests.size(); ++i) {
      ASSERT_TRUE(feed.out[i].done && !feed.out[i].failed) << i;
      EXPECT_EQ(feed.out[i].ids, alone(precision, requests[i])) << "request " << i;
      EXPECT_EQ(feed.out[i].ids.size(), static_cast<size_t>(requests[i].max_new_tokens));
    }
  }
}

TEST(EngineBatching, JoiningARunningBatchChangesNothing) {
  const auto requests = four_requests();
  auto e = batched_engine("bf16", 4);
  // The second joins after 3 steps, the picture after 5, the last after 6.
  ScriptedFeed feed(requests, {0, 3, 5, 6});
  ASSERT_TRUE(e->run_sequences(feed).ok());
  EXPECT_GE(feed.max_running, 3);
  for (size_t i = 0; i < requests.size(); ++i) EXPECT_EQ(feed.out[i].ids, alone("bf16", requests[i])) << i;
}

TEST(EngineBatching, MoreJobsThanSlotsWaitAndReuseTheirSlot) {
  auto requests = four_requests();
  requests.push_back(chat_request("One more question.", 5));
  auto e = batched_engine("bf16", 2);
  ScriptedFeed feed(requests, {0, 0, 0, 0, 0});
  ASSERT_TRUE(e->run_sequences(feed).ok());
  EXPECT_EQ(feed.max_running, 2);
  for (size_t i = 0; i < requests.size(); ++i) EXPECT_EQ(feed.out[i].ids, alone("bf16", requests[i])) << i;
}

TEST(EngineBatching, ACancelledJobStopsAndTheOthersGoOn) {
  const auto requests = four_requests();
  auto e = batched_engine("bf16", 4);
  ScriptedFeed feed(requests, {0, 0, 0, 0});
  // Job 1 is cancelled by its own callback at its third token (a client gone).
  int seen_tokens_of_1 = 0;
  feed.on_token = [&](size_t i, const StreamedToken&) {
    if (i == 1 && ++seen_tokens_of_1 == 3) feed.cancels[1]->store(true);
    return true;
  };
  ASSERT_TRUE(e->run_sequences(feed).ok());
  EXPECT_EQ(feed.out[1].stop, StopReason::kStopped);
  EXPECT_EQ(feed.out[1].ids.size(), 3u);
  for (size_t i : {0u, 2u, 3u}) EXPECT_EQ(feed.out[i].ids, alone("bf16", requests[i])) << i;
}

// A long prompt with a picture (about 1,600 tokens) joins a running answer:
// its prompt goes in in pieces of kInterleavedPrefillTokens between decode
// steps, so the running answer keeps streaming meanwhile; both answers are
// what each gives alone.
TEST(EngineBatching, ALongPromptIsPrefilledBetweenDecodeSteps) {
  std::string words;
  for (int i = 0; i < 490; ++i) words += "word ";
  std::string more;
  for (int i = 0; i < 1100; ++i) more += "more ";
  std::vector<GenerationRequest> requests = {chat_request("Count to twenty.", 40),
                                             chat_request("", 6)};
  // The picture's tokens start near token 500, across the first piece's end.
  Conversation c;
  Message m{Role::kUser, {}};
  m.parts.emplace_back(words);
  m.parts.emplace_back(ImageInput::file(engine_image("img_c_300x170.png")));
  m.parts.emplace_back(more);
  c.messages.push_back(std::move(m));
  requests[1].prompt = c;
  // Events in order: 'a' a token of the running answer, 'p' progress of the long prompt, 'b' its first token.
  std::string events;
  requests[1].on_prefill_progress = [&](double) { events += 'p'; };
  auto e = batched_engine("bf16", 2);
  ScriptedFeed feed(requests, {0, 3});
  feed.on_token = [&](size_t i, const StreamedToken&) {
    if (i == 0) events += 'a';
    if (i == 1 && events.find('b') == std::string::npos) events += 'b';
    return true;
  };
  ASSERT_TRUE(e->run_sequences(feed).ok());
  ASSERT_TRUE(feed.out[0].done && !feed.out[0].failed && feed.out[1].done && !feed.out[1].failed) << events;
  const size_t first_p = events.find('p'), b = events.find('b');
  ASSERT_NE(first_p, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  const std::string during = events.substr(first_p, b - first_p);
  EXPECT_GE(std::count(during.begin(), during.end(), 'a'), 2)
      << "the running answer streamed between the long prompt's pieces: " << events;
  EXPECT_EQ(feed.out[0].ids, alone("bf16", requests[0]));
  EXPECT_EQ(feed.out[1].ids, alone("bf16", requests[1]));
}

TEST(EngineBatching, ASampledJobFollowsItsSeedInABatch) {
  auto requests = four_requests();
  requests[0].sampling.temperature = 0.9;
  requests[0].sampling.top_k = 40;
  requests[0].sampling.seed = 1234;
  auto e = batched_engine("bf16", 4);
  ScriptedFeed feed(requests, {0, 0, 0, 0});
  ASSERT_TRUE(e->run_sequences(feed).ok());
  EXPECT_EQ(feed.out[0].ids, alone("bf16", requests[0]));
}

}  // namespace
