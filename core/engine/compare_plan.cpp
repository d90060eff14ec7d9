#include "core/engine/compare_plan.h"

#include <algorithm>

#include "core/quant/precision_policy.h"

namespace ql::engine {
namespace {

bool all_16_bit(const quant::PrecisionPolicy& p) {
  return std::all_of(p.formats.begin(), p.formats.end(), [](quant::QuantFormat f) {
    return f == quant::QuantFormat::kBF16 || f == quant::QuantFormat::kF16;
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t at = text.find(sep);
    out.push_back(trim(text.substr(0, at)));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

}  // namespace

std::vector<std::string> split_precision_list(std::string_view text) {
  std::vector<std::string> entries;
  if (text.find(';') != std::string_view::npos) {
    for (std::string_view e : split(text, ';')) entries.emplace_back(e);
    return entries;
  }
  for (std::string_view item : split(text, ',')) {
    // "nf4,lm_head=bf16" and "experts=nf4,attention=int8": one policy each.
    if (item.find('=') != std::string_view::npos && !entries.empty()) {
      entries.back() += ",";
      entries.back() += item;
    } else {
      entries.emplace_back(item);
    }
  }
  return entries;
}

Result<std::vector<ComparePrecision>> plan_compare_precisions(std::span<const std::string> precisions) {
  if (precisions.empty()) return err("no precisions to compare (expected a list such as bf16,int8,nf4)");
  std::vector<ComparePrecision> listed;
  int reference = -1;
  for (const std::string& text : precisions) {
    auto choice = quant::parse_precision(text);
    if (!choice) return choice.error();
    if (choice->automatic) {
      return err("precision \"{}\": auto depends on the memory budget, name a fixed one; valid presets: {}", text,
                 quant::valid_presets_text());
    }
    if (reference < 0 && all_16_bit(choice->policy)) reference = static_cast<int>(listed.size());
    listed.push_back({quant::precision_string(choice->policy), false, false});
  }
  std::vector<ComparePrecision> plan;
  if (reference < 0) {
    plan.push_back({"bf16", true, true});
  } else {
    plan.push_back(listed[static_cast<size_t>(reference)]);
    plan.back().reference = true;
    listed.erase(listed.begin() + reference);
  }
  plan.insert(plan.end(), listed.begin(), listed.end());
  return plan;
}

}  // namespace ql::engine
