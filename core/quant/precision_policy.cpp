#include "core/quant/precision_policy.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include <fmt/format.h>

namespace ql::quant {
namespace {

constexpr QuantFormat kAllFormats[] = {QuantFormat::kBF16, QuantFormat::kF16, QuantFormat::kInt8Rowwise,
                                       QuantFormat::kNf4};
constexpr std::string_view kAutoName = "auto";

PrecisionPolicy uniform(QuantFormat f) {
  PrecisionPolicy p;
  p.formats.fill(f);
  return p;
}

// Vision linears, attention and experts in `f`; embeddings, router and lm_head
// stay 16-bit, as bitsandbytes leaves non-Linear and skipped modules.
PrecisionPolicy bitsandbytes_style(QuantFormat f) {
  PrecisionPolicy p;
  p[PolicyKey::kVision] = f;
  p[PolicyKey::kAttention] = f;
  p[PolicyKey::kExperts] = f;
  return p;
}

// Experts (97% of the weights) at 4 bits; attention and lm_head at 8 bits,
// because every token reads them in full and they are small; router and
// vision in bf16, where errors change which experts run or what is seen.
PrecisionPolicy nf4_mixed() {
  PrecisionPolicy p;
  p[PolicyKey::kExperts] = QuantFormat::kNf4;
  p[PolicyKey::kAttention] = QuantFormat::kInt8Rowwise;
  p[PolicyKey::kLmHead] = QuantFormat::kInt8Rowwise;
  return p;
}

std::string lower_trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::vector<std::string> split_items(std::string_view text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    items.push_back(lower_trimmed(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start)));
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

std::optional<PolicyKey> key_from_name(std::string_view name) {
  for (PolicyKey k : kPolicyKeys)
    if (policy_key_name(k) == name) return k;
  return std::nullopt;
}

std::optional<QuantFormat> format_from_name(std::string_view name) {
  for (QuantFormat f : kAllFormats)
    if (policy_format_name(f) == name) return f;
  return std::nullopt;
}

const PrecisionPreset* preset_from_name(std::string_view name) {
  for (const auto& p : precision_presets())
    if (p.name == name) return &p;
  return nullptr;
}

std::string valid_formats_text() {
  std::vector<std::string_view> names;
  for (QuantFormat f : kAllFormats) names.push_back(policy_format_name(f));
  return fmt::format("{}", fmt::join(names, ", "));
}

bool is_16bit(QuantFormat f) { return f == QuantFormat::kBF16 || f == QuantFormat::kF16; }

// Applies one "key=format" item to `policy`; `seen` catches a key given twice.
Status apply_item(std::string_view text, const std::string& item, PrecisionPolicy& policy,
                  std::array<bool, kPolicyKeyCount>& seen) {
  const size_t eq = item.find('=');
  const std::string key_text = lower_trimmed(std::string_view(item).substr(0, eq));
  const std::string value_text = lower_trimmed(std::string_view(item).substr(eq + 1));
  const auto key = key_from_name(key_text);
  if (!key)
    return err("precision \"{}\": unknown key \"{}\"; valid keys: {}", text, key_text, valid_keys_text());
  const auto format = format_from_name(value_text);
  if (!format)
    return err("precision \"{}\": unknown format \"{}\" for {}; valid formats: {}", text, value_text, key_text,
               valid_formats_text());
  if (*key == PolicyKey::kNorms && !is_16bit(*format))
    return err("precision \"{}\": norms stay 16-bit, \"{}\" is not; valid formats for norms: bf16, fp16", text,
               value_text);
  bool& already = seen[static_cast<size_t>(*key)];
  if (already) return err("precision \"{}\": key {} is given twice", text, key_text);
  already = true;
  policy[*key] = *format;
  return {};
}

Error unknown_preset(std::string_view text, std::string_view item) {
  return err("precision \"{}\": unknown preset \"{}\"; valid presets: {}; or a list key=format with keys {} "
             "and formats {}",
             text, item, valid_presets_text(), valid_keys_text(), valid_formats_text());
}

}  // namespace

std::string_view policy_key_name(PolicyKey key) {
  switch (key) {
    case PolicyKey::kVision: return "vision";
    case PolicyKey::kAttention: return "attention";
    case PolicyKey::kRouter: return "router";
    case PolicyKey::kExperts: return "experts";
    case PolicyKey::kEmbeddings: return "embeddings";
    case PolicyKey::kLmHead: return "lm_head";
    case PolicyKey::kNorms: return "norms";
  }
  return "?";
}

std::string_view policy_format_name(QuantFormat f) {
  switch (f) {
    case QuantFormat::kBF16: return "bf16";
    case QuantFormat::kF16: return "fp16";
    case QuantFormat::kInt8Rowwise: return "int8";
    case QuantFormat::kNf4: return "nf4";
  }
  return "?";
}

const std::vector<PrecisionPreset>& precision_presets() {
  static const std::vector<PrecisionPreset> presets = {
      {"bf16", uniform(QuantFormat::kBF16)},
      {"fp16", uniform(QuantFormat::kF16)},
      {"int8", bitsandbytes_style(QuantFormat::kInt8Rowwise)},
      {"nf4-mixed", nf4_mixed()},
      {"nf4", bitsandbytes_style(QuantFormat::kNf4)},
  };
  return presets;
}

const std::vector<std::string_view>& auto_preset_order() {
  static const std::vector<std::string_view> order = {"bf16", "int8", "nf4-mixed", "nf4"};
  return order;
}

std::string valid_presets_text() {
  std::vector<std::string_view> names;
  for (const auto& p : precision_presets()) names.push_back(p.name);
  names.push_back(kAutoName);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string valid_keys_text() {
  std::vector<std::string_view> names;
  for (PolicyKey k : kPolicyKeys) names.push_back(policy_key_name(k));
  return fmt::format("{}", fmt::join(names, ", "));
}

Result<PrecisionChoice> parse_precision(std::string_view text) {
  const std::vector<std::string> items = split_items(text);
  PrecisionChoice choice;
  size_t first_override = 0;
  // A leading item without '=' names the preset the overrides start from.
  if (items.front().find('=') == std::string::npos) {
    const std::string& head = items.front();
    if (head.empty()) return unknown_preset(text, head);
    if (head == kAutoName) {
      if (items.size() > 1)
        return err("precision \"{}\": auto cannot be combined with keys; valid presets: {}", text,
                   valid_presets_text());
      choice.automatic = true;
      return choice;
    }
    const PrecisionPreset* preset = preset_from_name(head);
    if (!preset) return unknown_preset(text, head);
    choice.policy = preset->policy;
    first_override = 1;
  }
  std::array<bool, kPolicyKeyCount> seen{};
  for (size_t i = first_override; i < items.size(); ++i) {
    if (items[i].find('=') == std::string::npos)
      return err("precision \"{}\": \"{}\" is not key=format (a preset may only come first); valid keys: {}", text,
                 items[i], valid_keys_text());
    QL_TRY(apply_item(text, items[i], choice.policy, seen));
  }
  return choice;
}

std::string precision_string(const PrecisionPolicy& policy) {
  for (const auto& p : precision_presets())
    if (p.policy == policy) return std::string(p.name);
  std::vector<std::string> items;
  for (PolicyKey k : kPolicyKeys) items.push_back(fmt::format("{}={}", policy_key_name(k), policy_format_name(policy[k])));
  return fmt::format("{}", fmt::join(items, ","));
}

std::string precision_string(const PrecisionChoice& choice) {
  return choice.automatic ? std::string(kAutoName) : precision_string(choice.policy);
}

}  // namespace ql::quant
