#include "core/engine/compare.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/engine/compare_memory.h"
#include "core/engine/compare_plan.h"
#include "core/engine/fidelity.h"

namespace ql::engine {
namespace {

using Clock = std::chrono::steady_clock;
using Rows = std::vector<std::vector<float>>;  // logits of consecutive positions

Error cancelled_error() { return Error{model::kCancelledMessage, ErrorKind::kInput}; }

// Puts the precision (and prompt) at fault in front; a cancellation keeps its exact message.
Error at(const Error& e, const std::string& where) {
  if (Engine::is_cancelled(e)) return e;
  return Error{fmt::format("{}: {}", where, e.message), e.kind, e.reason};
}

// Plain argmax, every filter and penalty off whatever generation_config.json
// says: the answers differ only where the precisions do.
SamplingOptions greedy() {
  SamplingOptions s;
  s.temperature = 0;
  s.top_k = 0;
  s.top_p = 1;
  s.min_p = 0;
  s.repetition_penalty = 1;
  s.presence_penalty = 0;
  s.seed = 0;
  return s;
}

// A prompt's images in the order of their pads (user turns, parts in order).
std::vector<ImageInput> images_of(const Prompt& prompt) {
  if (const auto* t = std::get_if<TokenPrompt>(&prompt)) return t->images;
  std::vector<ImageInput> out;
  for (const Message& m : std::get<Conversation>(prompt).messages) {
    for (const MessagePart& part : m.parts) {
      if (const auto* image = std::get_if<ImageInput>(&part)) out.push_back(*image);
    }
  }
  return out;
}

// The reference's part of one prompt, kept until every precision is measured.
struct ForcedPrompt {
  TokenPrompt sequence;  // the prompt, then the continuation but its last token
  Rows reference;        // the reference's logits at each position that predicts a continuation token
};

// One precision's figures while its prompts run.
struct RowWork {
  PrecisionRow row;
  FidelityTally fidelity;
  int64_t decode_tokens = 0;
  double decode_ms = 0, ttft_ms_sum = 0;
};

// Held together, precisions run on engines the caller cannot see, so its
// stop() reaches only the one it gave. While the run lasts, a set cancel flag
// is passed on to the engine in use every few milliseconds, so that a long
// prefill there ends between layers as it would on the caller's engine.
class StopRelay {
 public:
  StopRelay(const std::atomic<bool>& cancel, const std::atomic<Engine*>& current)
      : thread_([&cancel, &current, this](std::stop_token st) {
          std::mutex m;
          std::unique_lock lock(m);
          while (!st.stop_requested()) {
            if (cancel.load(std::memory_order_relaxed)) {
              if (Engine* e = current.load()) e->stop();
            }
            wake_.wait_for(lock, st, std::chrono::milliseconds(2), [] { return false; });
          }
        }) {}

 private:
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: joined before wake_ goes
};

class CompareRun {
 public:
  CompareRun(Engine& engine, const CompareRequest& request, const CompareProgress& progress,
             const std::atomic<bool>* cancel, const CompareTokenCallback& on_token)
      : engine_(engine), request_(request), progress_(progress), cancel_(cancel), on_token_(on_token) {}

  Result<CompareReport> run() {
    auto plan = plan_compare_precisions(request_.precisions);
    if (!plan) return plan.error();
    if (request_.prompts.empty()) return err("no prompts to compare");
    if (request_.tokens < 1) {
      return err("continuation length {} is invalid (expected at least 1 token)", request_.tokens);
    }
    QL_ASSIGN_OR_RETURN(const CompareMemory memory, decide_compare_memory(request_.model_dir, *plan, request_.load));
    report_.reference = plan->front().name;
    report_.sequential = !memory.together;
    report_.placement = memory.reason;
    report_.tokens = request_.tokens;
    for (const ComparePrompt& p : request_.prompts) report_.prompts.push_back({p.label, 0, 0});
    forced_.resize(request_.prompts.size());
    precision_count_ = plan->size();
    QL_TRY(memory.together ? run_together(*plan) : run_one_after_another(*plan));
    return std::move(report_);
  }

 private:
  // Load, measure, unload: one model in memory at a time.
  Status run_one_after_another(const std::vector<ComparePrecision>& plan) {
    current_ = &engine_;
    for (size_t i = 0; i < plan.size(); ++i) {
      precision_index_ = i;
      RowWork w = start_row(plan[i]);
      Status st = load(w.row);
      auto row = st ? measure_precision(std::move(w)) : Result<PrecisionRow>(st.error());
      engine_.unload();  // before the next precision loads
      if (!row) return row.error();
      report_.precisions.push_back(std::move(row).value());
    }
    return {};
  }

  // Every precision loaded first, each in its own engine (the caller's for
  // the first), all kept while each is measured in turn, then all unloaded.
  Status run_together(const std::vector<ComparePrecision>& plan) {
    std::vector<std::unique_ptr<Engine>> extra;  // destroyed (unloaded) on every way out
    std::optional<StopRelay> relay;
    if (cancel_) relay.emplace(*cancel_, current_);
    std::vector<Engine*> engines;
    std::vector<RowWork> works;
    for (size_t i = 0; i < plan.size(); ++i) {
      precision_index_ = i;
      if (i == 0) {
        engines.push_back(&engine_);
      } else {
        extra.push_back(std::make_unique<Engine>(engine_.image_decoder()));
        engines.push_back(extra.back().get());
      }
      current_ = engines[i];
      works.push_back(start_row(plan[i]));
      QL_TRY(load(works[i].row));
    }
    for (size_t i = 0; i < plan.size(); ++i) {
      precision_index_ = i;
      current_ = engines[i];
      QL_ASSIGN_OR_RETURN(PrecisionRow row, measure_precision(std::move(works[i])));
      report_.precisions.push_back(std::move(row));
    }
    relay.reset();  // before the engines it may stop go
    current_ = &engine_;
    for (Engine* e : engines) e->unload();
    return {};
  }

  bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }
  Engine& engine() const { return *current_.load(); }

  void step(size_t prompt, double load_fraction) const {
    if (progress_) {
      progress_({precision_index_, precision_count_, prompt, request_.prompts.size(), load_fraction});
    }
  }

  static RowWork start_row(const ComparePrecision& p) {
    RowWork w;
    w.row.name = p.name;
    w.row.reference = p.reference;
    w.row.added = p.added;
    return w;
  }

  // Runs on the loaded engine in use: the warm-up, then every prompt.
  Result<PrecisionRow> measure_precision(RowWork w) {
    QL_TRY(warm_up(w.row));
    for (size_t j = 0; j < request_.prompts.size(); ++j) QL_TRY(measure_prompt(j, w));
    auto summary = w.fidelity.summary();
    if (!summary) return at(summary.error(), w.row.name);
    w.row.fidelity = *summary;
    w.row.decode_tok_s = w.decode_ms > 0 ? 1000.0 * static_cast<double>(w.decode_tokens) / w.decode_ms : 0;
    w.row.ttft_ms = w.ttft_ms_sum / static_cast<double>(request_.prompts.size());
    return std::move(w.row);
  }

  Status load(PrecisionRow& row) {
    step(request_.prompts.size(), 0);
    if (cancelled()) return cancelled_error();
    LoadOptions options = request_.load;
    options.precision = row.name;
    const auto start = Clock::now();
    Status st = engine().load(request_.model_dir, options, [this](double fraction, const std::string&) {
      if (cancelled()) engine().stop();
      step(request_.prompts.size(), fraction);
    });
    if (!st) return at(st.error(), row.name);
    row.load_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const auto info = engine().info();
    if (!info) return internal_err("{}: the model is not loaded after loading", row.name);
    row.weight_bytes = info->weight_bytes;
    row.loaded_precision = info->precision;
    return {};
  }

  // Two tokens of the first prompt, not measured: weights still in the
  // mmapped checkpoint are paged in and buffers are first touched here, not
  // in the first measured prompt (which would slow the first row most).
  Status warm_up(const PrecisionRow& row) {
    if (cancelled()) return cancelled_error();
    GenerationRequest r;
    r.prompt = request_.prompts[0].prompt;
    r.sampling = greedy();
    r.max_new_tokens = 2;
    auto warm = engine().generate(r);
    if (!warm) return at(warm.error(), fmt::format("{}, prompt 1", row.name));
    if (warm->stop_reason == StopReason::kStopped) return cancelled_error();
    return {};
  }

  Result<GenerationResult> answer(size_t j) {
    GenerationRequest r;
    r.prompt = request_.prompts[j].prompt;
    r.sampling = greedy();
    r.max_new_tokens = request_.tokens;
    engine().reset_cache();  // the time to first token covers the whole prompt at every precision
    return engine().generate(r, [this, j](const StreamedToken& token) {
      if (cancelled()) engine().stop();
      if (on_token_) on_token_(precision_index_, j, token);
    });
  }

  // The reference's answer is the continuation every precision is forced through.
  Status start_forced_prompt(size_t j, const GenerationResult& reference_answer) {
    const auto& continuation = reference_answer.generated_ids;
    if (continuation.empty()) return internal_err("the reference generated no token");
    std::vector<int32_t> ids = reference_answer.prompt_ids;
    ids.insert(ids.end(), continuation.begin(), continuation.end() - 1);
    forced_[j].sequence = TokenPrompt{std::move(ids), images_of(request_.prompts[j].prompt)};
    report_.prompts[j].prompt_tokens = static_cast<int64_t>(reference_answer.prompt_ids.size());
    report_.prompts[j].positions = static_cast<int64_t>(continuation.size());
    return {};
  }

  // One prefill of the forced sequence; the logits of its last `positions`
  // rows: row (prompt length - 1 + k) predicts continuation token k.
  Result<Rows> forced_rows(size_t j) {
    const int64_t positions = report_.prompts[j].positions;
    GenerationRequest r;
    r.prompt = forced_[j].sequence;
    r.sampling = greedy();
    r.max_new_tokens = 0;
    for (int64_t k = -positions; k < 0; ++k) r.logit_rows.rows.push_back(k);
    auto forced = engine().generate(r);
    if (!forced) return forced.error();
    if (forced->stop_reason == StopReason::kStopped) return cancelled_error();
    Rows rows;
    for (auto& [index, logits] : forced->logits) rows.push_back(std::move(logits));  // std::map: row order
    if (static_cast<int64_t>(rows.size()) != positions) {
      return internal_err("{} teacher-forced rows came back, expected {}", rows.size(), positions);
    }
    return rows;
  }

  Status measure_prompt(size_t j, RowWork& w) {
    step(j, 1);
    if (cancelled()) return cancelled_error();
    const std::string where = fmt::format("{}, prompt {}", w.row.name, j + 1);
    auto reply = answer(j);
    if (!reply) return at(reply.error(), where);
    if (reply->stop_reason == StopReason::kStopped) return cancelled_error();
    if (w.row.reference) {
      if (Status st = start_forced_prompt(j, *reply); !st) return at(st.error(), where);
    }
    if (cancelled()) return cancelled_error();
    auto rows = forced_rows(j);
    if (!rows) return at(rows.error(), where);
    ForcedPrompt& f = forced_[j];
    if (w.row.reference) f.reference = std::move(rows).value();
    const Rows& compared = w.row.reference ? f.reference : *rows;

    PromptOutcome out;
    for (size_t k = 0; k < compared.size(); ++k) {
      auto kl = kl_divergence(f.reference[k], compared[k]);
      if (!kl) return at(kl.error(), fmt::format("{}, position {}", where, k + 1));
      const size_t top1 = argmax_first(compared[k]);
      out.kl.push_back(*kl);
      out.forced_top1.push_back(static_cast<int32_t>(top1));
      w.fidelity.add(*kl, top1 == argmax_first(f.reference[k]));
    }
    const Metrics& m = reply->metrics;
    out.answer = std::move(reply->text);
    out.answer_ids = std::move(reply->generated_ids);
    out.ttft_ms = m.ttft_ms;
    out.decode_tok_s = m.decode_tokens_per_s;
    const int64_t after_first = std::max<int64_t>(0, m.generated_tokens - 1);
    w.decode_tokens += after_first;
    w.decode_ms += static_cast<double>(after_first) * m.mean_token_ms;
    w.ttft_ms_sum += m.ttft_ms;
    w.row.prompts.push_back(std::move(out));
    return {};
  }

  Engine& engine_;                        // the caller's: the first row's when held together
  std::atomic<Engine*> current_{nullptr};  // the engine the running step uses (read by StopRelay)
  const CompareRequest& request_;
  const CompareProgress& progress_;
  const std::atomic<bool>* cancel_;
  const CompareTokenCallback& on_token_;
  size_t precision_index_ = 0, precision_count_ = 0;
  std::vector<ForcedPrompt> forced_;
  CompareReport report_;
};

}  // namespace

Result<CompareReport> compare_precisions(Engine& engine, const CompareRequest& request,
                                         const CompareProgress& progress, const std::atomic<bool>* cancel,
                                         const CompareTokenCallback& on_token) {
  // No exception leaves core (docs/architecture.md §7): a throwing progress
  // callback or an allocation failure becomes an error, and the engine is
  // left empty either way.
  auto result = [&]() -> Result<CompareReport> {
    try {
      return CompareRun(engine, request, progress, cancel, on_token).run();
    } catch (const std::bad_alloc&) {
      return internal_err("comparing precisions: out of memory");
    } catch (const std::exception& e) {
      return internal_err("comparing precisions: {}", e.what());
    } catch (...) {
      return internal_err("comparing precisions: unknown failure");
    }
  }();
  engine.unload();
  return result;
}

}  // namespace ql::engine
