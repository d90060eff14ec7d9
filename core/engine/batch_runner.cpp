#include "core/engine/batch_runner.h"

#include <algorithm>
#include <iterator>
#include <list>
#include <memory>

#include "core/engine/cache_reuse.h"
#include "core/engine/image_pads.h"
#include "core/engine/sequence_run.h"

namespace ql::engine {
namespace {

struct Active {
  SequenceJob job;
  size_t slot = 0;
  std::unique_ptr<SequenceRun> run;
  // The run ends at its next token: the job was cancelled, or its token
  // callback said stop (a stop sequence: not a cancel).
  std::atomic<bool> stop{false};
};

// The free slot whose cache holds the longest prefix the prompt can reuse
// (a chat's next turn finds its own cache), else the first free one.
size_t pick_slot(const LoadedModel& m, const std::vector<bool>& busy, const PreparedPrompt& p) {
  size_t best = busy.size();
  int64_t best_keep = -1;
  for (size_t s = 0; s < busy.size(); ++s) {
    if (busy[s]) continue;
    const auto& slot = m.sequences[s];
    const int64_t keep = reusable_prefix(slot.cache->tokens(), slot.image_keys, p.ids, p.image_keys,
                                         ImageTokenIds::from(m.info.config));
    if (keep > best_keep) {
      best = s;
      best_keep = keep;
    }
  }
  return best;
}

}  // namespace

Status run_batch(LoadedModel& m, const PromptContext& ctx, SequenceFeed& feed, const std::atomic<bool>& stop,
                 MetricsRecorder& metrics) {
  std::vector<bool> busy(m.sequences.size(), false);
  std::list<Active> active;  // stable addresses: the runs' callbacks point into them
  // After a step of `a`: when it failed or finished, its job hears so and its
  // slot is free; returns whether it ended.
  auto ended = [&](Active& a, const Status& st) {
    if (st.ok() && !a.run->finished()) return false;
    busy[a.slot] = false;
    if (a.job.on_done) {
      if (st.ok()) a.job.on_done(std::move(a.run->result()));
      else a.job.on_done(st.error());
    }
    return true;
  };
  metrics.begin();
  for (;;) {
    // Engine::stop cancels every job (each run reads its cancel as it streams a token).
    if (stop.load(std::memory_order_relaxed))
      for (auto& a : active) a.job.cancel->store(true, std::memory_order_relaxed);
    int free = 0;
    for (bool b : busy) free += b ? 0 : 1;
    auto more = feed.next(free, static_cast<int>(active.size()));
    if (!more && active.empty()) break;

    // New jobs: prepared, given a free slot, their prompt to prefill.
    for (auto& job : more ? *more : std::vector<SequenceJob>{}) {
      auto prepared = prepare_prompt(job.request.prompt, ctx);
      if (job.on_prepared) job.on_prepared(prepared);
      if (!prepared) continue;
      Active& a = active.emplace_back();
      a.job = std::move(job);
      a.slot = pick_slot(m, busy, *prepared);
      if (a.slot == busy.size()) {
        if (a.job.on_done) a.job.on_done(internal_err("no free sequence slot (the feed gave more jobs than free slots)"));
        active.pop_back();
        continue;
      }
      busy[a.slot] = true;
      Active* self = &a;
      TokenCallback on_token = [self](const StreamedToken& t) {
        if (self->job.on_token && !self->job.on_token(t)) self->stop.store(true, std::memory_order_relaxed);
        if (self->job.cancel->load(std::memory_order_relaxed)) self->stop.store(true, std::memory_order_relaxed);
      };
      a.run = std::make_unique<SequenceRun>(m, m.sequences[a.slot], a.job.request, on_token, nullptr);
      if (ended(a, a.run->begin(std::move(prepared).value()))) active.pop_back();
    }
    if (active.empty()) continue;

    // Prompts: whole while no answer is running (nothing waits on them), else
    // at most kInterleavedPrefillTokens per step, in arrival order, so that
    // running answers keep streaming while a long prompt or image goes in.
    const bool answering =
        std::any_of(active.begin(), active.end(), [](const Active& a) { return !a.run->prefilling(); });
    int64_t budget = kInterleavedPrefillTokens;
    for (auto it = active.begin(); it != active.end();) {
      Active& a = *it;
      if (!a.run->prefilling() || (answering && budget <= 0)) {
        ++it;
        continue;
      }
      const int64_t before = a.run->prompt_tokens_left();
      Status st = a.run->prefill_some(answering ? budget : 0, a.job.cancel.get(), &a.stop);
      budget -= before - a.run->prompt_tokens_left();
      if (st.ok() && !a.run->prefilling() && !a.run->result().generated_ids.empty()) metrics.token();
      it = ended(a, st) ? active.erase(it) : std::next(it);
    }

    // One decode step for every sequence past its prompt.
    std::vector<std::list<Active>::iterator> stepping;
    std::vector<model::KvCache*> caches;
    std::vector<int32_t> tokens;
    std::vector<model::SamplingStep> steps;
    for (auto it = active.begin(); it != active.end(); ++it) {
      if (it->run->prefilling()) continue;
      stepping.push_back(it);
      caches.push_back(&it->run->cache());
      tokens.push_back(it->run->last_token());
      steps.push_back(it->run->next_step());
    }
    if (stepping.empty()) continue;
    auto picked = m.model->decode_batch(caches, tokens, steps);
    for (size_t i = 0; i < stepping.size(); ++i) {
      Active& a = *stepping[i];
      Status st = picked.ok() ? a.run->accept((*picked)[i], &a.stop) : Status(picked.error());
      if (st.ok()) metrics.token();
      if (ended(a, st)) active.erase(stepping[i]);  // list iterators of the others stay valid
    }
    metrics.memory(m.backend->memory_info(), m.info.weight_bytes, m.backend->bytes_in_use());
  }
  metrics.end();
  return {};
}

}  // namespace ql::engine
