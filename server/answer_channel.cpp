#include "server/answer_channel.h"

namespace ql::server {

void AnswerChannel::prepared(const Result<engine::PreparedPrompt>& p) {
  std::lock_guard lock(mutex_);
  if (p.ok()) {
    state_.prepared = true;
  } else {
    // The prompt as a whole does not fit or a picture cannot be used: the
    // message names what (the context size, the image).
    const bool too_long = p.error().reason == ErrorReason::kPromptTooLong;
    state_.refusal = invalid_field("messages", "messages: " + p.message(),
                                   too_long ? "context_length_exceeded" : "invalid_prompt");
    state_.done = true;
  }
  fresh_ = true;
  changed_.notify_all();
}

void AnswerChannel::refuse(ApiError e) {
  std::lock_guard lock(mutex_);
  state_.refusal = std::move(e);
  state_.done = true;
  fresh_ = true;
  changed_.notify_all();
}

bool AnswerChannel::token(const engine::StreamedToken& t) {
  std::lock_guard lock(mutex_);
  if (stops_.stopped()) return true;
  std::string sendable = stops_.feed(t.text);
  if (!sendable.empty()) {
    state_.text += sendable;
    fresh_ = true;
    changed_.notify_all();
  }
  return stops_.stopped();
}

void AnswerChannel::finished(const Result<engine::GenerationResult>& r) {
  std::lock_guard lock(mutex_);
  if (r.ok()) {
    if (!stops_.stopped()) state_.text += stops_.flush();
    state_.finish_reason = finish_reason(r->stop_reason, stops_.stopped());
    state_.usage.prompt_tokens = static_cast<int64_t>(r->prompt_ids.size());
    state_.usage.cached_tokens = r->reused_tokens;
    state_.usage.completion_tokens = static_cast<int64_t>(r->generated_ids.size());
  } else {
    ApiError e;
    e.status = 500;
    e.type = "server_error";
    e.message = "the generation failed: " + r.message();
    state_.failure = std::move(e);
  }
  state_.done = true;
  fresh_ = true;
  changed_.notify_all();
}

bool AnswerChannel::stop_hit() {
  std::lock_guard lock(mutex_);
  return stops_.stopped();
}

AnswerUpdate AnswerChannel::take(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, wait, [&] { return fresh_; });
  fresh_ = false;
  AnswerUpdate out = state_;
  state_.text.clear();
  return out;
}

}  // namespace ql::server
