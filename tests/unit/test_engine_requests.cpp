// Request parsing and sampler glue without the model: --logits-rows, the
// --input-ids JSON, sampling settings resolved against generation_config.json,
// the seeded draws, the sampler on the CPU backend, and the metrics arithmetic.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "core/backend/cpu_backend.h"
#include "core/engine/logit_rows.h"
#include "core/engine/metrics.h"
#include "core/engine/sampling.h"
#include "core/engine/engine.h"
#include "core/model/model_config.h"
#include "core/engine/token_ids_json.h"
#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::engine;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- --logits-rows --------------------------------------------------------------

TEST(EngineLogitRows, ParsesAllAndCommaLists) {
  auto all = parse_logit_rows("all");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->all);
  auto list = parse_logit_rows("0, 5,-1");
  ASSERT_TRUE(list.ok()) << list.message();
  EXPECT_FALSE(list->all);
  EXPECT_EQ(list->rows, (std::vector<int64_t>{0, 5, -1}));
}

TEST(EngineLogitRows, RejectsWhatIsNotAnInteger) {
  for (const char* bad : {"", "1,,2", "x", "1.5", "3,", "-", "ALL"}) {
    auto r = parse_logit_rows(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "'";
  }
  auto r = parse_logit_rows("1,abc");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), "'abc'")) << r.message();
}

TEST(EngineLogitRows, NegativeRowsCountFromTheEnd) {
  auto rows = resolve_logit_rows(LogitRows{false, {-1, 0, -10, 3, 3}}, 10);
  ASSERT_TRUE(rows.ok()) << rows.message();
  EXPECT_EQ(*rows, (std::vector<int64_t>{0, 3, 9}));
}

TEST(EngineLogitRows, AllMeansEveryPromptRow) {
  auto rows = resolve_logit_rows(LogitRows{true, {}}, 4);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(EngineLogitRows, RowsOutsideThePromptAreErrors) {
  auto high = resolve_logit_rows(LogitRows{false, {10}}, 10);
  ASSERT_FALSE(high.ok());
  EXPECT_TRUE(contains(high.message(), "row 10")) << high.message();
  EXPECT_TRUE(contains(high.message(), "10 tokens")) << high.message();
  auto low = resolve_logit_rows(LogitRows{false, {-11}}, 10);
  ASSERT_FALSE(low.ok());
  EXPECT_TRUE(contains(low.message(), "row -11")) << low.message();
}

// ---- --input-ids JSON -------------------------------------------------------------

TEST(EngineInputIds, ParsesAnArrayOfIds) {
  auto ids = parse_token_ids_json(" [151644, 0, 2147483647]\n", "ids.json");
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_EQ(*ids, (std::vector<int32_t>{151644, 0, 2147483647}));
}

TEST(EngineInputIds, ErrorsNameTheFileAndTheElement) {
  struct Case {
    const char* json;
    const char* says;
  };
  const Case cases[] = {
      {"[1, 2", "not valid JSON"},
      {"{\"ids\": [1]}", "found a JSON object"},
      {"[]", "empty"},
      {"[1, 2.5]", "element 1 (2.5) is not an integer"},
      {"[1, \"7\"]", "element 1 (\"7\") is not an integer"},
      {"[1, 2, -3]", "element 2 (-3) is negative"},
      {"[2147483648]", "element 0 (2147483648) is too large"},
      {"[[1]]", "element 0 ([1]) is not an integer"},
  };
  for (const Case& c : cases) {
    auto r = parse_token_ids_json(c.json, "in.json");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_TRUE(contains(r.message(), "in.json: ")) << r.message();
    EXPECT_TRUE(contains(r.message(), c.says)) << r.message();
    EXPECT_EQ(r.error().kind, ql::ErrorKind::kInput);
  }
}

// ---- sampling settings ------------------------------------------------------------

ql::model::GenerationConfig published() { return ql::model::published_generation_defaults(); }

TEST(EngineSampling, DefaultsComeFromGenerationConfig) {
  auto s = resolve_sampling({}, published());
  ASSERT_TRUE(s.ok()) << s.message();
  // docs/model.md §1.6: temperature 0.7, top_p 0.8, top_k 20, repetition_penalty 1.0.
  EXPECT_FLOAT_EQ(s->params.temperature, 0.7f);
  EXPECT_FLOAT_EQ(s->params.top_p, 0.8f);
  EXPECT_EQ(s->params.top_k, 20);
  EXPECT_FLOAT_EQ(s->params.repetition_penalty, 1.0f);
  EXPECT_FLOAT_EQ(s->params.min_p, 0.0f);
  EXPECT_FLOAT_EQ(s->params.presence_penalty, 0.0f);
}

TEST(EngineSampling, DoSampleFalseMeansGreedy) {
  ql::model::GenerationConfig g;  // transformers' class defaults: do_sample false
  g.temperature = 0.9;
  auto s = resolve_sampling({}, g);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->params.temperature, 0.0f);
  SamplingOptions o;
  o.temperature = 0.5;  // asking for a temperature turns sampling on
  auto t = resolve_sampling(o, g);
  ASSERT_TRUE(t.ok());
  EXPECT_FLOAT_EQ(t->params.temperature, 0.5f);
}

TEST(EngineSampling, OptionsOverrideEverySetting) {
  SamplingOptions o;
  o.temperature = 0;
  o.top_k = 5;
  o.top_p = 0.5;
  o.min_p = 0.1;
  o.repetition_penalty = 1.3;
  o.presence_penalty = 1.5;
  o.seed = 77;
  auto s = resolve_sampling(o, published());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->params.temperature, 0.0f);
  EXPECT_EQ(s->params.top_k, 5);
  EXPECT_FLOAT_EQ(s->params.top_p, 0.5f);
  EXPECT_FLOAT_EQ(s->params.min_p, 0.1f);
  EXPECT_FLOAT_EQ(s->params.repetition_penalty, 1.3f);
  EXPECT_FLOAT_EQ(s->params.presence_penalty, 1.5f);
  EXPECT_EQ(s->seed, 77u);
}

TEST(EngineSampling, InvalidSettingsAreNamed) {
  auto expect_error = [](SamplingOptions o, const char* name) {
    auto s = resolve_sampling(o, published());
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_TRUE(contains(s.message(), name)) << s.message();
  };
  SamplingOptions o;
  o.temperature = -1;
  expect_error(o, "temperature -1");
  o = {};
  o.top_p = 0;
  expect_error(o, "top-p 0");
  o = {};
  o.top_p = 1.5;
  expect_error(o, "top-p 1.5");
  o = {};
  o.top_k = -2;
  expect_error(o, "top-k -2");
  o = {};
  o.min_p = 2;
  expect_error(o, "min-p 2");
  o = {};
  o.repetition_penalty = 0;
  expect_error(o, "repetition penalty 0");
}

TEST(EngineSampling, UnsetSeedIsFreshAndReported) {
  std::set<uint64_t> seeds;
  for (int i = 0; i < 4; ++i) {
    auto s = resolve_sampling({}, published());
    ASSERT_TRUE(s.ok());
    seeds.insert(s->seed);
  }
  EXPECT_GT(seeds.size(), 1u);
}

// ---- seeded draws ------------------------------------------------------------------

TEST(EngineDraws, ComeFromMt19937_64) {
  // The C++ standard fixes the 10000th output of a default-seeded (5489)
  // mt19937_64: 9981545732273789042. The draw is its top 53 bits / 2^53.
  UniformDraws d(5489);
  for (int i = 0; i < 9999; ++i) d.next();
  EXPECT_EQ(d.next(), static_cast<double>(9981545732273789042ull >> 11) / 9007199254740992.0);
}

TEST(EngineDraws, SameSeedSameDrawsInUnitInterval) {
  UniformDraws a(123), b(123), c(124);
  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    const double x = a.next();
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
    EXPECT_EQ(x, b.next());
    differ += x != c.next();
  }
  EXPECT_GT(differ, 990);
}

// ---- the sampler on the CPU backend ------------------------------------------------------

class EngineTokenSampler : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = ql::backend::make_cpu_backend(1);
    logits_ = backend_->new_tensor(ql::backend::DType::kF32, 1, 4);
    const float values[4] = {1.0f, 3.0f, 2.9f, -1.0f};
    backend_->write(*logits_, values, sizeof(values));
  }
  // One pick with the sampler's next settings and draw, through the backend's op.
  int32_t pick(TokenSampler& sampler, const std::vector<int32_t>& history) {
    const ql::model::SamplingStep step = sampler.next();
    auto inputs = backend_->new_tensor(ql::backend::DType::kI32, 1, ql::backend::kSamplingInputsWords);
    const auto in = ql::backend::sampling_inputs(step.params, step.uniform);
    backend_->write(*inputs, &in, sizeof in);
    auto seen = backend_->new_tensor(ql::backend::DType::kI32, 1, 4);
    std::vector<int32_t> mask(4, 0);
    for (int32_t t : history) mask[static_cast<size_t>(t)] = 1;
    backend_->write(*seen, mask.data(), 16);
    auto token = backend_->new_tensor(ql::backend::DType::kI32, 1, 1);
    backend_->sample(*logits_, *inputs, seen.get(), *token);
    int32_t id = -1;
    backend_->read(*token, &id, 4);
    return id;
  }
  std::unique_ptr<ql::backend::Backend> backend_;
  ql::backend::TensorPtr logits_;
};

TEST_F(EngineTokenSampler, GreedyPicksTheLargestLogit) {
  ResolvedSampling s;
  s.params.temperature = 0;
  TokenSampler sampler(s);
  EXPECT_EQ(pick(sampler, {}), 1);
}

TEST_F(EngineTokenSampler, HistoryReachesTheRepetitionPenalty) {
  ResolvedSampling s;
  s.params.temperature = 0;
  s.params.repetition_penalty = 2.0f;  // token 1: 3.0 -> 1.5, below token 2's 2.9
  TokenSampler sampler(s);
  const std::vector<int32_t> history = {1};
  EXPECT_EQ(pick(sampler, history), 2);
}

TEST_F(EngineTokenSampler, SeedDecidesTheSampledSequence) {
  ResolvedSampling s;
  s.params.temperature = 5.0f;  // nearly uniform over the four tokens
  auto sequence = [&](uint64_t seed) {
    s.seed = seed;
    TokenSampler sampler(s);
    std::vector<int32_t> out;
    for (int i = 0; i < 40; ++i) out.push_back(pick(sampler, {}));
    return out;
  };
  const auto a = sequence(1), b = sequence(1), c = sequence(2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(std::set<int32_t>(a.begin(), a.end()).size(), 4u);
}

// ---- metrics arithmetic with a hand-driven clock ------------------------------------------

TEST(EngineMetrics, TimingsFollowTheClock) {
  using namespace std::chrono;
  steady_clock::time_point t{};
  MetricsRecorder rec([&] { return t; });
  ql::backend::MemoryInfo mem;
  mem.kv_cache = 600;
  mem.workspace = 400;
  mem.device = "test device";
  rec.memory(mem, 500, 1000);
  rec.begin();
  EXPECT_TRUE(rec.snapshot().generating);
  rec.prompt(80, 20);
  t += milliseconds(250);
  rec.token();  // first token at 250 ms
  t += milliseconds(10);
  rec.token();
  t += milliseconds(30);
  rec.token();
  rec.end();
  const Metrics m = rec.snapshot();
  EXPECT_FALSE(m.generating);
  EXPECT_EQ(m.prompt_tokens, 80);
  EXPECT_EQ(m.prefilled_tokens, 20);
  EXPECT_EQ(m.generated_tokens, 3);
  EXPECT_DOUBLE_EQ(m.ttft_ms, 250.0);
  EXPECT_DOUBLE_EQ(m.last_token_ms, 30.0);
  EXPECT_DOUBLE_EQ(m.mean_token_ms, 20.0);
  EXPECT_DOUBLE_EQ(m.decode_tokens_per_s, 50.0);
  EXPECT_EQ(m.memory_bytes(), 1500u);  // weights 500 + KV 600 + workspace 400
  EXPECT_EQ(m.backend_bytes, 1000u);
  EXPECT_EQ(m.device, "test device");
}

TEST(EngineMetrics, NewRequestResetsTimingsKeepsMemory) {
  std::chrono::steady_clock::time_point t{};
  MetricsRecorder rec([&] { return t; });
  ql::backend::MemoryInfo mem;
  mem.kv_cache = 7;
  rec.memory(mem, 3, 7);
  rec.begin();
  rec.token();
  rec.begin();
  const Metrics m = rec.snapshot();
  EXPECT_EQ(m.generated_tokens, 0);
  EXPECT_EQ(m.ttft_ms, 0.0);
  EXPECT_EQ(m.memory_bytes(), 10u);
}

}  // namespace

// ---- sizes a user types are checked before anything is allocated ------------------------

namespace {

using namespace ql::engine;

TEST(EngineLoadSizes, ContextAboveTheModelsPositionsIsRefused) {
  Engine e;
  LoadOptions o;
  o.backend = ql::backend::BackendChoice::kCpu;
  auto cfg = ql::model::load_model_config(ql::engine::testing::demo_model_dir());
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  const int64_t positions = cfg->text.max_position_embeddings;
  o.context_tokens = 1 << 22;
  auto st = e.load(ql::engine::testing::demo_model_dir(), o);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("context size 4194304 is more than the model's " + std::to_string(positions) +
                              " positions"),
            std::string::npos)
      << st.message();
  EXPECT_FALSE(e.info().has_value()) << "nothing was loaded";
  o.context_tokens = positions;  // the limit itself is fine
  EXPECT_TRUE(e.load(ql::engine::testing::demo_model_dir(), o).ok());
}

TEST(EngineLoadSizes, AbsurdThreadCountsAreRefused) {
  Engine e;
  LoadOptions o;
  o.backend = ql::backend::BackendChoice::kCpu;
  o.threads = 1000000;
  auto st = e.load(ql::engine::testing::demo_model_dir(), o);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("thread count 1000000 is more than 1024"), std::string::npos) << st.message();
}

}  // namespace
