#pragma once
// OpenAI's `stop` sequences over streamed text: the answer ends before the
// first occurrence of any of them, which itself is never sent. Text that may
// be the start of a stop sequence is held back until the next piece shows
// whether it is one, so a streamed answer never shows what the whole answer
// would not contain.
#include <string>
#include <string_view>
#include <vector>

namespace ql::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds a piece of the answer; returns what can be sent now. After a stop
  // sequence was found, stopped() is true and later pieces return nothing.
  std::string feed(std::string_view piece);
  // The answer ended: what was held back is sent.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // received, not yet sent: may begin a stop sequence
  bool stopped_ = false;
};

}  // namespace ql::server
