#include "core/io/dense16_tensor_writer.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <mutex>

#include "core/common/float16.h"
#include "core/quant/parallel_for.h"

namespace ql::io {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian, written as in memory");

constexpr size_t kCopyPieceBytes = size_t{64} << 20;  // straight copies: large pieces, few cancel polls
constexpr int64_t kPieceElements = int64_t{4} << 20;  // converted or gathered: an 8 MiB buffer

uint16_t load_u16(const uint8_t* base, int64_t i) {
  uint16_t v;
  std::memcpy(&v, base + static_cast<size_t>(i) * 2, 2);  // mmapped tensors may be unaligned
  return v;
}

bool is_float(model::DType d) { return d == model::DType::kBF16 || d == model::DType::kF16 || d == model::DType::kF32; }

// Only for float tensors (checked by the callers).
float load_f32(const model::TensorView& t, int64_t i) {
  if (t.dtype == model::DType::kBF16) return bf16_to_f32(load_u16(t.data, i));
  if (t.dtype == model::DType::kF16) return f16_to_f32(load_u16(t.data, i));
  float v;
  std::memcpy(&v, t.data + static_cast<size_t>(i) * 4, 4);
  return v;
}

// Maps an index of the written tensor to the stored element it comes from.
struct IndexMap {
  bool transpose = false;
  int64_t rows_out = 0, cols_out = 0;  // per expert, as written: [in, out]
  int64_t operator()(int64_t k) const {
    if (!transpose) return k;
    const int64_t per = rows_out * cols_out;
    const int64_t e = k / per, r = k % per;
    const int64_t i = r / cols_out, o = r % cols_out;
    return e * per + o * rows_out + i;  // stored [E, out, in]
  }
};

bool same_type(model::DType d, Dense16Out t) {
  return (d == model::DType::kBF16 && t == Dense16Out::kBF16) || (d == model::DType::kF16 && t == Dense16Out::kF16);
}

// Counts for the stats of one band of a conversion.
struct Band {
  double sse = 0, ss = 0;
  int64_t flushed = 0, subnormal = 0, overflowed = 0;
};

}  // namespace

const char* dense16_safetensors_dtype(Dense16Out type) { return type == Dense16Out::kBF16 ? "BF16" : "F16"; }
const char* dense16_torch_dtype(Dense16Out type) { return type == Dense16Out::kBF16 ? "bfloat16" : "float16"; }

double Dense16Stats::rel_rmse() const {
  if (!converted) return -1;
  if (sum_sq_source == 0) return sum_sq_error == 0 ? 0 : std::sqrt(sum_sq_error);
  return std::sqrt(sum_sq_error / sum_sq_source);
}

std::vector<int64_t> dense16_output_shape(const model::TensorView& src, bool stored_out_in) {
  std::vector<int64_t> shape(src.shape.begin(), src.shape.end());
  if (stored_out_in && shape.size() == 3) std::swap(shape[1], shape[2]);
  return shape;
}

Status check_fp16_range(const model::TensorView& src) {
  if (!is_float(src.dtype))
    return err("{}: dtype {} is not a float type; it cannot be written as fp16", src.name,
               model::dtype_name(src.dtype));
  const int64_t n = src.numel();
  int64_t count = 0, first = -1;
  for (int64_t i = 0; i < n; ++i) {
    bool over = false;
    if (src.dtype == model::DType::kBF16) {
      const uint16_t a = load_u16(src.data, i) & 0x7fffu;
      over = a >= 0x4780u && a < 0x7f80u;  // 65536 <= |v| < inf (bf16 has nothing in (65280, 65536))
    } else if (src.dtype == model::DType::kF32) {
      uint32_t bits;
      std::memcpy(&bits, src.data + static_cast<size_t>(i) * 4, 4);
      const uint32_t a = bits & 0x7fffffffu;
      over = a >= 0x477ff000u && a < 0x7f800000u;  // 65520 <= |v| < inf rounds to fp16 infinity
    }
    if (over && count++ == 0) first = i;
  }
  if (count == 0) return {};
  return err(
      "{}: {} value{} beyond float16's range (largest 65504), the first {} at element {}; this model "
      "cannot be written as fp16: export bf16 instead",
      src.name, count, count == 1 ? "" : "s", load_f32(src, first), first);
}

Status write_dense16_tensor(const model::TensorView& src, bool stored_out_in, Dense16Out type, AtomicFile& out,
                            ExportContext* context, int threads, Dense16Stats* stats) {
  if (!is_float(src.dtype))
    return err("{}: dtype {} is not a float type; it cannot be written as {}", src.name, model::dtype_name(src.dtype),
               dense16_safetensors_dtype(type));
  const int64_t n = src.numel();
  const bool transpose = stored_out_in && src.shape.size() == 3;
  IndexMap map{transpose, transpose ? src.shape[2] : 0, transpose ? src.shape[1] : 0};
  Dense16Stats local;
  Dense16Stats& s = stats ? *stats : local;
  s = {};

  if (same_type(src.dtype, type) && !transpose) {  // the stored bytes are the output
    for (size_t done = 0; done < src.nbytes;) {
      if (context && context->cancelled()) return context->stop_error();
      const size_t piece = std::min(kCopyPieceBytes, src.nbytes - done);
      QL_TRY(out.write(src.data + done, piece));
      done += piece;
      if (context) context->add_bytes(piece);
    }
    return {};
  }

  const bool convert = !same_type(src.dtype, type);
  s.converted = convert;
  std::vector<uint16_t> buf(static_cast<size_t>(std::min(n, kPieceElements)));
  std::mutex stats_mutex;
  int64_t overflowed = 0;
  for (int64_t first = 0; first < n; first += kPieceElements) {
    if (context && context->cancelled()) return context->stop_error();
    const int64_t count = std::min(kPieceElements, n - first);
    quant::parallel_for(count, threads, 8.0, [&](int64_t begin, int64_t end) {
      Band b;
      for (int64_t k = begin; k < end; ++k) {
        const int64_t from = map(first + k);
        if (!convert) {
          buf[k] = load_u16(src.data, from);  // same type, new place: bits moved as they are
          continue;
        }
        const float x = load_f32(src, from);
        const uint16_t h = type == Dense16Out::kBF16 ? f32_to_bf16(x) : f32_to_f16(x);
        buf[k] = h;
        if (!std::isfinite(x)) continue;  // nothing to measure; carried as is
        const float y = type == Dense16Out::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
        const double d = static_cast<double>(y) - static_cast<double>(x);
        b.sse += d * d;
        b.ss += static_cast<double>(x) * x;
        if ((h & 0x7fffu) == (type == Dense16Out::kBF16 ? 0x7f80u : 0x7c00u)) ++b.overflowed;
        if (x != 0) {
          const uint16_t exp_mask = type == Dense16Out::kBF16 ? 0x7f80u : 0x7c00u;
          b.flushed += (h & 0x7fffu) == 0;
          b.subnormal += (h & exp_mask) == 0 && (h & 0x7fffu) != 0;
        }
      }
      std::lock_guard lock(stats_mutex);
      s.sum_sq_error += b.sse;
      s.sum_sq_source += b.ss;
      s.flushed_to_zero += b.flushed;
      s.became_subnormal += b.subnormal;
      overflowed += b.overflowed;
    });
    // Callers check the range first (check_fp16_range); this is the guard
    // that an infinity never reaches a file in place of a finite weight.
    if (overflowed > 0)
      return err("{}: {} finite values became infinite in {}; check the range before exporting", src.name, overflowed,
                 dense16_safetensors_dtype(type));
    QL_TRY(out.write(buf.data(), static_cast<size_t>(count) * 2));
    if (context) context->add_bytes(static_cast<uint64_t>(count) * 2);
  }
  return {};
}

}  // namespace ql::io
