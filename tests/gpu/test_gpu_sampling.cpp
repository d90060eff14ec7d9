// GPU sampling (gpu/kernels/sampling.cuh) against the CPU reference
// ql::backend::cpu::sample_row: the same token for the same logits, settings,
// seen mask and uniform, on random rows (normal at several scales, peaked,
// flat, exact ties, masked with -inf, all equal), for the real vocabulary and
// small and odd ones. Tolerance: none, the token must be the same. The kernel
// takes every order-dependent sum in the CPU's order, or in parallel with a
// rigorous error bound and then sequentially whenever the bound leaves the
// outcome open, so a difference could only come from the 1-ulp difference
// between the CPU's and the GPU's exp() landing on a threshold, which these
// random inputs do not hit (the all-equal rows put the parallel sums exactly on
// their thresholds on purpose: they check the sequential fallback).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "core/backend/backend.h"
#include "core/backend/cpu_sampler.h"
#include "gpu/kernels/sampling.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace {

using ql::backend::SamplingParams;
using ql::gpu::SamplingInputs;
using ql::gpu::test::DeviceBuffer;

SamplingInputs to_inputs(const SamplingParams& p, double uniform) {
  SamplingInputs s{};
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repetition_penalty = p.repetition_penalty;
  s.presence_penalty = p.presence_penalty;
  s.uniform = uniform;
  return s;
}

SamplingParams make_params(float t, int k, float top_p, float min_p, float rep, float pres) {
  SamplingParams p;
  p.temperature = t;
  p.top_k = k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.repetition_penalty = rep;
  p.presence_penalty = pres;
  return p;
}

struct NamedParams {
  const char* name;
  SamplingParams p;
};

std::vector<NamedParams> param_sets() {
  return {
      {"greedy", make_params(0.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f)},
      {"greedy+rep1.3+pres0.5", make_params(0.0f, 0, 1.0f, 0.0f, 1.3f, 0.5f)},
      {"published t0.7/k20/p0.8", make_params(0.7f, 20, 0.8f, 0.0f, 1.0f, 0.0f)},
      {"t1", make_params(1.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f)},
      {"top-k 1", make_params(1.0f, 1, 1.0f, 0.0f, 1.0f, 0.0f)},
      {"top-k 50", make_params(1.0f, 50, 1.0f, 0.0f, 1.0f, 0.0f)},
      {"top-p 0.9", make_params(1.0f, 0, 0.9f, 0.0f, 1.0f, 0.0f)},
      {"min-p 0.1", make_params(1.0f, 0, 1.0f, 0.1f, 1.0f, 0.0f)},
      {"everything", make_params(0.8f, 40, 0.9f, 0.05f, 1.2f, 0.3f)},
      {"top-k 5000+top-p 0.95", make_params(1.0f, 5000, 0.95f, 0.0f, 1.0f, 0.0f)},
      {"t1.3+top-p 0.5+min-p 0.2+pres", make_params(1.3f, 0, 0.5f, 0.2f, 1.0f, 0.7f)},
  };
}

// Row kinds: the distributions the sampler meets, and the edge cases.
enum RowKind { kNormal1, kNormal5, kPeaked, kFlat, kTies, kMasked, kEqual, kKthTies, kRowKinds };
const char* kRowNames[kRowKinds] = {"normal(1)", "normal(5)", "peaked", "flat", "ties", "masked", "all-equal", "kth-ties"};

std::vector<float> make_row(RowKind kind, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> r(static_cast<size_t>(vocab));
  switch (kind) {
    case kNormal1:
      for (auto& x : r) x = nd(rng);
      break;
    case kNormal5:
      for (auto& x : r) x = 5.0f * nd(rng) + 3.0f;
      break;
    case kPeaked: {
      for (auto& x : r) x = nd(rng);
      std::uniform_int_distribution<int64_t> pick(0, vocab - 1);
      r[static_cast<size_t>(pick(rng))] += 15.0f;
      for (int i = 0; i < 5; ++i) r[static_cast<size_t>(pick(rng))] += 8.0f;
      break;
    }
    case kFlat:
      for (auto& x : r) x = 0.01f * nd(rng) - 2.0f;
      break;
    case kTies:  // few distinct values: exact ties everywhere, negatives and zeros too
      for (auto& x : r) x = std::round(nd(rng) * 2.0f) * 0.5f;
      break;
    case kMasked: {
      std::uniform_real_distribution<float> ud(0.0f, 1.0f);
      for (auto& x : r) x = ud(rng) < 0.1f ? -std::numeric_limits<float>::infinity() : 2.0f * nd(rng);
      break;
    }
    case kEqual:
      for (auto& x : r) x = 0.5f;
      break;
    case kKthTies: {  // the 50th largest value shared by 9 tokens (45 above it)
      for (auto& x : r) x = nd(rng);
      std::vector<int64_t> ids(static_cast<size_t>(vocab));
      for (int64_t i = 0; i < vocab; ++i) ids[static_cast<size_t>(i)] = i;
      std::shuffle(ids.begin(), ids.end(), rng);
      const int64_t above = std::min<int64_t>(45, vocab);
      for (int64_t i = 0; i < above; ++i) r[static_cast<size_t>(ids[static_cast<size_t>(i)])] = 10.0f + 0.25f * i;
      for (int64_t i = above; i < std::min<int64_t>(above + 9, vocab); ++i)
        r[static_cast<size_t>(ids[static_cast<size_t>(i)])] = 9.0f;
      break;
    }
    default:
      break;
  }
  return r;
}

std::vector<int32_t> random_seen(int64_t vocab, double fraction, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  std::vector<int32_t> s(static_cast<size_t>(vocab), 0);
  for (auto& x : s) x = ud(rng) < fraction ? 1 : 0;
  return s;
}

#define QL_CUDA_OK(call)                                                        \
  do {                                                                          \
    cudaError_t e_ = (call);                                                    \
    if (e_ != cudaSuccess) {                                                    \
      ADD_FAILURE() << #call << ": " << cudaGetErrorString(e_);                 \
      return -2;                                                                \
    }                                                                           \
  } while (0)

// Device buffers for one vocabulary size.
class GpuSampler {
 public:
  explicit GpuSampler(int64_t vocab)
      : vocab_(vocab),
        logits_(static_cast<size_t>(vocab) * sizeof(float)),
        params_(sizeof(SamplingInputs)),
        seen_(static_cast<size_t>(vocab) * sizeof(int32_t)),
        token_(sizeof(int32_t)),
        scratch_(ql::gpu::sampling_scratch_bytes(vocab)) {}

  bool ok() const { return logits_.get() && params_.get() && seen_.get() && token_.get() && scratch_.get(); }

  void set_logits(const std::vector<float>& row) {
    row_ = row;
    cudaMemcpy(logits_.get(), row.data(), row.size() * sizeof(float), cudaMemcpyHostToDevice);
  }

  // One call; `seen` empty = no seen mask (null pointer). Checks that the
  // token was written, the logits are untouched and seen[token] is set (the
  // rest of the mask unchanged). Returns the token, or < 0 after a failure.
  int32_t sample(const SamplingParams& p, const std::vector<int32_t>& seen, double uniform) {
    const SamplingInputs in = to_inputs(p, uniform);
    QL_CUDA_OK(cudaMemcpy(params_.get(), &in, sizeof(in), cudaMemcpyHostToDevice));
    if (!seen.empty()) QL_CUDA_OK(cudaMemcpy(seen_.get(), seen.data(), seen.size() * 4, cudaMemcpyHostToDevice));
    QL_CUDA_OK(cudaMemset(token_.get(), 0x7f, sizeof(int32_t)));  // poison: 0x7f7f7f7f is no token
    QL_CUDA_OK(ql::gpu::launch_sample(logits_.get<float>(), vocab_, params_.get<SamplingInputs>(),
                                      seen.empty() ? nullptr : seen_.get<int32_t>(), token_.get<int32_t>(),
                                      scratch_.get(), nullptr));
    QL_CUDA_OK(cudaDeviceSynchronize());
    QL_CUDA_OK(cudaGetLastError());
    int32_t t = -1;
    QL_CUDA_OK(cudaMemcpy(&t, token_.get(), sizeof(t), cudaMemcpyDeviceToHost));
    if (t < 0 || t >= vocab_) {
      ADD_FAILURE() << "token not written or out of range: " << t;
      return -2;
    }
    std::vector<float> back(row_.size());
    QL_CUDA_OK(cudaMemcpy(back.data(), logits_.get(), back.size() * 4, cudaMemcpyDeviceToHost));
    if (std::memcmp(back.data(), row_.data(), back.size() * 4) != 0) {
      ADD_FAILURE() << "logits were modified";
      return -2;
    }
    if (!seen.empty()) {
      std::vector<int32_t> s(seen.size());
      QL_CUDA_OK(cudaMemcpy(s.data(), seen_.get(), s.size() * 4, cudaMemcpyDeviceToHost));
      std::vector<int32_t> want = seen;
      want[static_cast<size_t>(t)] = 1;
      if (s != want) {
        ADD_FAILURE() << "seen mask after the call: seen[token] not set, or other entries changed";
        return -2;
      }
    }
    return t;
  }

  int64_t vocab() const { return vocab_; }
  const std::vector<float>& row() const { return row_; }
  float* logits() const { return logits_.get<float>(); }
  SamplingInputs* params() const { return params_.get<SamplingInputs>(); }
  int32_t* seen() const { return seen_.get<int32_t>(); }
  int32_t* token() const { return token_.get<int32_t>(); }
  void* scratch() const { return scratch_.get(); }

 private:
  int64_t vocab_;
  DeviceBuffer logits_, params_, seen_, token_, scratch_;
  std::vector<float> row_;
};

std::vector<double> uniforms(uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  return {0.0, 0.5, 0.999999, 1.0, ud(rng), ud(rng)};
}

// Every row kind x seen mask x setting x uniform for one vocabulary size.
void check_vocab(int64_t vocab, const std::vector<NamedParams>& sets, uint32_t seed) {
  GpuSampler g(vocab);
  ASSERT_TRUE(g.ok()) << "device allocation failed";
  int cases = 0, bad = 0;
  for (int kind = 0; kind < kRowKinds; ++kind) {
    const std::vector<float> row = make_row(static_cast<RowKind>(kind), vocab, seed + 17u * kind);
    g.set_logits(row);
    const std::vector<std::vector<int32_t>> masks = {{}, random_seen(vocab, 0.05, seed + 1000u + kind)};
    for (size_t m = 0; m < masks.size(); ++m) {
      for (const NamedParams& np : sets) {
        for (double u : uniforms(seed + 31u * kind + static_cast<uint32_t>(m))) {
          const int32_t want = ql::backend::cpu::sample_row(row, np.p, masks[m], u);
          const int32_t got = g.sample(np.p, masks[m], u);
          ++cases;
          if (got != want) {
            if (++bad <= 10)
              ADD_FAILURE() << "vocab " << vocab << " row " << kRowNames[kind] << (m ? " seen 5%" : " no seen") << " "
                            << np.name << " uniform " << u << ": gpu " << got << " cpu " << want;
          }
          if (got == -2) return;  // a CUDA failure: already reported
        }
      }
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << cases << " cases differ";
  std::printf("vocab %lld: %d cases\n", static_cast<long long>(vocab), cases);
}

}  // namespace

TEST(GpuSampling, MatchesCpuRealVocab) { check_vocab(151936, param_sets(), 11); }

TEST(GpuSampling, MatchesCpuVocab700) { check_vocab(700, param_sets(), 23); }

// Odd sizes: one token, chunks not a multiple of anything, the small/large
// boundary (2048), a few blocks.
TEST(GpuSampling, MatchesCpuOddVocabs) {
  std::vector<NamedParams> sets = param_sets();
  for (int64_t v : {1, 2, 31, 2047, 2048, 2049, 5001, 33333}) {
    SCOPED_TRACE("vocab " + std::to_string(v));
    check_vocab(v, sets, static_cast<uint32_t>(v));
  }
}

// 200 decode steps: fresh logits each step, the seen mask kept on the device
// (prompt marked with launch_mark_seen, each sampled token added by
// launch_sample) and on the host, penalties on so that the mask matters.
void check_sequence(int64_t vocab, const SamplingParams& p, uint32_t seed) {
  GpuSampler g(vocab);
  ASSERT_TRUE(g.ok());
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  std::vector<int32_t> prompt(50);
  for (auto& t : prompt) t = pick(rng);
  DeviceBuffer d_prompt = ql::gpu::test::to_device(prompt);
  QL_GPU_ASSERT(cudaMemset(g.seen(), 0, static_cast<size_t>(vocab) * 4));
  QL_GPU_ASSERT(ql::gpu::launch_mark_seen(d_prompt.get<int32_t>(), static_cast<int64_t>(prompt.size()), g.seen(), nullptr));
  std::vector<int32_t> seen = ql::backend::cpu::seen_mask(prompt, vocab);
  std::vector<int32_t> tokens_gpu, tokens_cpu;
  for (int step = 0; step < 200; ++step) {
    // A base row shared by the steps plus noise, so that penalised tokens compete.
    std::vector<float> row = make_row(kNormal1, vocab, seed);
    std::normal_distribution<float> noise(0.0f, 0.5f);
    for (auto& x : row) x = 3.0f * x + noise(rng);
    const double u = ud(rng);
    g.set_logits(row);
    const SamplingInputs in = to_inputs(p, u);
    QL_GPU_ASSERT(cudaMemcpy(g.params(), &in, sizeof(in), cudaMemcpyHostToDevice));
    QL_GPU_ASSERT(ql::gpu::launch_sample(g.logits(), vocab, g.params(), g.seen(), g.token(), g.scratch(), nullptr));
    QL_GPU_ASSERT(cudaGetLastError());
    int32_t t = -1;
    QL_GPU_ASSERT(cudaMemcpy(&t, g.token(), 4, cudaMemcpyDeviceToHost));
    const int32_t want = ql::backend::cpu::sample_row(row, p, seen, u);
    seen[static_cast<size_t>(want)] = 1;
    tokens_gpu.push_back(t);
    tokens_cpu.push_back(want);
  }
  EXPECT_EQ(tokens_gpu, tokens_cpu);
  std::vector<int32_t> dseen(static_cast<size_t>(vocab));
  QL_GPU_ASSERT(cudaMemcpy(dseen.data(), g.seen(), dseen.size() * 4, cudaMemcpyDeviceToHost));
  EXPECT_EQ(dseen, seen);
}

TEST(GpuSampling, SequenceOf200StepsPublishedWithPenalties) {
  check_sequence(151936, make_params(0.7f, 20, 0.8f, 0.0f, 1.1f, 0.2f), 5);
}

TEST(GpuSampling, SequenceOf200StepsNoTopK) {
  check_sequence(151936, make_params(1.0f, 0, 0.95f, 0.02f, 1.3f, 0.0f), 6);
}

TEST(GpuSampling, SequenceOf200StepsSmallVocab) {
  check_sequence(700, make_params(0.8f, 40, 0.9f, 0.05f, 1.2f, 0.3f), 7);
}

TEST(GpuSampling, MarkSeen) {
  const int64_t vocab = 700;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> ids(1000);  // with repeats
  for (auto& t : ids) t = pick(rng);
  DeviceBuffer d_ids = ql::gpu::test::to_device(ids);
  DeviceBuffer d_seen(static_cast<size_t>(vocab) * 4);
  QL_GPU_ASSERT(cudaMemset(d_seen.get(), 0, d_seen.bytes()));
  QL_GPU_ASSERT(ql::gpu::launch_mark_seen(d_ids.get<int32_t>(), static_cast<int64_t>(ids.size()), d_seen.get<int32_t>(), nullptr));
  QL_GPU_ASSERT(ql::gpu::launch_mark_seen(d_ids.get<int32_t>(), 0, d_seen.get<int32_t>(), nullptr));  // n = 0: no-op
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  EXPECT_EQ(ql::gpu::test::to_host<int32_t>(d_seen, static_cast<size_t>(vocab)), ql::backend::cpu::seen_mask(ids, vocab));
}

// One captured graph, replayed with the settings changed in device memory
// between replays: the same tokens as the CPU.
TEST(GpuSampling, OneGraphServesEverySetting) {
  const int64_t vocab = 151936;
  GpuSampler g(vocab);
  ASSERT_TRUE(g.ok());
  cudaStream_t stream;
  QL_GPU_ASSERT(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  QL_GPU_ASSERT(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  const cudaError_t launched =
      ql::gpu::launch_sample(g.logits(), vocab, g.params(), g.seen(), g.token(), g.scratch(), stream);
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  ASSERT_EQ(launched, cudaSuccess) << cudaGetErrorString(launched);
  ASSERT_EQ(ended, cudaSuccess) << cudaGetErrorString(ended);
  QL_GPU_ASSERT(cudaGraphInstantiate(&exec, graph, 0));
  int bad = 0, cases = 0;
  for (int kind : {kNormal1, kPeaked, kTies}) {
    const std::vector<float> row = make_row(static_cast<RowKind>(kind), vocab, 99u + kind);
    g.set_logits(row);
    const std::vector<int32_t> seen = random_seen(vocab, 0.05, 7u + kind);
    for (const NamedParams& np : param_sets()) {
      for (double u : {0.25, 0.75}) {
        const SamplingInputs in = to_inputs(np.p, u);
        // On the graph's stream: the legacy default stream does not order
        // against a non-blocking one, so a plain cudaMemset of the token could
        // land after the replay wrote it (seen on the H100: 0x7f7f7f7f back).
        QL_GPU_ASSERT(cudaMemcpyAsync(g.params(), &in, sizeof(in), cudaMemcpyHostToDevice, stream));
        QL_GPU_ASSERT(cudaMemcpyAsync(g.seen(), seen.data(), seen.size() * 4, cudaMemcpyHostToDevice, stream));
        QL_GPU_ASSERT(cudaMemsetAsync(g.token(), 0x7f, 4, stream));
        QL_GPU_ASSERT(cudaGraphLaunch(exec, stream));
        QL_GPU_ASSERT(cudaStreamSynchronize(stream));
        int32_t t = -1;
        QL_GPU_ASSERT(cudaMemcpy(&t, g.token(), 4, cudaMemcpyDeviceToHost));
        const int32_t want = ql::backend::cpu::sample_row(row, np.p, seen, u);
        ++cases;
        if (t != want && ++bad <= 10) ADD_FAILURE() << kRowNames[kind] << " " << np.name << " u " << u << ": gpu " << t << " cpu " << want;
      }
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << cases;
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

// Microseconds per call at the real vocabulary, each call a replay of a graph
// holding launch_sample alone, the logits rotating over 96 rows (58 MB, more
// than the 50 MB L2) as after a real LM head. Bandwidth counts the logits read
// and the seen mask read once.
void time_setting(const char* name, const SamplingParams& p) {
  const int64_t vocab = 151936;
  constexpr int kRot = 96;
  GpuSampler g(vocab);
  ASSERT_TRUE(g.ok());
  DeviceBuffer rows(static_cast<size_t>(kRot) * vocab * sizeof(float));
  ASSERT_NE(rows.get(), nullptr);
  std::vector<std::vector<float>> host_rows;
  for (int r = 0; r < kRot; ++r) {
    host_rows.push_back(make_row(r % 2 ? kNormal5 : kPeaked, vocab, 500u + r));
    QL_GPU_ASSERT(cudaMemcpy(rows.get<float>() + static_cast<size_t>(r) * vocab, host_rows.back().data(), vocab * 4,
                             cudaMemcpyHostToDevice));
  }
  const double u = 0.37;
  const SamplingInputs in = to_inputs(p, u);
  QL_GPU_ASSERT(cudaMemcpy(g.params(), &in, sizeof(in), cudaMemcpyHostToDevice));
  QL_GPU_ASSERT(cudaMemset(g.seen(), 0, static_cast<size_t>(vocab) * 4));
  cudaStream_t stream;
  QL_GPU_ASSERT(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  // Warm-up outside capture, and a correctness check of every row.
  for (int r = 0; r < kRot; ++r) {
    const float* row = rows.get<float>() + static_cast<size_t>(r) * vocab;
    QL_GPU_ASSERT(cudaMemset(g.seen(), 0, static_cast<size_t>(vocab) * 4));
    QL_GPU_ASSERT(ql::gpu::launch_sample(row, vocab, g.params(), g.seen(), g.token(), g.scratch(), stream));
    QL_GPU_ASSERT(cudaStreamSynchronize(stream));
    int32_t t = -1;
    QL_GPU_ASSERT(cudaMemcpy(&t, g.token(), 4, cudaMemcpyDeviceToHost));
    EXPECT_EQ(t, ql::backend::cpu::sample_row(host_rows[static_cast<size_t>(r)], p, {}, u)) << name << " row " << r;
  }
  std::vector<cudaGraphExec_t> execs(kRot);
  for (int r = 0; r < kRot; ++r) {
    cudaGraph_t graph;
    QL_GPU_ASSERT(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    const float* row = rows.get<float>() + static_cast<size_t>(r) * vocab;
    QL_GPU_ASSERT(ql::gpu::launch_sample(row, vocab, g.params(), g.seen(), g.token(), g.scratch(), stream));
    QL_GPU_ASSERT(cudaStreamEndCapture(stream, &graph));
    QL_GPU_ASSERT(cudaGraphInstantiate(&execs[static_cast<size_t>(r)], graph, 0));
    cudaGraphDestroy(graph);
  }
  cudaEvent_t e0, e1;
  QL_GPU_ASSERT(cudaEventCreate(&e0));
  QL_GPU_ASSERT(cudaEventCreate(&e1));
  std::vector<float> us;
  int next = 0;
  for (int it = 0; it < 3 + 20; ++it) {
    QL_GPU_ASSERT(cudaEventRecord(e0, stream));
    QL_GPU_ASSERT(cudaGraphLaunch(execs[static_cast<size_t>(next)], stream));
    QL_GPU_ASSERT(cudaEventRecord(e1, stream));
    QL_GPU_ASSERT(cudaEventSynchronize(e1));
    next = (next + 1) % kRot;
    float ms = 0;
    QL_GPU_ASSERT(cudaEventElapsedTime(&ms, e0, e1));
    if (it >= 3) us.push_back(ms * 1000.0f);
  }
  // Back to back (as inside a decode graph): launch gaps overlap.
  QL_GPU_ASSERT(cudaEventRecord(e0, stream));
  for (int it = 0; it < 200; ++it) QL_GPU_ASSERT(cudaGraphLaunch(execs[static_cast<size_t>(it % kRot)], stream));
  QL_GPU_ASSERT(cudaEventRecord(e1, stream));
  QL_GPU_ASSERT(cudaEventSynchronize(e1));
  float ms_many = 0;
  QL_GPU_ASSERT(cudaEventElapsedTime(&ms_many, e0, e1));
  QL_GPU_ASSERT(cudaGetLastError());
  std::sort(us.begin(), us.end());
  const double med = us[us.size() / 2];
  const double bytes = static_cast<double>(vocab) * 8.0;
  std::printf("TIMING sampling %s vocab %lld: median %.1f us per call (%.0f GB/s of logits+seen), min %.1f, "
              "%.1f us per call back to back\n",
              name, static_cast<long long>(vocab), med, bytes / (med * 1e-6) / 1e9, us.front(),
              ms_many * 1000.0 / 200.0);
  for (auto e : execs) cudaGraphExecDestroy(e);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaStreamDestroy(stream);
}

TEST(GpuSampling, Timing) {
  time_setting("greedy", make_params(0.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f));
  time_setting("published t0.7/k20/p0.8", make_params(0.7f, 20, 0.8f, 0.0f, 1.0f, 0.0f));
  time_setting("top-p 0.9 alone (full sort)", make_params(1.0f, 0, 0.9f, 0.0f, 1.0f, 0.0f));
  time_setting("t1 alone", make_params(1.0f, 0, 1.0f, 0.0f, 1.0f, 0.0f));
}
