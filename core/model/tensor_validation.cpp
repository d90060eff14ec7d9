#include "core/model/tensor_validation.h"

#include <unordered_set>

#include <fmt/format.h>

#include "core/model/json_fields.h"

namespace ql::model {

std::string_view orientation_name(ExpertOrientation o) {
  return o == ExpertOrientation::kInOut ? "in_out" : "out_in";
}

namespace {

std::vector<int64_t> swap_last_two(std::vector<int64_t> s) {
  std::swap(s[1], s[2]);
  return s;
}

// Published and transformers-5 spellings of the two fused shapes, for messages.
struct ExpertShapeNames {
  const char* in_out;
  const char* out_in;
};
ExpertShapeNames expert_shape_names(TensorKind k) {
  if (k == TensorKind::kExpertGateUp) return {"[E, H, 2I]", "[E, 2I, H]"};
  return {"[E, I, H]", "[E, H, I]"};
}

void check_expert_shape(const TensorSpec& spec, const TensorView& t, ValidationReport& r) {
  const auto published = spec.shape;
  const auto linear = swap_last_two(spec.shape);
  const std::vector<int64_t> actual(t.shape.begin(), t.shape.end());
  const auto names = expert_shape_names(spec.kind);
  if (published == linear) {
    // A square [in, out] fits both layouts; guessing wrong silently mis-splits gate/up.
    ++r.ambiguous;
    const char* why = spec.kind == TensorKind::kExpertGateUp ? "hidden_size == 2 * moe_intermediate_size"
                                                             : "hidden_size == moe_intermediate_size";
    r.problems.push_back(fmt::format(
        "{}: expert orientation cannot be decided: {} ({}) makes {} and {} the same shape {}; "
        "refusing rather than guessing",
        spec.name, why, published[1], names.in_out, names.out_in, format_shape(published)));
    return;
  }
  if (actual == published) {
    r.expert_orientation[spec.name] = ExpertOrientation::kInOut;
  } else if (actual == linear) {
    r.expert_orientation[spec.name] = ExpertOrientation::kOutIn;
  } else {
    ++r.misshaped;
    r.problems.push_back(fmt::format("{}: shape {}, expected {} ({}) or {} ({})", spec.name,
                                     format_shape(t.shape), format_shape(published), names.in_out,
                                     format_shape(linear), names.out_in));
  }
}

}  // namespace

std::string ValidationReport::summary() const {
  if (ok()) return fmt::format("{}: all {} tensors match config.json", dir, checked);
  std::vector<std::string> parts;  // only the kinds that occurred
  const std::pair<size_t, const char*> kinds[] = {
      {unreadable, "unreadable file"}, {missing, "missing"},          {unexpected, "unexpected"},
      {misshaped, "mis-shaped"},       {wrong_dtype, "wrong dtype"},  {ambiguous, "ambiguous expert orientation"},
      {invalid, "invalid quant state"}, {non_finite, "with NaN or infinity"}};
  for (auto [n, what] : kinds)
    if (n) parts.push_back(fmt::format("{} {}", n, what));
  return fmt::format("{}: {} problem{}: {}", dir, problems.size(), problems.size() == 1 ? "" : "s",
                     fmt::join(parts, ", "));
}

ValidationReport validate_checkpoint(const Checkpoint& checkpoint, const std::vector<TensorSpec>& schema,
                                     std::optional<DType> expected_dtype,
                                     const std::vector<std::string>& checked_elsewhere) {
  ValidationReport r;
  r.dir = checkpoint.dir();
  std::unordered_set<std::string_view> expected_names(checked_elsewhere.begin(), checked_elsewhere.end());
  for (const TensorSpec& spec : schema) {
    expected_names.insert(spec.name);
    const auto t = checkpoint.find(spec.name);
    if (!t) {
      if (!spec.optional) {
        ++r.missing;
        r.problems.push_back(fmt::format("{}: missing (expected shape {})", spec.name, format_shape(spec.shape)));
      }
      continue;
    }
    ++r.checked;
    if (spec.kind != TensorKind::kPlain) {
      check_expert_shape(spec, *t, r);
    } else if (!std::equal(t->shape.begin(), t->shape.end(), spec.shape.begin(), spec.shape.end())) {
      ++r.misshaped;
      r.problems.push_back(
          fmt::format("{}: shape {}, expected {}", spec.name, format_shape(t->shape), format_shape(spec.shape)));
    }
    if (expected_dtype && t->dtype != *expected_dtype) {
      ++r.wrong_dtype;
      r.problems.push_back(fmt::format("{}: dtype {}, expected {} (the dtype config.json declares)", spec.name,
                                       dtype_name(t->dtype), dtype_name(*expected_dtype)));
    }
  }
  for (const TensorView& t : checkpoint.tensors()) {
    if (expected_names.count(t.name)) continue;
    ++r.unexpected;
    r.problems.push_back(fmt::format("{}: unexpected tensor (shape {}): not part of the architecture config.json "
                                     "describes",
                                     quote(t.name), format_shape(t.shape)));
  }
  return r;
}

}  // namespace ql::model
