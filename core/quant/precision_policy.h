#pragma once
// A precision policy: the weight format chosen per component of the model,
// parsed from a preset name ("nf4-mixed") or an explicit list
// ("experts=nf4,attention=int8,lm_head=int8"), optionally a preset followed by
// overrides ("nf4,lm_head=bf16"). Keys not given take bf16, the checkpoint's
// dtype. "auto" is not a policy but a request: the memory planner resolves it
// to the highest preset that fits the budget (memory_budget.h).
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/quant/quantized_weight.h"

namespace ql::quant {

// What a policy can set. "norms" is the 16-bit dtype of every tensor that is
// never quantized (norms, biases, the vision patch embedding and position
// table), so it accepts only bf16 or fp16. The dense MLP of mlp_only layers
// has no key: it follows "experts", being the same feed-forward role.
enum class PolicyKey { kVision, kAttention, kRouter, kExperts, kEmbeddings, kLmHead, kNorms };
inline constexpr size_t kPolicyKeyCount = 7;
inline constexpr PolicyKey kPolicyKeys[kPolicyKeyCount] = {
    PolicyKey::kVision,     PolicyKey::kAttention, PolicyKey::kRouter, PolicyKey::kExperts,
    PolicyKey::kEmbeddings, PolicyKey::kLmHead,    PolicyKey::kNorms};

std::string_view policy_key_name(PolicyKey key);      // "vision", ..., "lm_head", "norms"
std::string_view policy_format_name(QuantFormat f);   // "bf16", "fp16", "int8", "nf4"

struct PrecisionPolicy {
  std::array<QuantFormat, kPolicyKeyCount> formats{
      QuantFormat::kBF16, QuantFormat::kBF16, QuantFormat::kBF16, QuantFormat::kBF16,
      QuantFormat::kBF16, QuantFormat::kBF16, QuantFormat::kBF16};

  QuantFormat operator[](PolicyKey k) const { return formats[static_cast<size_t>(k)]; }
  QuantFormat& operator[](PolicyKey k) { return formats[static_cast<size_t>(k)]; }
  friend bool operator==(const PrecisionPolicy&, const PrecisionPolicy&) = default;
};

// The named presets, highest precision first; "auto" is not among them.
struct PrecisionPreset {
  std::string_view name;
  PrecisionPolicy policy;
};
const std::vector<PrecisionPreset>& precision_presets();

// The presets "auto" tries, in order (bf16 > int8 > nf4-mixed > nf4).
const std::vector<std::string_view>& auto_preset_order();

// A parsed --precision: either "auto" or a concrete policy.
struct PrecisionChoice {
  bool automatic = false;
  PrecisionPolicy policy;  // meaningful only when !automatic
  friend bool operator==(const PrecisionChoice&, const PrecisionChoice&) = default;
};

// Errors name the culprit (the item, key or value) and list the valid presets,
// keys or formats. Input is case-insensitive; spaces around items are ignored.
Result<PrecisionChoice> parse_precision(std::string_view text);

// The canonical form: a preset's name when the policy equals one exactly,
// else every key in kPolicyKeys order ("vision=bf16,attention=int8,...").
// parse_precision(precision_string(p)) gives p back.
std::string precision_string(const PrecisionPolicy& policy);
std::string precision_string(const PrecisionChoice& choice);

// "bf16, fp16, int8, nf4, nf4-mixed, auto" and "vision, attention, ..., norms",
// for help texts and error messages.
std::string valid_presets_text();
std::string valid_keys_text();

}  // namespace ql::quant
