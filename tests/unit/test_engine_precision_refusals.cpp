// What loading at a precision refuses, and what it decides: an unknown
// precision (listing the valid ones), a budget the plan does not fit (with
// its numbers, before any weight is read), "auto" picking the highest preset
// that fits, a NaN/infinity in a tensor being quantized (naming it), the fp16
// conversion's losses counted, and cancelling a quantizing load.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/backend/cpu_backend.h"
#include "core/engine/engine.h"
#include "core/quant/memory_budget.h"
#include "core/quant/memory_plan.h"
#include "tests/unit/engine_test_support.h"
#include "tests/unit/model_test_files.h"

namespace {

using namespace ql::engine;
using ql::engine::testing::demo_model_dir;
namespace mt = ql::model::testing;
namespace quant = ql::quant;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

LoadOptions at(const std::string& precision, double budget_gib = 0) {
  LoadOptions o;
  o.precision = precision;
  o.memory_budget_gib = budget_gib;
  return o;
}

// The demo model's plan for a preset, with the request the engine makes on
// the CPU backend (fp32 activations and KV cache).
quant::MemoryPlan demo_plan(const ModelInfo& info, const std::string& preset) {
  quant::PlanRequest request;
  request.context_tokens = info.context_tokens;
  request.max_image_pixels = info.preprocess.max_pixels;
  request.activation_bytes = 4;
  request.kv_element_bytes = 4;
  auto plan = quant::plan_memory(info.config, quant::parse_precision(preset)->policy, request);
  EXPECT_TRUE(plan.ok()) << plan.message();
  return *plan;
}

// A budget in GiB whose usable part lies halfway between two totals.
double budget_between(uint64_t below, uint64_t above) {
  return static_cast<double>(quant::kDeviceReserveBytes + below + (above - below) / 2) /
         static_cast<double>(quant::kGiB);
}

class DemoPrecision : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = engine_.load(demo_model_dir(), at("bf16"));
    ASSERT_TRUE(st.ok()) << st.message();
    info_ = *engine_.info();
  }
  Engine engine_;
  ModelInfo info_;
};

TEST_F(DemoPrecision, AnUnknownPrecisionListsTheValidOnes) {
  auto st = engine_.load(demo_model_dir(), at("int4"));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.message(), "\"int4\"")) << st.message();
  EXPECT_TRUE(contains(st.message(), "valid presets: bf16, fp16, int8, nf4-mixed, nf4, auto")) << st.message();
  st = engine_.load(demo_model_dir(), at("experts=int3"));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.message(), "valid formats: bf16, fp16, int8, nf4")) << st.message();
  EXPECT_EQ(engine_.info()->precision, "bf16") << "a refused load keeps the model loaded before";
}

TEST_F(DemoPrecision, AutoNeedsAValidBudget) {
  auto st = engine_.load(demo_model_dir(), at("auto"));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.message(), "auto needs a memory budget")) << st.message();
  st = engine_.load(demo_model_dir(), at("int8", -2));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.message(), "-2 GiB")) << st.message();
}

// auto takes the first preset of auto_preset_order() whose plan fits: for each preset, a
// budget it fits but no earlier preset does picks it. Which presets such a budget exists for
// depends on the model (a tied 151,936-row embedding can make int8 smaller than nf4-mixed);
// at least bf16 and one quantized preset have one.
TEST_F(DemoPrecision, AutoPicksTheHighestPresetThatFits) {
  std::vector<std::pair<std::string, uint64_t>> totals;
  for (const auto name : quant::auto_preset_order())
    totals.emplace_back(std::string(name), demo_plan(info_, std::string(name)).total_bytes());
  int tested = 0;
  for (size_t k = 0; k < totals.size(); ++k) {
    uint64_t earlier_min = UINT64_MAX;  // the smallest plan of the presets auto tries first
    for (size_t j = 0; j < k; ++j) earlier_min = std::min(earlier_min, totals[j].second);
    const uint64_t own = totals[k].second;
    if (own + quant::kMiB >= earlier_min) continue;  // no budget fits this one but none before it
    const double gib = budget_between(own, std::min(earlier_min, own + 64 * quant::kMiB));
    auto st = engine_.load(demo_model_dir(), at("auto", gib));
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(engine_.info()->precision, totals[k].first) << gib << " GiB";
    EXPECT_EQ(engine_.info()->weight_bytes, demo_plan(info_, totals[k].first).weights_bytes);
    ++tested;
  }
  EXPECT_GE(tested, 2) << "bf16 and at least one quantized preset";
}

// 0.6 GiB leaves 0.1 GiB usable, under the plan's 512 MiB of CUDA runtime alone.
TEST_F(DemoPrecision, ABudgetTooSmallIsRefusedWithTheNumbersBeforeAnyWeightIsRead) {
  bool backend_made = false;
  LoadOptions o = at("nf4", 0.6);
  o.make_backend = [&](int threads) -> ql::Result<std::unique_ptr<ql::backend::Backend>> {
    backend_made = true;
    return ql::backend::make_cpu_backend(threads);
  };
  auto st = engine_.load(demo_model_dir(), o);
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(backend_made) << "refused before a backend (or any weight) was made";
  const quant::MemoryPlan plan = demo_plan(info_, "nf4");
  // Sizes under a GiB in MiB (one decimal), larger ones in GiB (two).
  auto mib = [](uint64_t b) { return fmt::format("{:.1f} MiB", static_cast<double>(b) / quant::kMiB); };
  auto size = [&](uint64_t b) {
    return b >= quant::kGiB ? fmt::format("{:.2f} GiB", static_cast<double>(b) / quant::kGiB) : mib(b);
  };
  const std::string& m = st.message();
  EXPECT_TRUE(contains(m, "precision nf4 needs " + size(plan.total_bytes()))) << m;
  EXPECT_TRUE(contains(m, "weights " + mib(plan.weights_bytes))) << m;
  EXPECT_TRUE(contains(m, "KV cache " + mib(plan.kv_cache_bytes))) << m;
  EXPECT_TRUE(contains(m, "workspace " + mib(plan.workspace_bytes()))) << m;
  EXPECT_TRUE(contains(m, "budget of 0.6 GiB leaves 102.4 MiB usable")) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << "one line";
  EXPECT_EQ(engine_.info()->precision, "bf16");

  st = engine_.load(demo_model_dir(), at("auto", 0.6));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.message(), "precision auto (even nf4) needs")) << st.message();
}

TEST_F(DemoPrecision, CancellingAQuantizingLoadKeepsThePreviousModel) {
  bool stopped = false;
  auto st = engine_.load(demo_model_dir(), at("nf4"), [&](double f, const std::string& stage) {
    if (stage == "loading weights" && f > 0.3 && !stopped) {
      stopped = true;
      engine_.stop();
    }
  });
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Engine::is_cancelled(st.error())) << st.message();
  EXPECT_EQ(engine_.info()->precision, "bf16");
  EXPECT_EQ(engine_.info()->weight_bytes, info_.weight_bytes);
}

// ---------------------------------------------------------------------------
// The tiny model of the model tests (F32, values 0.25 * i), with edits.

void set_f32(mt::FakeTensor& t, int64_t index, float value) {
  if (t.bytes.empty()) t.bytes = mt::fake_tensor_data(t);
  std::memcpy(t.bytes.data() + index * 4, &value, 4);
}

std::string tiny_folder(const mt::TempDir& tmp, std::vector<mt::FakeTensor> tensors) {
  const std::string dir = tmp.sub("tiny");
  mt::write_model_folder(dir, mt::tiny_config_json(), tensors);
  return dir;
}

// Expert 4 of layer 2's down_proj, published [E, I, H] = [6, 24, 40]: stored
// (i = 3, h = 5) is row 5, column 3 of the [40, 24] matrix the loader makes.
TEST(TinyPrecision, AnInfinityInATensorBeingQuantizedIsRefusedNamingIt) {
  mt::TempDir tmp;
  auto tensors = mt::tiny_tensors();
  set_f32(*mt::find_fake(tensors, "model.language_model.layers.2.mlp.experts.down_proj"), 4 * 24 * 40 + 3 * 40 + 5,
          std::numeric_limits<float>::infinity());
  const std::string dir = tiny_folder(tmp, tensors);
  Engine engine;
  for (const char* precision : {"int8", "nf4", "bf16"}) {  // bf16 too: converting from F32 reads every value
    auto st = engine.load(dir, at(precision));
    ASSERT_FALSE(st.ok()) << precision;
    EXPECT_TRUE(contains(st.message(),
                         "model.language_model.layers.2.mlp.experts.down_proj[4]: element 123 (row 5, col 3) is inf"))
        << st.message();
    EXPECT_EQ(st.error().kind, ql::ErrorKind::kInput);
  }
}

TEST(TinyPrecision, Fp16ConversionCountsWhatItLost) {
  mt::TempDir tmp;
  auto tensors = mt::tiny_tensors();
  auto& q = *mt::find_fake(tensors, "model.language_model.layers.0.self_attn.q_proj.weight");
  set_f32(q, 7, 1e5f);    // beyond 65504: infinite in fp16
  set_f32(q, 8, 1e-9f);   // below 2^-25: zero in fp16
  set_f32(q, 9, -1e-9f);
  set_f32(q, 10, 1e-5f);  // below 2^-14: an fp16 subnormal
  Engine engine;
  auto st = engine.load(tiny_folder(tmp, tensors), at("fp16"));
  ASSERT_TRUE(st.ok()) << st.message();
  const ModelInfo info = *engine.info();
  EXPECT_EQ(info.precision, "fp16");
  EXPECT_EQ(info.fp16_losses.overflowed_to_inf, 1);
  EXPECT_EQ(info.fp16_losses.flushed_to_zero, 2);
  EXPECT_EQ(info.fp16_losses.became_subnormal, 1);

  ASSERT_TRUE(engine.load(tiny_folder(tmp, tensors), at("bf16")).ok());
  EXPECT_EQ(engine.info()->fp16_losses.overflowed_to_inf, 0) << "nothing was converted to fp16";
}

// Without a precision an F32 checkpoint stays F32, as its parity with
// transformers needs; bf16 then really is bf16 (half the bytes).
TEST(TinyPrecision, NoPrecisionKeepsAnF32CheckpointAsStored) {
  mt::TempDir tmp;
  const std::string dir = tiny_folder(tmp, mt::tiny_tensors());
  Engine engine;
  ASSERT_TRUE(engine.load(dir).ok());
  const ModelInfo stored = *engine.info();
  EXPECT_EQ(stored.precision, "as stored (F32)");
  ASSERT_TRUE(engine.load(dir, at("bf16")).ok());
  EXPECT_EQ(engine.info()->precision, "bf16");
  EXPECT_EQ(engine.info()->weight_bytes * 2, stored.weight_bytes);
  // An F32 checkpoint has no plan as stored: a budget needs a precision.
  auto st = engine.load(dir, at("", 8));
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.message(), "as stored (F32) has no memory plan")) << st.message();
}

}  // namespace
