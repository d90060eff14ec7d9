#include "core/backend/cpu_weight.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/backend/cpu_check.h"

namespace ql::backend::cpu {

size_t element_bytes(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return 4;
    case WeightFormat::kBF16:
    case WeightFormat::kF16: return 2;
    case WeightFormat::kInt8Rowwise:
    case WeightFormat::kNF4: return 0;
  }
  return 0;
}

bool is_dense(WeightFormat f) { return element_bytes(f) > 0; }

CpuWeight::CpuWeight(WeightFormat format, int64_t rows, int64_t cols, CpuWeightStorage storage, std::string name)
    : Weight(format, rows, cols), storage_(std::move(storage)), name_(std::move(name)) {}

std::shared_ptr<CpuWeight> CpuWeight::rows_view(int64_t first, int64_t rows) const {
  QL_CPU_REQUIRE(first >= 0 && rows > 0 && first + rows <= this->rows(), "weight_rows: rows [{}, {}) outside {} {}",
                 first, first + rows, name_, shape_of(*this));
  CpuWeightStorage view = storage_;
  if (is_dense(format()))
    view.data = row_data(first);
  else
    view.first_row += first;
  view.owned_bytes = 0;
  view.stored_bytes = 0;
  return std::make_shared<CpuWeight>(format(), rows, cols(), std::move(view),
                                     fmt::format("{}[{}:{}]", name_, first, first + rows));
}

namespace {

// Stored [cols, rows] -> [rows, cols], in tiles so that both sides stay in
// cache. memcpy per element: the source may be unaligned.
void transpose_copy(const std::byte* src, int64_t rows, int64_t cols, size_t esize, std::byte* dst) {
  constexpr int64_t kTile = 64;
  for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
    const int64_t c1 = std::min(cols, c0 + kTile);
    for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r)
          std::memcpy(dst + (r * cols + c) * esize, src + (c * rows + r) * esize, esize);
    }
  }
}

}  // namespace

Result<std::shared_ptr<CpuWeight>> upload_cpu_weight(const HostWeight& w, const ByteCounter& counter) {
  const std::string& name = w.name.empty() ? std::string("(unnamed weight)") : w.name;
  if (w.quantized) return upload_quantized_cpu_weight(w, name, counter);
  if (w.data == nullptr) return err("{}: no data", name);
  if (w.rows <= 0 || w.cols <= 0) return err("{}: shape [{}, {}] must be positive", name, w.rows, w.cols);
  const size_t esize = element_bytes(w.format);
  if (esize == 0)
    return err("{}: {} weights are uploaded quantized (HostWeight::quantized), not as raw bytes", name,
               weight_format_name(w.format));
  if (w.rows > std::numeric_limits<int64_t>::max() / w.cols ||
      static_cast<uint64_t>(w.rows * w.cols) > std::numeric_limits<size_t>::max() / esize)
    return err("{}: shape [{}, {}] is too large", name, w.rows, w.cols);
  const size_t bytes = static_cast<size_t>(w.rows * w.cols) * esize;
  const auto* src = static_cast<const std::byte*>(w.data);

  CpuWeightStorage storage;
  storage.stored_bytes = bytes;
  const bool aligned = reinterpret_cast<uintptr_t>(src) % esize == 0;
  if (!w.transposed && aligned) {
    storage.data = src;
    return std::make_shared<CpuWeight>(w.format, w.rows, w.cols, std::move(storage), name);
  }

  auto buffer = AlignedBuffer::allocate(bytes, counter);
  if (!buffer) return internal_err("{}: out of memory copying {} bytes", name, bytes);
  if (w.transposed)
    transpose_copy(src, w.rows, w.cols, esize, buffer->data());
  else
    std::memcpy(buffer->data(), src, bytes);
  storage.data = buffer->data();
  storage.owned_bytes = bytes;
  storage.owner = std::move(buffer);
  return std::make_shared<CpuWeight>(w.format, w.rows, w.cols, std::move(storage), name);
}

const CpuWeight& weight_arg(const Weight& w, const char* op, const char* arg) {
  const auto* c = dynamic_cast<const CpuWeight*>(&w);
  QL_CPU_REQUIRE(c != nullptr, "{}: {} is not a CPU weight", op, arg);
  return *c;
}

}  // namespace ql::backend::cpu
