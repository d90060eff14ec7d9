#include "core/common/result.h"
#include "core/model/model_inspection.h"

#include "core/model/bnb_validation.h"
#include "core/model/checkpoint.h"
#include "core/model/tensor_finiteness.h"

namespace ql::model {

Result<ModelInspection> inspect_model_folder(const std::string& dir, bool scan_values) {
  ModelInspection m;
  m.dir = dir;
  m.validation.dir = dir;
  QL_ASSIGN_OR_RETURN(m.config, load_model_config(dir));
  m.schema = build_tensor_schema(m.config);
  m.parameters = count_parameters(m.schema);

  auto gen = load_generation_config(dir);
  if (gen.ok()) {
    m.generation = std::move(gen).value();
  } else {
    m.validation.problems.push_back(gen.message());
    ++m.validation.unreadable;
  }

  if (!Checkpoint::has_weights(dir)) {
    m.weights = WeightsState::kNone;
  } else if (auto ckpt = Checkpoint::open(dir); !ckpt.ok()) {
    m.weights = WeightsState::kInvalid;
    m.internal_failure = ckpt.error().kind == ErrorKind::kInternal;
    m.validation.problems.push_back(ckpt.message());
    ++m.validation.unreadable;
  } else {
    const ValidationReport earlier = std::move(m.validation);  // generation_config.json problems
    m.validation = validate_model_checkpoint(*ckpt, m.config);
    m.weights = m.validation.ok() ? WeightsState::kValid : WeightsState::kInvalid;
    m.validation.problems.insert(m.validation.problems.begin(), earlier.problems.begin(), earlier.problems.end());
    m.validation.unreadable += earlier.unreadable;
    if (scan_values) {
      for (std::string& p : non_finite_tensors(*ckpt)) {
        m.validation.problems.push_back(std::move(p));
        ++m.validation.non_finite;
      }
      m.values_scanned = true;
      m.weights = m.validation.ok() ? WeightsState::kValid : WeightsState::kInvalid;
    }
    // A bitsandbytes checkpoint stores packed codes and their companions, whose
    // element counts are not parameters: its counts come from config.json.
    if (!m.config.quantization) {
      m.parameters = count_parameters(*ckpt, m.schema);
      m.counts_from_checkpoint = true;
    }
    m.contents = describe_contents(*ckpt);
  }
  m.text_parameters_per_token = text_parameters_per_token(m.config.text, m.parameters);
  return m;
}

}  // namespace ql::model
