#include "core/model/bnb_modules.h"

namespace ql::model {
namespace {

constexpr std::string_view kWeightSuffix = ".weight";

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

std::string linear_module_of(const TensorSpec& spec) {
  if (spec.kind != TensorKind::kPlain || spec.shape.size() != 2 || !ends_with(spec.name, kWeightSuffix)) return {};
  // The 2-D ".weight" tensors of the schema that are not nn.Linear: the two
  // embedding tables and the router (Qwen3VLMoeTextTopKRouter's Parameter).
  if (spec.component == Component::kEmbeddings || spec.component == Component::kRouter) return {};
  if (spec.name == "model.visual.pos_embed.weight") return {};
  return spec.name.substr(0, spec.name.size() - kWeightSuffix.size());
}

bool bnb_skip_matches(std::string_view module, const std::vector<std::string>& skip_modules) {
  for (const std::string& k : skip_modules) {
    if (k.empty()) continue;  // an empty pattern would match everything; transformers never writes one
    if (module.substr(0, k.size()) == k || ends_with(module, k)) return true;
  }
  return false;
}

std::vector<BnbModule> bnb_quantized_modules(const std::vector<TensorSpec>& schema,
                                             const std::vector<std::string>& skip_modules) {
  std::vector<BnbModule> out;
  for (const TensorSpec& spec : schema) {
    std::string module = linear_module_of(spec);
    if (module.empty() || bnb_skip_matches(module, skip_modules)) continue;
    out.push_back(BnbModule{std::move(module), &spec, spec.shape[0], spec.shape[1]});
  }
  return out;
}

}  // namespace ql::model
