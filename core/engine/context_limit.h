#pragma once
// A prompt must fit in the KV cache; this is checked before any model work
// so that an over-long prompt fails at once with the numbers.
#include <cstdint>

#include "core/common/result.h"

namespace ql::engine {

// The context used when a load does not say (the published model allows far
// more, but its KV cache costs ~192 KiB per token in fp32 on the CPU backend).
inline constexpr int64_t kDefaultContextTokens = 4096;

// Errors when the prompt (image tokens included) is longer than the context.
Status check_prompt_fits(int64_t prompt_tokens, int64_t image_tokens, int64_t context_tokens);

}  // namespace ql::engine
