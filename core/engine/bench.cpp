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

// `batch` sequences of 32-token prompts, `tokens` each, decoded together:
// aggregate tokens per second from the first token of the last sequence
// admitted (every prefill done) to the last token.
class BatchFeed : public SequenceFeed {
 public:
  BatchFeed(int batch, int64_t tokens, int64_t vocab) : batch_(batch) {
    for (int i = 0; i < batch; ++i) {
      GenerationRequest r;
      r.prompt = TokenPrompt{text_ids(32, 100 + static_cast<uint32_t>(i), vocab), {}};
      r.max_new_tokens = tokens;
      r.ignore_eos = true;
      r.sampling.temperature = 0;
      requests_.push_back(std::move(r));
    }
  }
  std::optional<std::vector<SequenceJob>> next(int free_slots, int running) override {
    if (given_ == batch_ && running == 0) return std::nullopt;
    std::vector<SequenceJob> jobs;
    while (given_ < batch_ && static_cast<int>(jobs.size()) < free_slots) {
      SequenceJob j;
      j.request = requests_[static_cast<size_t>(given_++)];
      j.on_token = [this](const StreamedToken& t) {
        if (t.id == kFlushTokenId) return true;
        const auto now = Clock::now();
        if (first_tokens_ < batch_) {
          if (++first_tokens_ == batch_) start_ = now;
        } else {
          ++after_start_;
        }
        end_ = now;
        return true;
      };
      j.on_done = [this](const Result<GenerationResult>& r) {
        if (!r.ok() && failure_.empty()) failure_ = r.message();
      };
      jobs.push_back(std::move(j));
    }
    return jobs;
  }
  Result<double> tokens_per_second() const {
    if (!failure_.empty()) return err("bench: batched decode: {}", failure_);
    const double s = std::chrono::duration<double>(end_ - start_).count();
    if (after_start_ == 0 || s <= 0) return err("bench: batched decode produced no timed tokens");
    return static_cast<double>(after_start_) / s;
  }

 private:
  int batch_, given_ = 0, first_tokens_ = 0;
  int64_t after_start_ = 0;
  std::vector<GenerationRequest> requests_;
  Clock::time_point start_, end_;
  std::string failure_;
};

}  // namespace

Result<BenchReport> run_bench(const BenchRequest& req, const BenchProgress& progress) {
  if (req.precisions.empty()) return err("bench: give at least one precision");
  if (req.repetitions < 1) return err("bench: repetitions {} must be at least 1", req.repetitions);
  if (req.decode_tokens < 2 || req.prefill_tokens < 1)
    return err("bench: decode tokens ({}) must be >= 2 and prefill tokens ({}) >= 1", req.decode_tokens,
               req.prefill_tokens);
  int parallel = 1;
  for (int b : req.batches) {
    if (b < 2 || b > kMaxParallel) return err("bench: batch {} must be 2 to {}", b, kMaxParallel);
    parallel = std::max(parallel, b);
  }
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
    lo.parallel = parallel;
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

    // Prefill: 512 text tokens into an empty cache, timed to the first token.
    // A request for no token would return as soon as the GPU's work is
    // queued (nothing is read back), so its time would be the launches', not
    // the prefill's: the first token's read-back waits for the device.
    say(precision + ": prefill");
    std::vector<double> prefill;
    const TokenPrompt long_prompt{text_ids(req.prefill_tokens, 1, vocab), {}};
    for (int i = 0; i <= req.repetitions; ++i) {
      engine.reset_cache();
      const auto t = Clock::now();
      auto r = engine.generate(request_of(long_prompt, 1));
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

    // Decode at each batch: aggregate tokens/s.
    for (int b : req.batches) {
      say(fmt::format("{}: decode at batch {}", precision, b));
      std::vector<double> rates;
      for (int i = 0; i <= req.repetitions; ++i) {
        engine.reset_cache();
        BatchFeed feed(b, req.decode_tokens, vocab);
        QL_TRY(engine.run_sequences(feed));
        QL_ASSIGN_OR_RETURN(const double rate, feed.tokens_per_second());
        if (i > 0) rates.push_back(rate);
      }
      row.batched.push_back(BatchedDecode{b, spread_of(rates)});
    }

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
