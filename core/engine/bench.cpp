#include "core/engine/bench.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "core/engine/engine.h"
#include "core/model/synthetic_models.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "core/vision/preprocess.h"

namespace ql::engine {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Spread spread_of(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  return s;
}

// Fixed pseudo-random text ids below the special tokens (no image pads).
std::vector<int32_t> text_ids(int64_t n, uint32_t seed, int64_t vocab) {
  std::mt19937 rng(seed);
  const auto limit = static_cast<int32_t>(std::min<int64_t>(vocab, 151643) - 1);
  std::uniform_int_distribution<int32_t> d(0, std::max<int32_t>(limit, 0));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = d(rng);
  return ids;
}

// A deterministic picture (gradients and edges: pixel values vary as in a photo).
vision::ImageRGB8 bench_image(int side) {
  vision::ImageRGB8 im;
  im.width = im.height = side;
  im.pixels.resize(static_cast<size_t>(side) * side * 3);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 3; ++c)
        im.pixels[(static_cast<size_t>(y) * side + x) * 3 + c] =
            static_cast<uint8_t>((x * (1 + c) + y * 3 + ((x / 16 + y / 16) % 2) * 50) & 0xff);
  return im;
}

// Weight bytes one decoded token reads, from the plan's per-component bytes:
// everything of the text model but the experts, of which only the top-k
// share (routing spreads tokens evenly on average), and one embedding row.
double active_gib_per_token(const ModelInfo& info) {
  auto choice = quant::parse_precision(info.precision);
  if (!choice) return 0;
  auto bytes = quant::weight_bytes_by_component(info.config, choice->policy);
  auto at = [&](model::Component c) { return static_cast<double>(bytes[static_cast<size_t>(c)]); };
  const auto& t = info.config.text;
  const double expert_share = t.num_experts > 0 ? static_cast<double>(t.num_experts_per_tok) / t.num_experts : 0;
  const double embedding_row = t.vocab_size > 0 ? at(model::Component::kEmbeddings) / t.vocab_size : 0;
  const double head = info.config.tie_word_embeddings && at(model::Component::kLmHead) == 0
                          ? at(model::Component::kEmbeddings)
                          : at(model::Component::kLmHead);
  return (at(model::Component::kAttention) + at(model::Component::kRouter) + at(model::Component::kDenseMlp) +
          at(model::Component::kTextNorms) + head + expert_share * at(model::Component::kExperts) + embedding_row) /
         kGiB;
}

GenerationRequest request_of(TokenPrompt prompt, int64_t new_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_new_tokens = new_tokens;
  r.ignore_eos = true;
  r.sampling.temperature = 0;
  return r;
}

}  // namespace

Result<BenchReport> run_bench(const BenchRequest& req, const BenchProgress& progress) {
  if (req.precisions.empty()) return err("bench: give at least one precision");
  if (req.repetitions < 1) return err("bench: repetitions {} must be at least 1", req.repetitions);
  if (req.decode_tokens < 2 || req.prefill_tokens < 1)
    return err("bench: decode tokens ({}) must be >= 2 and prefill tokens ({}) >= 1", req.decode_tokens,
               req.prefill_tokens);
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  BenchReport report;
  for (const std::string& precision : req.precisions) {
    BenchRow row;
    Engine engine;
    LoadOptions lo;
    lo.precision = precision;
    lo.backend = req.backend;
    lo.threads = req.threads;
    lo.context_tokens = req.context_tokens;
    say(precision + ": loading");
    const auto t_load = Clock::now();
    QL_TRY(engine.load(req.model, lo));
    row.load_s = seconds_since(t_load);
    const ModelInfo info = *engine.info();
    row.precision = info.precision;
    row.backend = info.backend_name;
    row.device = info.device;
    row.weights_gib = static_cast<double>(info.weight_bytes) / kGiB;
    const int64_t vocab = info.config.text.vocab_size;

    // Prefill: 512 text tokens into an empty cache.
    say(precision + ": prefill");
    std::vector<double> prefill;
    const TokenPrompt long_prompt{text_ids(req.prefill_tokens, 1, vocab), {}};
    for (int i = 0; i <= req.repetitions; ++i) {
      engine.reset_cache();
      const auto t = Clock::now();
      auto r = engine.generate(request_of(long_prompt, 0));
      if (!r) return r.error();
      const double s = seconds_since(t);
      if (i > 0) prefill.push_back(static_cast<double>(req.prefill_tokens) / s);
    }
    row.prefill_tok_s = spread_of(prefill);

    // Decode at batch 1: tokens after the first, per second.
    say(precision + ": decode");
    std::vector<double> decode;
    const TokenPrompt short_prompt{text_ids(32, 2, vocab), {}};
    for (int i = 0; i <= req.repetitions; ++i) {
      engine.reset_cache();
      auto r = engine.generate(request_of(short_prompt, req.decode_tokens));
      if (!r) return r.error();
      if (i > 0) decode.push_back(r->metrics.decode_tokens_per_s);
    }
    row.decode_tok_s = spread_of(decode);

    // One 1024x1024 image: request start to the first token.
    if (req.image_side > 0) {
      say(precision + ": image");
      std::vector<double> ttft;
      const vision::ImageRGB8 image = bench_image(req.image_side);
      auto pre = vision::preprocess_image(image, info.preprocess, "bench image");
      if (!pre) return pre.error();
      const int64_t merge = info.preprocess.merge_size * info.preprocess.merge_size;
      row.image_tokens = pre->grid_t * pre->grid_h * pre->grid_w / merge;
      TokenPrompt p;
      p.ids = text_ids(8, 3, vocab);
      p.ids.push_back(static_cast<int32_t>(info.config.vision_start_token_id));
      p.ids.insert(p.ids.end(), static_cast<size_t>(row.image_tokens), static_cast<int32_t>(info.config.image_token_id));
      p.ids.push_back(static_cast<int32_t>(info.config.vision_end_token_id));
      const auto tail = text_ids(16, 4, vocab);
      p.ids.insert(p.ids.end(), tail.begin(), tail.end());
      p.images.push_back(ImageInput::decoded(image, "bench image"));
      for (int i = 0; i <= req.repetitions; ++i) {
        engine.reset_cache();
        auto r = engine.generate(request_of(p, 1));
        if (!r) return r.error();
        if (i > 0) ttft.push_back(r->metrics.ttft_ms);
      }
      row.image_ttft_ms = spread_of(ttft);
    }

    say(precision + ": memory and bandwidth");
    if (auto m = engine.memory_info()) {
      row.kv_cache_gib = static_cast<double>(m->kv_cache) / kGiB;
      row.peak_gib = static_cast<double>(info.weight_bytes + m->kv_cache + m->peak_workspace) / kGiB;
      row.device_total_gib = static_cast<double>(m->device_total) / kGiB;
      row.device_used_gib = static_cast<double>(m->device_total - std::min(m->device_total, m->device_free)) / kGiB;
    }
    row.active_weight_gib_per_token = active_gib_per_token(info);
    row.achieved_gb_s = row.active_weight_gib_per_token * kGiB * row.decode_tok_s.median / 1e9;
    row.copy_gb_s = engine.copy_bandwidth_gbps(row.backend == "cpu" ? size_t{256} << 20 : size_t{1} << 30);
    row.fraction_of_copy = row.copy_gb_s > 0 ? row.achieved_gb_s / row.copy_gb_s : 0;
    report.rows.push_back(std::move(row));
  }
  return report;
}

}  // namespace ql::engine
