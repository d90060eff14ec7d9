// Weights already quantized on the host (HostWeight::quantized, or converted by upload_cpu_weight).
// The backend shares the core/quant weight rather than copying it, so loading
// holds each weight once, and counts its bytes in bytes_in_use(). A 16-bit
// conversion (Dense16Weight) is contiguous rows and is read as a dense weight.
#include <memory>
#include <new>

#include "core/backend/cpu_weight.h"
#include "core/backend/quantized_format.h"

namespace ql::backend::cpu {
namespace {

// The shared weight and its place in the byte count, freed together.
struct QuantizedOwner {
  QuantizedOwner(std::shared_ptr<const quant::QuantizedWeight> w, const ByteCounter& counter)
      : weight(std::move(w)), counted(weight->stored_bytes(), counter) {}
  std::shared_ptr<const quant::QuantizedWeight> weight;
  CountedBytes counted;
};

}  // namespace

Result<std::shared_ptr<CpuWeight>> upload_quantized_cpu_weight(std::shared_ptr<const quant::QuantizedWeight> w,
                                                               WeightFormat target, const std::string& name,
                                                               const ByteCounter& counter) {
  const quant::QuantizedWeight& q = *w;
  const WeightFormat stored = weight_format_for(q.format());
  if (target != stored)
    return err("{}: format {} does not match its quantized weight ({})", name, weight_format_name(target),
               weight_format_name(stored));
  if (q.rows() <= 0 || q.cols() <= 0) return err("{}: shape [{}, {}] must be positive", name, q.rows(), q.cols());

  std::shared_ptr<QuantizedOwner> owner;
  try {
    owner = std::make_shared<QuantizedOwner>(w, counter);
  } catch (const std::bad_alloc&) {
    return internal_err("{}: out of memory", name);
  }
  CpuWeightStorage storage;
  storage.owned_bytes = storage.stored_bytes = q.stored_bytes();
  if (const auto* dense = quant::stored_as<quant::Dense16Weight>(q)) {
    storage.data = reinterpret_cast<const std::byte*>(dense->bits.data());
  } else {
    storage.quantized = w;
  }
  storage.owner = std::move(owner);
  return std::make_shared<CpuWeight>(stored, q.rows(), q.cols(), std::move(storage), name);
}

}  // namespace ql::backend::cpu
