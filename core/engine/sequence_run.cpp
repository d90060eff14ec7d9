#include "core/engine/sequence_run.h"

#include <algorithm>
#include <span>

#include "core/engine/cache_reuse.h"
#include "core/engine/image_pads.h"
#include "core/engine/logit_rows.h"
#include "core/engine/prompt_pieces.h"

namespace ql::engine {
namespace {

// Keeps the cached tokens the prompt can reuse and drops the rest; returns how many were kept.
int64_t keep_reusable_prefix(const LoadedModel& m, SequenceSlot& slot, const PreparedPrompt& p, bool reuse) {
  model::KvCache& cache = *slot.cache;
  const int64_t keep = reuse ? reusable_prefix(cache.tokens(), slot.image_keys, p.ids, p.image_keys,
                                               ImageTokenIds::from(m.info.config))
                             : 0;
  if (!cache.truncate(keep).ok()) {
    // reusable_prefix never cuts an image; if the cache disagrees, start over.
    (void)cache.truncate(0);
  }
  slot.image_keys.resize(std::min(slot.image_keys.size(), cache.grids().size()));
  return cache.length();
}

// Copies logits row `index` of a forward's result to the host.
std::vector<float> read_row(backend::Backend& be, const backend::TensorPtr& logits, int64_t index) {
  std::vector<float> row(static_cast<size_t>(logits->cols()));
  auto view = be.view(logits, index, 1, logits->cols());
  be.read(*view, row.data(), row.size() * sizeof(float));
  return row;
}

// Appends a piece's 3-D positions to those of the earlier pieces.
void append_positions(model::PositionIds& all, const model::PositionIds& piece) {
  for (size_t a = 0; a < all.axis.size(); ++a)
    all.axis[a].insert(all.axis[a].end(), piece.axis[a].begin(), piece.axis[a].end());
}

}  // namespace

SequenceRun::SequenceRun(LoadedModel& m, SequenceSlot& slot, const GenerationRequest& request, TokenCallback on_token,
                         MetricsRecorder* metrics)
    : m_(m), slot_(slot), request_(request), on_token_(std::move(on_token)), metrics_(metrics) {}

Status SequenceRun::start(PreparedPrompt prompt, const std::atomic<bool>* cancel, const std::atomic<bool>* stop) {
  QL_TRY(begin(std::move(prompt)));
  return prefill_some(0, cancel, stop);
}

Status SequenceRun::begin(PreparedPrompt prompt) {
  const int64_t prompt_len = static_cast<int64_t>(prompt.ids.size());
  if (request_.max_new_tokens < 0) return err("max new tokens {} is invalid (expected >= 0)", request_.max_new_tokens);
  QL_ASSIGN_OR_RETURN(rows_, resolve_logit_rows(request_.logit_rows, prompt_len));
  QL_ASSIGN_OR_RETURN(const ResolvedSampling sampling, resolve_sampling(request_.sampling, m_.info.generation));
  sampler_.emplace(sampling);
  if (m_.tokenizer) detok_.emplace(*m_.tokenizer, /*skip_special=*/true);
  result_.seed = sampling.seed;

  // Rows inside a reused prefix would not be computed again: a request for
  // logits runs its whole prompt.
  const int64_t keep = keep_reusable_prefix(m_, slot_, prompt, rows_.empty());
  images_done_ = slot_.cache->grids().size();
  result_.reused_tokens = keep;
  if (metrics_) metrics_->prompt(prompt_len, prompt_len - keep);
  prompt_ = std::move(prompt);
  next_ = keep;
  prefilling_ = true;
  return {};
}

Status SequenceRun::prefill_some(int64_t max_tokens, const std::atomic<bool>* cancel, const std::atomic<bool>* stop) {
  if (!prefilling_) return internal_err("prefill_some without begin, or after the prompt was prefilled");
  const int64_t n = static_cast<int64_t>(prompt_.ids.size());
  // Requests for logits rows run in one piece (their rows are prompt-relative).
  const int64_t end = rows_.empty() ? prompt_piece_end(prompt_.ids, next_, max_tokens,
                                                       static_cast<int32_t>(m_.info.config.image_token_id))
                                    : n;
  // This piece's images: one per run of pad tokens in [next_, end) (a piece
  // holds whole images); the last piece gets all that are left, so that the
  // model names any mismatch.
  const std::span<const int32_t> piece = std::span<const int32_t>(prompt_.ids).subspan(next_, end - next_);
  size_t images_in_piece = prompt_.images.size() - images_done_;
  if (end < n)
    images_in_piece = std::min(images_in_piece, find_image_spans(piece, ImageTokenIds::from(m_.info.config)).size());
  const model::PrefillProgressFn progress = [this, n, end](double f) {
    const double whole = (static_cast<double>(next_) + f * static_cast<double>(end - next_)) / static_cast<double>(n);
    if (metrics_) metrics_->prefill(whole);
    if (request_.on_prefill_progress) request_.on_prefill_progress(whole);
  };
  const auto images =
      std::span<const vision::PreprocessedImage>(prompt_.images).subspan(images_done_, images_in_piece);
  auto forward = m_.model->prefill(*slot_.cache, piece, images, rows_, cancel, progress);
  // The prompt is done with after the last piece or a cancel: the result keeps its ids.
  auto end_prefill = [this] {
    prefilling_ = false;
    result_.prompt_ids = std::move(prompt_.ids);
  };
  if (!forward) {
    if (!(cancel && cancel->load(std::memory_order_relaxed))) return forward.error();
    end_prefill();
    finished_ = true;  // cancelled while prefilling: the cache keeps the earlier pieces
    result_.stop_reason = StopReason::kStopped;
    return {};
  }
  slot_.image_keys.insert(slot_.image_keys.end(), prompt_.image_keys.begin() + static_cast<int64_t>(images_done_),
                          prompt_.image_keys.begin() + static_cast<int64_t>(images_done_ + images_in_piece));
  images_done_ += images_in_piece;
  append_positions(result_.prompt_positions, forward->positions);
  for (size_t i = 0; i < forward->rows.size(); ++i) {
    const int64_t row = forward->rows[i];
    if (std::binary_search(rows_.begin(), rows_.end(), row))
      result_.logits[row] = read_row(*m_.backend, forward->logits, static_cast<int64_t>(i));
  }
  next_ = end;
  if (end < n) return {};
  end_prefill();
  if (metrics_) metrics_->memory(m_.backend->memory_info(), m_.info.weight_bytes, m_.backend->bytes_in_use());
  if (request_.max_new_tokens == 0) return finish(StopReason::kMaxTokens);
  // The first token from the prefill's last row.
  QL_ASSIGN_OR_RETURN(const int32_t first, m_.model->sample(*slot_.cache, *forward, sampler_->next()));
  return accept(first, stop ? stop : cancel);
}

Status SequenceRun::accept(int32_t token, const std::atomic<bool>* stop) {
  result_.generated_ids.push_back(token);
  if (metrics_) {
    metrics_->token();
    metrics_->memory(m_.backend->memory_info(), m_.info.weight_bytes, m_.backend->bytes_in_use());  // live figures
  }
  QL_TRY(emit(token, detok_ ? detok_->push(token) : std::string()));
  const auto& eos = m_.info.generation.eos_token_ids;
  if (!request_.ignore_eos && std::find(eos.begin(), eos.end(), token) != eos.end()) return finish(StopReason::kEos);
  if (static_cast<int64_t>(result_.generated_ids.size()) >= request_.max_new_tokens)
    return finish(StopReason::kMaxTokens);
  if (stop && stop->load(std::memory_order_relaxed)) return finish(StopReason::kStopped);
  if (slot_.cache->length() >= slot_.cache->capacity()) return finish(StopReason::kContextFull);
  return {};
}

Status SequenceRun::finish(StopReason reason) {
  finished_ = true;
  result_.stop_reason = reason;
  if (detok_) {
    std::string rest = detok_->flush();
    if (!rest.empty()) QL_TRY(emit(kFlushTokenId, std::move(rest)));
  }
  return {};
}

// Delivers one piece to the caller's callback, whose exceptions must not cross the engine's API.
Status SequenceRun::emit(int32_t id, std::string piece) {
  result_.text += piece;
  if (!on_token_) return {};
  try {
    on_token_(StreamedToken{id, std::move(piece)});
  } catch (const std::exception& e) {
    return internal_err("the token callback failed: {}", e.what());
  } catch (...) {
    return internal_err("the token callback failed with an unknown exception");
  }
  return {};
}

}  // namespace ql::engine
