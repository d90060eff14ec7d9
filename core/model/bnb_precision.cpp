#include "core/model/bnb_precision.h"

#include <algorithm>
#include <array>
#include <vector>

#include <fmt/format.h>

#include "core/model/bnb_modules.h"
#include "core/quant/tensor_precision.h"

namespace ql::model {

std::string bnb_precision_text(const std::string& requested_name,
                               const std::optional<quant::PrecisionPolicy>& requested, const ModelConfig& config) {
  if (!config.quantization) return requested_name;
  const BnbQuantization& q = *config.quantization;
  const std::vector<TensorSpec> schema = build_tensor_schema(config);
  const std::vector<BnbModule> modules = bnb_quantized_modules(schema, q.skip_modules);

  // Per policy key: matrices it governs, and how many of them are stored quantized.
  std::array<size_t, quant::kPolicyKeyCount> governed{}, stored{};
  for (const TensorSpec& spec : schema)
    if (quant::is_quantizable_matrix(spec)) ++governed[static_cast<size_t>(quant::policy_key_for(spec.component))];
  std::vector<std::string> components;  // of the quantized modules, in schema order
  for (const BnbModule& m : modules) {
    ++stored[static_cast<size_t>(quant::policy_key_for(m.weight->component))];
    const std::string c(component_name(m.weight->component));
    if (std::find(components.begin(), components.end(), c) == components.end()) components.push_back(c);
  }

  std::string name = requested_name;
  if (requested) {
    // A key whose matrices are all pre-quantized reads as their stored format;
    // a key with some of them (a partial skip list, or the dense MLP under
    // "experts") keeps the requested format for the rest, and the note says so.
    quant::PrecisionPolicy effective = *requested;
    for (quant::PolicyKey k : quant::kPolicyKeys) {
      const size_t i = static_cast<size_t>(k);
      if (governed[i] > 0 && stored[i] == governed[i]) effective[k] = q.format;
    }
    name = quant::precision_string(effective);
  }
  const char* format = bnb_format_name(q);
  return fmt::format("{} (bitsandbytes {} checkpoint: {} pre-quantized matrices of {} keep their stored {})", name,
                     format, modules.size(), fmt::join(components, ", "), format);
}

}  // namespace ql::model
