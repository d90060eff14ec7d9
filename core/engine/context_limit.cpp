#include "core/engine/context_limit.h"

namespace ql::engine {

Status check_prompt_fits(int64_t prompt_tokens, int64_t image_tokens, int64_t context_tokens) {
  if (prompt_tokens <= context_tokens) return {};
  Error e = err("the prompt is {} tokens ({} of them image tokens), longer than the context of {} tokens; "
                "use a larger context or fewer or smaller images",
                prompt_tokens, image_tokens, context_tokens);
  e.reason = ErrorReason::kPromptTooLong;
  return e;
}

}  // namespace ql::engine
