#pragma once
// A SequenceFeed (core/engine/sequence_feed.h) that hands every request over
// at once, as far as slots allow, and records each one's tokens and the most
// sequences seen decoding together.
#include <algorithm>
#include <optional>
#include <vector>

#include "core/engine/sequence_feed.h"

namespace ql::test {

class AllAtOnceFeed : public engine::SequenceFeed {
 public:
  explicit AllAtOnceFeed(std::vector<engine::GenerationRequest> requests)
      : requests_(std::move(requests)), tokens(requests_.size()), ok(requests_.size(), false) {}

  std::optional<std::vector<engine::SequenceJob>> next(int free_slots, int running) override {
    max_running = std::max(max_running, running);
    std::vector<engine::SequenceJob> jobs;
    while (next_ < requests_.size() && static_cast<int>(jobs.size()) < free_slots) {
      const size_t i = next_++;
      engine::SequenceJob j;
      j.request = requests_[i];
      j.on_done = [this, i](const Result<engine::GenerationResult>& r) {
        ok[i] = r.ok();
        if (r.ok()) tokens[i] = r->generated_ids;
      };
      jobs.push_back(std::move(j));
    }
    if (jobs.empty() && running == 0 && next_ == requests_.size()) return std::nullopt;
    return jobs;
  }

 private:
  std::vector<engine::GenerationRequest> requests_;
  size_t next_ = 0;

 public:
  std::vector<std::vector<int32_t>> tokens;
  std::vector<bool> ok;
  int max_running = 0;
};

}  // namespace ql::test
