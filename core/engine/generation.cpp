#include "core/engine/generation.h"

#include <algorithm>
#include <optional>
#include <span>

#include "core/engine/cache_reuse.h"
#include "core/engine/image_pads.h"
#include "core/engine/logit_rows.h"
#include "core/engine/sampling.h"
#include "core/text/stream_detokenizer.h"

namespace ql::engine {
namespace {

bool stopped(const std::atomic<bool>& stop) { return stop.load(std::memory_order_relaxed); }

// Keeps the cached tokens the prompt can reuse and drops the rest; returns how many were kept.
int64_t keep_reusable_prefix(LoadedModel& m, const PreparedPrompt& p, bool reuse) {
  model::KvCache& cache = *m.cache;
  const int64_t keep = reuse ? reusable_prefix(cache.tokens(), m.cached_image_keys, p.ids, p.image_keys,
                                               ImageTokenIds::from(m.info.config))
                             : 0;
  if (!cache.truncate(keep).ok()) {
    // reusable_prefix never cuts an image; if the cache disagrees, start over.
    (void)cache.truncate(0);
  }
  m.cached_image_keys.resize(std::min(m.cached_image_keys.size(), cache.grids().size()));
  return cache.length();
}

// Copies logits row `index` of a forward's result to the host.
std::vector<float> read_row(backend::Backend& be, const backend::TensorPtr& logits, int64_t index) {
  std::vector<float> row(static_cast<size_t>(logits->cols()));
  auto view = be.view(logits, index, 1, logits->cols());
  be.read(*view, row.data(), row.size() * sizeof(float));
  return row;
}

// Delivers one piece to the caller's callback, whose exceptions must not cross the engine's API.
Status emit(const TokenCallback& cb, int32_t id, std::string piece, GenerationResult& r) {
  r.text += piece;
  if (!cb) return {};
  try {
    cb(StreamedToken{id, std::move(piece)});
  } catch (const std::exception& e) {
    return internal_err("the token callback failed: {}", e.what());
  } catch (...) {
    return internal_err("the token callback failed with an unknown exception");
  }
  return {};
}

}  // namespace

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kEos: return "eos";
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kContextFull: return "context_full";
    case StopReason::kStopped: return "stopped";
  }
  return "?";
}

namespace {

// Samples from `forward`'s last row, streams the token, decodes it, and so on
// until a stop condition; fills r.generated_ids, r.text and r.stop_reason.
Status decode_loop(LoadedModel& m, const model::ForwardResult& prefilled, const GenerationRequest& request,
                   const ResolvedSampling& sampling, const TokenCallback& on_token, const std::atomic<bool>& stop,
                   MetricsRecorder& metrics, GenerationResult& r) {
  std::optional<text::StreamDetokenizer> detok;
  if (m.tokenizer) detok.emplace(*m.tokenizer, /*skip_special=*/true);
  const auto& eos = m.info.generation.eos_token_ids;
  TokenSampler sampler(sampling);
  // The first token from the prefill's last row; each later one from a decode
  // step that runs the previous token and samples in the same (recorded) step.
  auto picked = m.model->sample(*m.cache, prefilled, sampler.next());
  while (true) {
    if (!picked) return picked.error();
    const int32_t token = *picked;
    r.generated_ids.push_back(token);
    metrics.token();
    metrics.memory(m.backend->memory_info(), m.info.weight_bytes, m.backend->bytes_in_use());  // live figures
    QL_TRY(emit(on_token, token, detok ? detok->push(token) : std::string(), r));
    if (!request.ignore_eos && std::find(eos.begin(), eos.end(), token) != eos.end()) {
      r.stop_reason = StopReason::kEos;
      break;
    }
    if (static_cast<int64_t>(r.generated_ids.size()) >= request.max_new_tokens) {
      r.stop_reason = StopReason::kMaxTokens;
      break;
    }
    if (stopped(stop)) {
      r.stop_reason = StopReason::kStopped;
      break;
    }
    if (m.cache->length() >= m.cache->capacity()) {
      r.stop_reason = StopReason::kContextFull;
      break;
    }
    picked = m.model->decode_and_sample(*m.cache, token, sampler.next());
  }
  if (detok) {
    std::string rest = detok->flush();
    if (!rest.empty()) QL_TRY(emit(on_token, kFlushTokenId, std::move(rest), r));
  }
  return {};
}

}  // namespace

Result<GenerationResult> run_generation(LoadedModel& m, PreparedPrompt prompt, const GenerationRequest& request,
                                        const TokenCallback& on_token, const std::atomic<bool>& stop,
                                        MetricsRecorder& metrics) {
  const int64_t prompt_len = static_cast<int64_t>(prompt.ids.size());
  if (request.max_new_tokens < 0) {
    return err("max new tokens {} is invalid (expected >= 0)", request.max_new_tokens);
  }
  auto rows = resolve_logit_rows(request.logit_rows, prompt_len);
  if (!rows) return rows.error();
  auto sampling = resolve_sampling(request.sampling, m.info.generation);
  if (!sampling) return sampling.error();

  GenerationResult r;
  r.seed = sampling->seed;
  // Rows inside a reused prefix would not be computed again: a request for
  // logits runs its whole prompt.
  const int64_t keep = keep_reusable_prefix(m, prompt, rows->empty());
  const size_t images_kept = m.cache->grids().size();
  r.reused_tokens = keep;
  metrics.prompt(prompt_len, prompt_len - keep);

  const model::PrefillProgressFn progress = [&](double f) {
    metrics.prefill(f);
    if (request.on_prefill_progress) request.on_prefill_progress(f);
  };
  auto forward = m.model->prefill(*m.cache, std::span<const int32_t>(prompt.ids).subspan(keep),
                                  std::span<const vision::PreprocessedImage>(prompt.images).subspan(images_kept),
                                  *rows, &stop, progress);
  r.prompt_ids = std::move(prompt.ids);
  if (!forward) {
    if (!stopped(stop)) return forward.error();
    r.stop_reason = StopReason::kStopped;  // cancelled while prefilling: the cache is as it was
    return r;
  }
  m.cached_image_keys.insert(m.cached_image_keys.end(), prompt.image_keys.begin() + images_kept,
                             prompt.image_keys.end());
  r.prompt_positions = forward->positions;
  for (size_t i = 0; i < forward->rows.size(); ++i) {
    const int64_t row = forward->rows[i];
    if (std::binary_search(rows->begin(), rows->end(), row)) r.logits[row] = read_row(*m.backend, forward->logits, i);
  }
  metrics.memory(m.backend->memory_info(), m.info.weight_bytes, m.backend->bytes_in_use());
  if (request.max_new_tokens == 0) {
    r.stop_reason = StopReason::kMaxTokens;
    return r;
  }
  QL_TRY(decode_loop(m, *forward, request, *sampling, on_token, stop, metrics, r));
  return r;
}

}  // namespace ql::engine
