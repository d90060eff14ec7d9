// The whole model on the GPU against the CPU reference backend: the demo
// model and the two tiny checkpoints of tests/data, at every precision, with
// and without images, multi-turn with KV-cache reuse, recorded (CUDA graph)
// decode steps against unrecorded ones, and running out of GPU memory.
//
// Tolerances (docs/gpu-backend.md, "Numerics"): the CPU computes in fp32 with
// an fp32 KV cache; the GPU keeps fp32 activations but caches K and V in bf16,
// rounds the inputs of its tensor-core products (prefill GEMMs, attention) to
// bf16, and at INT8 multiplies dequantized weights in prefill where the CPU
// quantizes activations (LLM.int8). Each of those is a relative error of
// about 2^-9 per element, so whole-model logits differ by about 1e-2 of their
// size: the bar is ||gpu - cpu|| / ||cpu|| per row below 5e-2 at 16 bits and
// 8e-2 at INT8/NF4 for the median row and most rows (a wrong kernel gives
// errors near 1; see compare() for the few rows a routing near-tie moves).
// Greedy tokens must match the CPU's argmax of the same sequence, except
// where the CPU's own top two logits are closer than the measured error (a
// tie either way is right).
#include <gtest/gtest.h>

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/vision/preprocess.h"
#include "gpu/cuda_backend.h"
#include "tests/support/all_at_once_feed.h"
#include "tests/support/model_test_prompts.h"

namespace {

using namespace ql::engine;
using namespace ql::test;

LoadOptions cuda_options(const std::string& precision, int64_t context = 0) {
  LoadOptions o;
  o.precision = precision;
  o.context_tokens = context;
  o.make_backend = [](int threads) { return ql::gpu::make_cuda_backend(ql::backend::BackendOptions{threads, 6.0f}); };
  // The planner's refusal is tested elsewhere; here the GPU decides. A
  // checkpoint kept as stored (precision "") has no plan to check a budget
  // against, so it gets none.
  o.memory_budget_gib = precision.empty() ? 0 : 1000;
  return o;
}

LoadOptions cpu_options(const std::string& precision, int64_t context = 0) {
  LoadOptions o;
  o.precision = precision;
  o.context_tokens = context;
  o.backend = ql::backend::BackendChoice::kCpu;
  return o;
}

struct Outcome {
  GenerationResult result;
  bool ok = false;
};

Outcome generate(Engine& e, const TokenPrompt& prompt, int64_t tokens, bool all_logits) {
  GenerationRequest r;
  r.prompt = prompt;
  r.sampling.temperature = 0;
  r.max_new_tokens = tokens;
  r.ignore_eos = true;
  r.logit_rows.all = all_logits;
  auto g = e.generate(r);
  EXPECT_TRUE(g.ok()) << g.message();
  Outcome run;
  if (g.ok()) {
    run.result = std::move(g).value();
    run.ok = true;
  }
  return run;
}

double row_error(const std::vector<float>& gpu, const std::vector<float>& cpu, double* max_abs) {
  double num = 0, den = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double d = static_cast<double>(gpu[i]) - cpu[i];
    num += d * d;
    den += static_cast<double>(cpu[i]) * cpu[i];
    *max_abs = std::max(*max_abs, std::fabs(d));
  }
  if (std::isnan(num)) return NAN;
  return std::sqrt(num / std::max(den, 1e-30));
}

// Greedy tokens of the GPU against the CPU's logits of the same sequence
// (prompt + GPU tokens, teacher-forced on the CPU).
void expect_greedy_agrees(Engine& cpu, const TokenPrompt& prompt, const Ids& gpu_tokens, double max_abs_err,
                          int must_match) {
  TokenPrompt forced = prompt;
  forced.ids.insert(forced.ids.end(), gpu_tokens.begin(), gpu_tokens.end());
  GenerationRequest r;
  r.prompt = forced;
  r.max_new_tokens = 0;
  const int64_t n = static_cast<int64_t>(prompt.ids.size());
  for (size_t j = 0; j < gpu_tokens.size(); ++j) r.logit_rows.rows.push_back(n - 1 + static_cast<int64_t>(j));
  auto g = cpu.generate(r);
  ASSERT_TRUE(g.ok()) << g.message();
  int matched = 0;
  for (size_t j = 0; j < gpu_tokens.size(); ++j) {
    const auto& l = g->logits.at(n - 1 + static_cast<int64_t>(j));
    const auto top = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    if (top == gpu_tokens[j]) {
      ++matched;
      continue;
    }
    const double margin = l[top] - l[gpu_tokens[j]];
    EXPECT_LT(margin, 2.0 * max_abs_err + 1e-6)
        << "step " << j << ": GPU token " << gpu_tokens[j] << ", CPU argmax " << top << " by " << margin;
    std::printf("  step %zu: near tie (CPU margin %.2e <= 2 x error %.2e); later steps not compared\n", j, margin,
                max_abs_err);
    break;
  }
  if (matched < must_match)
    std::printf("  only %d of %d greedy tokens compared before a near tie\n", matched, must_match);
}

struct Checkpoint {
  const char* name;
  const char* stored;  // precision of "as stored" where the checkpoint is fp32
};

class GpuModel : public ::testing::Test {
 protected:
  void SetUp() override {
    auto probe = ql::gpu::probe_cuda_device();
    ASSERT_TRUE(probe.ok()) << "the gpu label needs a usable GPU: " << probe.message();
  }

  // GPU and CPU engines of one checkpoint and precision, the same prompt:
  // every prompt row's logits, then greedy tokens.
  void compare(const std::string& checkpoint, const std::string& precision, const TokenPrompt& prompt,
               double tolerance, int greedy_tokens) {
    SCOPED_TRACE(checkpoint + " at " + (precision.empty() ? std::string("as stored") : precision));
    Engine gpu, cpu;
    const auto gpu_loaded = gpu.load(folder_of(checkpoint), cuda_options(precision));
    ASSERT_TRUE(gpu_loaded.ok()) << gpu_loaded.message();
    const auto cpu_loaded = cpu.load(folder_of(checkpoint), cpu_options(precision));
    ASSERT_TRUE(cpu_loaded.ok()) << cpu_loaded.message();
    EXPECT_EQ(gpu.info()->backend_name, "cuda");
    EXPECT_EQ(gpu.info()->weight_bytes, cpu.info()->weight_bytes) << "the same stored bytes on both backends";
    EXPECT_EQ(gpu.info()->precision, cpu.info()->precision);
    Outcome g = generate(gpu, prompt, greedy_tokens, true);
    Outcome c = generate(cpu, prompt, 0, true);
    ASSERT_TRUE(g.ok && c.ok);
    ASSERT_EQ(g.result.logits.size(), c.result.logits.size());
    double max_abs = 0;
    std::vector<std::pair<double, int64_t>> errors;  // (relative error, row)
    for (const auto& [row, cl] : c.result.logits) {
      const double e = row_error(g.result.logits.at(row), cl, &max_abs);
      ASSERT_FALSE(std::isnan(e)) << "row " << row;
      errors.emplace_back(e, row);
    }
    std::sort(errors.begin(), errors.end());
    const double worst = errors.back().first, median = errors[errors.size() / 2].first;
    const auto over = static_cast<size_t>(std::count_if(errors.begin(), errors.end(),
                                                        [&](const auto& e) { return e.first >= tolerance; }));
    std::string top;
    for (size_t i = errors.size(); i-- > 0 && errors.size() - i <= 4;)
      top += fmt::format(" row {} {:.3f}", errors[i].second, errors[i].first);
    std::printf("GPUMODEL %s %s rows %zu: max relative row error %.3e (median %.3e, %zu over %.2g; worst:%s), "
                "max |diff| %.3e\n",
                checkpoint.c_str(), precision.empty() ? "stored" : precision.c_str(), errors.size(), worst, median,
                over, tolerance, top.c_str(), max_abs);
    // Most rows within the tolerance. A few may be beyond it: the checkpoints
    // have random weights, whose routers leave near-ties between experts, and
    // an error of 1e-3 in a token's hidden state swaps one of its experts in
    // some layer (test_gpu_router_logits: bf16 rounding alone swaps 34 of
    // 20,000), which moves that row's logits by 10-30%. Each op is held to its
    // own tolerance on identical inputs by test_gpu_op_parity; a wrong kernel
    // moves every row, near 1.
    EXPECT_LT(median, tolerance);
    EXPECT_LE(over, std::max<size_t>(1, errors.size() / 10)) << "more rows beyond the tolerance than swaps explain";
    EXPECT_LT(worst, 0.5);
    expect_greedy_agrees(cpu, prompt, g.result.generated_ids, max_abs, greedy_tokens);
  }
};

const std::vector<std::string> kPrecisions = {"bf16", "fp16", "int8", "nf4", "nf4-mixed"};

double tolerance_of(const std::string& precision) {
  return precision == "int8" || precision.rfind("nf4", 0) == 0 ? 8e-2 : 5e-2;
}

TEST_F(GpuModel, TextPromptMatchesTheCpuAtEveryPrecision) {
  for (const char* checkpoint : {"demo", "tiny-b", "tiny-c"}) {
    const TokenPrompt p = text_prompt(checkpoint);
    for (const auto& precision : kPrecisions) compare(checkpoint, precision, p, tolerance_of(precision), 8);
  }
  // tiny-b is stored fp32: as stored, the GPU multiplies fp32 weights.
  compare("tiny-b", "", text_prompt("tiny-b"), 5e-2, 8);
}

TEST_F(GpuModel, ImagePromptsMatchTheCpu) {
  for (const char* checkpoint : {"demo", "tiny-b", "tiny-c"}) {
    Engine probe;
    ASSERT_TRUE(probe.load(folder_of(checkpoint), cpu_options("bf16")).ok());
    const auto info = *probe.info();
    const TokenPrompt text = text_prompt(checkpoint);
    const Ids before(text.ids.begin(), text.ids.begin() + std::min<size_t>(4, text.ids.size()));
    const Ids after(text.ids.end() - std::min<size_t>(5, text.ids.size()), text.ids.end());
    // A picture of odd size (its patch grid is not square).
    const TokenPrompt p = image_prompt(info.config, info.preprocess, test_image(200, 120, 1), before, after);
    for (const auto& precision : {std::string("bf16"), std::string("int8"), std::string("nf4")})
      compare(checkpoint, precision, p, tolerance_of(precision), 8);
  }
}

// A second turn reuses the first turn's cache: the same logits as running
// the whole conversation from an empty cache.
TEST_F(GpuModel, MultiTurnReusesTheCache) {
  Engine gpu;
  ASSERT_TRUE(gpu.load(folder_of("demo"), cuda_options("bf16")).ok());
  const auto info = *gpu.info();
  const TokenPrompt text = text_prompt("demo");
  TokenPrompt first = image_prompt(info.config, info.preprocess, test_image(96, 64, 2), Ids(text.ids.begin(), text.ids.begin() + 3), text.ids);
  Outcome one = generate(gpu, first, 6, false);
  ASSERT_TRUE(one.ok);
  TokenPrompt second = first;
  second.ids.insert(second.ids.end(), one.result.generated_ids.begin(), one.result.generated_ids.end());
  second.ids.insert(second.ids.end(), text.ids.begin(), text.ids.end());
  GenerationRequest r;
  r.prompt = second;
  r.sampling.temperature = 0;
  r.max_new_tokens = 6;
  r.ignore_eos = true;
  auto reused = gpu.generate(r);
  ASSERT_TRUE(reused.ok()) << reused.message();
  EXPECT_GT(reused->reused_tokens, static_cast<int64_t>(first.ids.size()) - 1) << "the first turn came from the cache";

  Engine fresh;
  ASSERT_TRUE(fresh.load(folder_of("demo"), cuda_options("bf16")).ok());
  auto whole = fresh.generate(r);
  ASSERT_TRUE(whole.ok()) << whole.message();
  EXPECT_EQ(whole->reused_tokens, 0);
  EXPECT_EQ(reused->generated_ids, whole->generated_ids);
}

// Sequences decoded together on the GPU give the tokens each gives alone
// (greedy, bf16): the batched kernels treat rows independently.
TEST_F(GpuModel, BatchedAnswersEqualAlone) {
  LoadOptions o = cuda_options("bf16");
  o.parallel = 4;
  Engine batched, single;
  ASSERT_TRUE(batched.load(folder_of("demo"), o).ok());
  ASSERT_TRUE(single.load(folder_of("demo"), cuda_options("bf16")).ok());
  const TokenPrompt text = text_prompt("demo");
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 4; ++i) {
    GenerationRequest r;
    TokenPrompt p = text;
    p.ids.resize(p.ids.size() - static_cast<size_t>(2 * i));
    r.prompt = p;
    r.max_new_tokens = 12;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    requests.push_back(r);
  }
  AllAtOnceFeed feed(requests);
  ASSERT_TRUE(batched.run_sequences(feed).ok());
  EXPECT_EQ(feed.max_running, 4);
  for (size_t i = 0; i < requests.size(); ++i) {
    single.reset_cache();
    auto g = single.generate(requests[i]);
    ASSERT_TRUE(g.ok()) << g.message();
    EXPECT_TRUE(feed.ok[i]);
    EXPECT_EQ(feed.tokens[i], g->generated_ids) << "request " << i;
  }
}

// Recorded decode steps (CUDA graphs) run the same kernels on the same
// inputs as issuing them one by one: identical tokens and logits, bit for bit.
TEST_F(GpuModel, GraphReplayEqualsDirectRun) {
  const TokenPrompt p = text_prompt("demo");
  auto run = [&](const char* graphs) {
    setenv("QL_CUDA_GRAPHS", graphs, 1);
    Engine e;
    EXPECT_TRUE(e.load(folder_of("demo"), cuda_options("nf4")).ok());
    GenerationRequest r;
    r.prompt = p;
    r.max_new_tokens = 24;
    r.ignore_eos = true;
    r.sampling.temperature = 0.8;  // sampling on the GPU, same seed
    r.sampling.top_k = 20;
    r.sampling.seed = 7;
    auto g = e.generate(r);
    EXPECT_TRUE(g.ok()) << g.message();
    unsetenv("QL_CUDA_GRAPHS");
    return g.ok() ? g->generated_ids : Ids{};
  };
  const Ids with = run("1"), without = run("0");
  ASSERT_EQ(with.size(), 24u);
  EXPECT_EQ(with, without);
}

// Sampling on the GPU picks what the CPU picks for the same logits and draws:
// with a fixed seed, the same 16 tokens when the logits agree closely (fp32
// weights of tiny-b as stored).
TEST_F(GpuModel, SampledTokensFollowTheSeed) {
  const TokenPrompt p = text_prompt("tiny-b");
  auto run = [&](const LoadOptions& o) {
    Engine e;
    const auto loaded = e.load(folder_of("tiny-b"), o);
    EXPECT_TRUE(loaded.ok()) << loaded.message();
    GenerationRequest r;
    r.prompt = p;
    r.max_new_tokens = 16;
    r.ignore_eos = true;
    r.sampling.temperature = 1.0;
    r.sampling.top_p = 0.9;
    r.sampling.repetition_penalty = 1.2;
    r.sampling.seed = 11;
    auto g = e.generate(r);
    EXPECT_TRUE(g.ok()) << g.message();
    return g.ok() ? g->generated_ids : Ids{};
  };
  const Ids gpu = run(cuda_options("")), again = run(cuda_options("")), cpu = run(cpu_options(""));
  ASSERT_EQ(gpu.size(), 16u);
  EXPECT_EQ(again, gpu) << "the same seed gives the same tokens on the GPU";
  size_t same = 0;
  while (same < gpu.size() && gpu[same] == cpu[same]) ++same;
  std::printf("GPUMODEL sampled tokens identical to the CPU's for %zu of 16 steps\n", same);
  // The GPU's logits differ from the CPU's by about 1e-2 of their size (its
  // products read 16-bit activations), so a draw near the boundary between
  // two tokens may pick the other one, and from there the sequences differ;
  // the sampler's own parity on identical logits is test_gpu_sampling's. The
  // first draw must agree.
  EXPECT_GE(same, 1u) << "the first sampled token follows the seed on both backends";
}

// Taking (nearly) all free GPU memory makes a load fail with the numbers, and
// the model loaded before keeps answering; a large image that cannot get its
// workspace fails the request, not the engine.
TEST_F(GpuModel, OutOfMemoryLeavesThePreviousModelAnswering) {
  Engine e;
  ASSERT_TRUE(e.load(folder_of("demo"), cuda_options("bf16")).ok());
  const TokenPrompt p = text_prompt("demo");
  Outcome before = generate(e, p, 4, false);
  ASSERT_TRUE(before.ok);

  size_t free_b = 0, total_b = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_b, &total_b), cudaSuccess);
  // Take the free memory: one block of nearly all of it (the driver does not
  // hand out every byte cudaMemGetInfo reports), then 1 MiB blocks until none
  // is left.
  struct Hogs {  // freed whatever assertion ends the test, so later tests get the memory back
    std::vector<void*> blocks;
    ~Hogs() {
      for (void* b : blocks) cudaFree(b);
    }
  } held;
  std::vector<void*>& hogs = held.blocks;
  for (size_t leave = size_t{64} << 20; leave <= free_b && hogs.empty(); leave *= 2) {
    void* block = nullptr;
    if (cudaMalloc(&block, free_b - leave) == cudaSuccess) hogs.push_back(block);
    else (void)cudaGetLastError();
  }
  ASSERT_FALSE(hogs.empty()) << "could not take most of the " << free_b << " free bytes";
  for (void* block = nullptr; cudaMalloc(&block, size_t{1} << 20) == cudaSuccess;) hogs.push_back(block);
  (void)cudaGetLastError();

  // tiny-c's own limit (4096 positions): a larger context is refused before
  // any allocation, which is not what this test is about.
  auto st = e.load(folder_of("tiny-c"), cuda_options("bf16", 4096));
  ASSERT_FALSE(st.ok());
  std::printf("GPUMODEL out of memory at load: %s\n", st.message().c_str());
  EXPECT_NE(st.message().find("out of GPU memory"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("memory plan"), std::string::npos) << st.message();

  const auto info = *e.info();  // a copy: info() returns by value
  EXPECT_EQ(info.dir, folder_of("demo"));
  TokenPrompt big = image_prompt(info.config, info.preprocess, test_image(1600, 1600, 3), {}, p.ids);
  GenerationRequest r;
  r.prompt = big;
  r.max_new_tokens = 2;
  auto failed = e.generate(r);
  ASSERT_FALSE(failed.ok());
  std::printf("GPUMODEL out of memory mid-request: %s\n", failed.message().c_str());
  EXPECT_NE(failed.message().find("out of GPU memory"), std::string::npos) << failed.message();

  for (void* b : hogs) ASSERT_EQ(cudaFree(b), cudaSuccess);
  hogs.clear();
  e.reset_cache();
  Outcome after = generate(e, p, 4, false);
  ASSERT_TRUE(after.ok);
  EXPECT_EQ(after.result.generated_ids, before.result.generated_ids);
}

}  // namespace
