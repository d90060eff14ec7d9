#pragma once
// What a generation hands back: streamed tokens while it runs, then the result.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/engine/metrics.h"
#include "core/model/positions.h"

namespace ql::engine {

enum class StopReason {
  kEos,          // the model produced one of generation_config.json's eos ids
  kMaxTokens,    // max_new_tokens reached
  kContextFull,  // the KV cache is full
  kStopped,      // Engine::stop()
};
const char* stop_reason_name(StopReason r);

// One generated token and the text it completed. The text is always whole
// UTF-8 characters (often empty: a character split over several tokens comes
// with its last one; special tokens such as <|im_end|> give none). After the
// last token, a held-back remainder (an unfinished character, shown as
// U+FFFD) comes once with id kFlushTokenId.
struct StreamedToken {
  int32_t id = 0;
  std::string text;
};
inline constexpr int32_t kFlushTokenId = -1;

// Called on the engine's thread, once per token, as soon as it is sampled.
using TokenCallback = std::function<void(const StreamedToken&)>;

struct GenerationResult {
  std::vector<int32_t> prompt_ids;            // the whole prompt, image pads expanded
  int64_t reused_tokens = 0;                  // leading prompt tokens taken from the KV cache
  model::PositionIds prompt_positions;        // 3-D positions of the prompt tokens run now
  std::map<int64_t, std::vector<float>> logits;  // requested prompt row -> its logits (vocab)
  std::vector<int32_t> generated_ids;         // an eos id that stopped generation included
  std::string text;                           // the streamed pieces joined (no special tokens)
  StopReason stop_reason = StopReason::kMaxTokens;
  uint64_t seed = 0;                          // the seed used (to repeat a sampled run)
  Metrics metrics;
};

}  // namespace ql::engine
