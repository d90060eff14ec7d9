#pragma once
// One request's answer on its way from the scheduler's thread, where the
// engine produces it, to the HTTP thread that writes it to the client. Stop
// sequences are applied here (the text a client sees never holds one), and
// the usage figures are taken from the finished generation.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/engine/generation_result.h"
#include "core/engine/prompt_builder.h"
#include "core/server/api_error.h"
#include "core/server/chat_completion_response.h"
#include "core/server/stop_matcher.h"

namespace ql::server {

// What the HTTP side takes from the channel.
struct AnswerUpdate {
  bool prepared = false;             // the prompt will run (a 200 answer can begin)
  std::optional<ApiError> refusal;   // it will not run (answer with this error)
  std::string text;                  // answer text new since the last take
  bool done = false;                 // nothing more will come
  std::optional<ApiError> failure;   // the run failed after it began
  std::string finish_reason;         // with done: "stop" or "length"
  Usage usage;                       // with done
};

class AnswerChannel {
 public:
  explicit AnswerChannel(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // ---- the scheduler's side ----
  void prepared(const Result<engine::PreparedPrompt>& p);
  void refuse(ApiError e);
  // A streamed token; returns true once a stop sequence has been found (the
  // caller then cancels the generation).
  bool token(const engine::StreamedToken& t);
  void finished(const Result<engine::GenerationResult>& r);
  // A stop sequence ended the answer.
  bool stop_hit();

  // ---- the HTTP side ----
  // Returns as soon as there is something new (or at once when there already
  // is), else after `wait`; text is handed over once.
  AnswerUpdate take(std::chrono::milliseconds wait);

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  StopMatcher stops_;
  AnswerUpdate state_;
  bool fresh_ = false;  // something happened since the last take
};

}  // namespace ql::server
