#include "core/backend/cpu_weight.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "core/backend/cpu_check.h"
#include "core/backend/quantized_format.h"
#include "core/model/synthetic_values.h"
#include "core/quant/quantized_weight.h"

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

CpuWeight::CpuWeight(std::vector<std::shared_ptr<const CpuWeight>> members, std::string name)
    : Weight(members.at(0)->format(), members[0]->rows(), members[0]->cols(), static_cast<int64_t>(members.size())),
      name_(std::move(name)),
      members_(std::move(members)) {}

size_t CpuWeight::owned_bytes() const {
  size_t total = storage_.owned_bytes;
  for (const auto& m : members_) total += m->owned_bytes();
  return total;
}

size_t CpuWeight::stored_bytes() const {
  size_t total = storage_.stored_bytes;
  for (const auto& m : members_) total += m->stored_bytes();
  return total;
}

std::shared_ptr<CpuWeight> CpuWeight::rows_view(int64_t first, int64_t rows) const {
  QL_CPU_REQUIRE(members_.empty(), "weight_rows: {} is a stack of {} matrices", name_, stack());
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

quant::SourceDType source_dtype_of(WeightFormat f) {
  switch (f) {
    case WeightFormat::kBF16: return quant::SourceDType::kBF16;
    case WeightFormat::kF16: return quant::SourceDType::kF16;
    default: return quant::SourceDType::kF32;
  }
}

std::optional<quant::QuantFormat> quant_format_of(WeightFormat f) {
  switch (f) {
    case WeightFormat::kBF16: return quant::QuantFormat::kBF16;
    case WeightFormat::kF16: return quant::QuantFormat::kF16;
    case WeightFormat::kInt8Rowwise: return quant::QuantFormat::kInt8Rowwise;
    case WeightFormat::kNF4: return quant::QuantFormat::kNf4;
    case WeightFormat::kF32: return std::nullopt;
  }
  return std::nullopt;
}

// A dense matrix whose bytes are already in the target format.
Result<std::shared_ptr<CpuWeight>> dense_as_stored(WeightFormat format, const std::byte* src, bool transposed,
                                                   int64_t rows, int64_t cols, bool may_borrow, const std::string& name,
                                                   const ByteCounter& counter) {
  const size_t esize = element_bytes(format);
  const size_t bytes = static_cast<size_t>(rows * cols) * esize;
  CpuWeightStorage storage;
  storage.stored_bytes = bytes;
  const bool aligned = reinterpret_cast<uintptr_t>(src) % esize == 0;
  if (!transposed && aligned && may_borrow) {
    storage.data = src;
    return std::make_shared<CpuWeight>(format, rows, cols, std::move(storage), name);
  }
  auto buffer = AlignedBuffer::allocate(bytes, counter);
  if (!buffer) return internal_err("{}: out of memory copying {} bytes", name, bytes);
  if (transposed)
    transpose_copy(src, rows, cols, esize, buffer->data());
  else
    std::memcpy(buffer->data(), src, bytes);
  storage.data = buffer->data();
  storage.owned_bytes = bytes;
  storage.owner = std::move(buffer);
  return std::make_shared<CpuWeight>(format, rows, cols, std::move(storage), name);
}

// fp32 of any dense source, [rows, cols] order (a target the quantizers do not make).
Result<std::shared_ptr<CpuWeight>> dense_to_f32(const quant::SourceTensor& src, const std::string& name,
                                                const ByteCounter& counter) {
  QL_TRY(quant::validate_source(src));
  const size_t bytes = static_cast<size_t>(src.numel()) * 4;
  auto buffer = AlignedBuffer::allocate(bytes, counter);
  if (!buffer) return internal_err("{}: out of memory converting {} bytes", name, bytes);
  src.read_f32(0, src.numel(), reinterpret_cast<float*>(buffer->data()));
  CpuWeightStorage storage;
  storage.stored_bytes = storage.owned_bytes = bytes;
  storage.data = buffer->data();
  storage.owner = std::move(buffer);
  return std::make_shared<CpuWeight>(WeightFormat::kF32, src.rows, src.cols, std::move(storage), name);
}

void add_losses(quant::Dense16Report* total, const quant::Dense16Report& r) {
  if (!total) return;
  total->overflowed_to_inf += r.overflowed_to_inf;
  total->flushed_to_zero += r.flushed_to_zero;
  total->became_subnormal += r.became_subnormal;
}

// One matrix of a HostWeight from its source bytes.
Result<std::shared_ptr<CpuWeight>> upload_matrix(const HostWeight& w, const std::byte* src, bool may_borrow,
                                                 const std::string& name, const ByteCounter& counter, int threads,
                                                 quant::Dense16Report* fp16_losses) {
  if (w.target == w.source) return dense_as_stored(w.target, src, w.transposed, w.rows, w.cols, may_borrow, name, counter);
  const quant::SourceTensor st{name, source_dtype_of(w.source), src, w.rows, w.cols, w.transposed};
  const auto format = quant_format_of(w.target);
  if (!format) return dense_to_f32(st, name, counter);
  quant::Dense16Report losses;
  auto converted = quant::quantize(st, *format, threads, &losses);
  if (!converted) return converted.error();
  if (w.target == WeightFormat::kF16) add_losses(fp16_losses, losses);
  return upload_quantized_cpu_weight(std::move(converted).value(), w.target, name, counter);
}

std::string matrix_name(const HostWeight& w, const std::string& name, int64_t m) {
  return w.stack > 1 ? fmt::format("{}[{}]", name, m) : name;
}

}  // namespace

Result<std::shared_ptr<CpuWeight>> upload_cpu_weight(const HostWeight& w, const ByteCounter& counter, int threads,
                                                     quant::Dense16Report* fp16_losses) {
  const std::string name = w.name.empty() ? std::string("(unnamed weight)") : w.name;
  if (w.rows <= 0 || w.cols <= 0 || w.stack <= 0)
    return err("{}: shape [{}, {}] x {} must be positive", name, w.rows, w.cols, w.stack);
  if (w.rows > std::numeric_limits<int64_t>::max() / w.cols / w.stack ||
      static_cast<uint64_t>(w.rows * w.cols * w.stack) > std::numeric_limits<size_t>::max() / 8)
    return err("{}: shape [{}, {}] x {} is too large", name, w.rows, w.cols, w.stack);

  std::vector<std::shared_ptr<const CpuWeight>> members;
  if (!w.quantized.empty()) {
    if (w.data != nullptr || w.synthetic) return err("{}: give either source data or quantized weights, not both", name);
    if (w.transposed) return err("{}: a quantized weight is already [rows, cols]; transposed must be false", name);
    if (static_cast<int64_t>(w.quantized.size()) != w.stack)
      return err("{}: {} quantized matrices for a stack of {}", name, w.quantized.size(), w.stack);
    for (int64_t m = 0; m < w.stack; ++m) {
      const auto& q = w.quantized[static_cast<size_t>(m)];
      if (!q) return err("{}: quantized matrix {} is missing", name, m);
      if (q->rows() != w.rows || q->cols() != w.cols)
        return err("{}: shape [{}, {}] does not match its quantized weight [{}, {}]", matrix_name(w, name, m), w.rows,
                   w.cols, q->rows(), q->cols());
      QL_ASSIGN_OR_RETURN(auto one, upload_quantized_cpu_weight(q, w.target, matrix_name(w, name, m), counter));
      members.push_back(std::move(one));
    }
  } else {
    if (!is_dense(w.source)) return err("{}: source format {} is not a dense float format", name, weight_format_name(w.source));
    if (w.data == nullptr && !w.synthetic) return err("{}: no data", name);
    const size_t esize = element_bytes(w.source);
    const size_t matrix_bytes = static_cast<size_t>(w.rows * w.cols) * esize;
    std::vector<uint16_t> generated;
    if (w.synthetic && w.source != WeightFormat::kBF16) return err("{}: synthetic weights are bf16", name);
    for (int64_t m = 0; m < w.stack; ++m) {
      const std::byte* src = nullptr;
      if (w.synthetic) {
        // Generated per matrix into a buffer the weight does not borrow.
        generated.resize(static_cast<size_t>(w.rows * w.cols));
        const uint64_t first = w.synthetic->first_index + static_cast<uint64_t>(m * w.rows * w.cols);
        for (size_t i = 0; i < generated.size(); ++i)
          generated[i] = model::synthetic_bf16(w.synthetic->seed, first + i, w.synthetic->offset, w.synthetic->scale);
        src = reinterpret_cast<const std::byte*>(generated.data());
      } else {
        src = static_cast<const std::byte*>(w.data) + static_cast<size_t>(m) * matrix_bytes;
      }
      QL_ASSIGN_OR_RETURN(auto one, upload_matrix(w, src, !w.synthetic, matrix_name(w, name, m), counter, threads,
                                                  fp16_losses));
      members.push_back(std::move(one));
    }
  }
  if (w.stack == 1) return std::const_pointer_cast<CpuWeight>(members[0]);
  return std::make_shared<CpuWeight>(std::move(members), name);
}

const CpuWeight& weight_arg(const Weight& w, const char* op, const char* arg) {
  const auto* c = dynamic_cast<const CpuWeight*>(&w);
  QL_CPU_REQUIRE(c != nullptr, "{}: {} is not a CPU weight", op, arg);
  return *c;
}

}  // namespace ql::backend::cpu
