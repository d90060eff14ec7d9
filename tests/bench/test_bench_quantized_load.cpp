// Peak host memory of quantizing while loading (docs/architecture.md §5,
// "Loading is quantizing"): a synthetic bf16 checkpoint of about 1 GB (9 layers of 64
// experts of [512, 1024] / [1024, 256], random values) is written to a temp
// folder and loaded at nf4, int8 and bf16. The memory each load adds must
// stay below its weights plus the largest checkpoint tensor plus a small
// margin; the weight bytes must equal the planner's and shrink with the format.
//
// What is measured: RssAnon (/proc/self/status), polled every millisecond by a
// thread, minus its value before the load. The checkpoint is mmapped, and the
// pages a load touches count in RSS as file-backed memory (RssFile), which
// the kernel can drop at any time; anonymous memory is what the load really
// holds. VmHWM (all of RSS) is printed beside it for comparison. Before each
// load, malloc_trim returns what the previous one freed, so reused heap pages
// count again when this load touches them.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "core/model/model_config.h"
#include "core/model/tensor_schema.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "tests/unit/model_test_files.h"

namespace {

using namespace ql::engine;
namespace mt = ql::model::testing;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMarginBytes = 32ull << 20;

nlohmann::json synthetic_config() {
  return nlohmann::json::parse(R"({
    "architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
    "image_token_id": 8190, "video_token_id": 8191, "vision_start_token_id": 8188, "vision_end_token_id": 8189,
    "tie_word_embeddings": false,
    "text_config": {
      "hidden_size": 1024, "num_hidden_layers": 9, "num_attention_heads": 8, "num_key_value_heads": 2,
      "head_dim": 128, "vocab_size": 8192, "rms_norm_eps": 1e-06, "hidden_act": "silu", "attention_bias": false,
      "num_experts": 64, "num_experts_per_tok": 4, "moe_intermediate_size": 256, "intermediate_size": 2048,
      "decoder_sparse_step": 1, "mlp_only_layers": [], "norm_topk_prob": true, "dtype": "bfloat16",
      "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default"},
      "rope_theta": 5000000, "max_position_embeddings": 4096
    },
    "vision_config": {
      "depth": 1, "hidden_size": 64, "num_heads": 2, "intermediate_size": 128, "hidden_act": "gelu_pytorch_tanh",
      "patch_size": 16, "temporal_patch_size": 2, "spatial_merge_size": 2, "in_channels": 3,
      "num_position_embeddings": 16, "out_hidden_size": 1024, "deepstack_visual_indexes": [0],
      "model_type": "qwen3_vl_moe"
    }
  })");
}

// Random finite bf16 values of magnitude 2^-7 .. 2^-3 (xorshift64, four per draw).
class RandomBf16 {
 public:
  void fill(std::vector<uint16_t>& out) {
    for (size_t i = 0; i < out.size(); i += 4) {
      state_ ^= state_ << 13;
      state_ ^= state_ >> 7;
      state_ ^= state_ << 17;
      for (size_t k = 0; k < 4 && i + k < out.size(); ++k) {
        const auto r = static_cast<uint16_t>(state_ >> (16 * k));
        out[i + k] = static_cast<uint16_t>((r & 0x8000u) | 0x3c00u | (r & 0x01ffu));
      }
    }
  }

 private:
  uint64_t state_ = 0x9e3779b97f4a7c15ull;
};

// model.safetensors with every tensor of the schema, written in chunks of
// 8 MiB so that the writer never holds the data. Returns the largest tensor's bytes.
uint64_t write_checkpoint(const std::string& dir, const std::vector<ql::model::TensorSpec>& schema) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0, largest = 0;
  for (const auto& spec : schema) {
    if (spec.optional) continue;  // lm_head of a tied model (this one is not tied)
    uint64_t bytes = 2;
    for (int64_t d : spec.shape) bytes *= static_cast<uint64_t>(d);
    header[spec.name] = {{"dtype", "BF16"}, {"shape", spec.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    largest = std::max(largest, bytes);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::ofstream out(dir + "/model.safetensors", std::ios::binary);
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  RandomBf16 rng;
  std::vector<uint16_t> chunk(4u << 20);
  for (uint64_t written = 0; written < offset;) {
    const uint64_t bytes = std::min<uint64_t>(chunk.size() * 2, offset - written);
    chunk.resize(bytes / 2);
    rng.fill(chunk);
    out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(bytes));
    written += bytes;
  }
  EXPECT_TRUE(out.good());
  return largest;
}

// A field of /proc/self/status in bytes ("RssAnon:   1234 kB").
uint64_t status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream s(line.substr(field.size() + 1));
      uint64_t kb = 0;
      s >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

// The largest RssAnon seen while it lives, polled every millisecond.
class AnonPeak {
 public:
  AnonPeak() : peak_(status_bytes("RssAnon")), thread_([this] {
                 while (!done_) {
                   peak_ = std::max<uint64_t>(peak_, status_bytes("RssAnon"));
                   std::this_thread::sleep_for(std::chrono::milliseconds(1));
                 }
               }) {}
  uint64_t stop() {
    done_ = true;
    thread_.join();
    return std::max<uint64_t>(peak_, status_bytes("RssAnon"));
  }

 private:
  std::atomic<uint64_t> peak_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

double mib(uint64_t b) { return static_cast<double>(b) / (1 << 20); }

struct LoadFigures {
  double seconds = 0;
  uint64_t weight_bytes = 0;  // ModelInfo::weight_bytes
  uint64_t anon_added = 0;    // peak RssAnon during the load minus before it
  uint64_t hwm_added = 0;     // VmHWM after minus before (mapped checkpoint pages included)
};

// One load in a fresh engine, released before the next one is measured.
LoadFigures measured_load(const std::string& dir, const std::string& precision) {
  // What earlier loads freed goes back to the kernel (glibc keeps freed heap
  // pages mapped otherwise), so this load's pages are counted when it touches them.
  malloc_trim(0);
  Engine engine;
  LoadOptions o;
  o.precision = precision;
  o.context_tokens = 64;
  LoadFigures f;
  const uint64_t anon_before = status_bytes("RssAnon"), hwm_before = status_bytes("VmHWM");
  AnonPeak peak;
  const Clock::time_point start = Clock::now();
  auto st = engine.load(dir, o);
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  f.anon_added = peak.stop() - anon_before;
  f.hwm_added = status_bytes("VmHWM") - hwm_before;
  EXPECT_TRUE(st.ok()) << precision << ": " << st.message();
  if (st.ok()) f.weight_bytes = engine.info()->weight_bytes;
  return f;
}

uint64_t planned_weight_bytes(const ql::model::ModelConfig& config, const char* preset) {
  uint64_t total = 0;
  for (uint64_t b : ql::quant::weight_bytes_by_component(config, ql::quant::parse_precision(preset)->policy))
    total += b;
  return total;
}

TEST(QuantizedLoadBench, QuantizingLoadsAddOnlyTheQuantizedModelPlusOneTensor) {
  mt::TempDir tmp;
  const std::string dir = tmp.sub("synthetic");
  mt::write_file(dir + "/config.json", synthetic_config().dump(2));
  auto config = ql::model::load_model_config(dir);
  ASSERT_TRUE(config.ok()) << config.message();
  const Clock::time_point write_start = Clock::now();
  const uint64_t largest = write_checkpoint(dir, ql::model::build_tensor_schema(*config));
  const double write_s = std::chrono::duration<double>(Clock::now() - write_start).count();
  const auto file_bytes = static_cast<uint64_t>(std::filesystem::file_size(dir + "/model.safetensors"));
  std::printf("checkpoint: %.1f MiB written in %.1f s; largest tensor %.1f MiB\n", mib(file_bytes), write_s,
              mib(largest));
  ASSERT_GT(file_bytes, 900ull << 20);

  // nf4 first: the cleanest baseline (nothing freed before it to reuse).
  const LoadFigures nf4 = measured_load(dir, "nf4");
  const LoadFigures int8 = measured_load(dir, "int8");
  const LoadFigures bf16 = measured_load(dir, "bf16");
  const struct {
    const char* name;
    const LoadFigures& f;
  } rows[] = {{"nf4", nf4}, {"int8", int8}, {"bf16", bf16}};
  for (const auto& r : rows) {
    std::printf("%-4s load %.1f s; weights %.1f MiB (%.1f%% of the checkpoint); anonymous memory added at peak "
                "%.1f MiB (limit weights + largest tensor + %.0f MiB = %.1f); VmHWM rose %.1f MiB\n",
                r.name, r.f.seconds, mib(r.f.weight_bytes),
                100.0 * static_cast<double>(r.f.weight_bytes) / static_cast<double>(file_bytes), mib(r.f.anon_added),
                mib(kMarginBytes), mib(r.f.weight_bytes + largest + kMarginBytes), mib(r.f.hwm_added));
    EXPECT_EQ(r.f.weight_bytes, planned_weight_bytes(*config, r.name)) << r.name;
    EXPECT_LT(r.f.anon_added, r.f.weight_bytes + largest + kMarginBytes) << r.name;
  }
  // At these widths the formats shrink in their nominal order.
  EXPECT_LT(nf4.weight_bytes, int8.weight_bytes);
  EXPECT_LT(int8.weight_bytes, bf16.weight_bytes);
}

}  // namespace
