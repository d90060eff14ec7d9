#include "core/io/gguf/tensor_source.h"

#include <algorithm>
#include <cmath>

#include "core/quant/parallel_for.h"
#include "core/quant/source_tensor.h"

namespace ql::io::gguf {
namespace {

quant::SourceDType source_dtype(model::DType t) {
  switch (t) {
    case model::DType::kBF16: return quant::SourceDType::kBF16;
    case model::DType::kF16: return quant::SourceDType::kF16;
    default: return quant::SourceDType::kF32;  // the maps admit float tensors only
  }
}

// Flat elements [first, first + count) of the source tensor, as stored.
void read_flat(const model::TensorView& v, int64_t first, int64_t count, float* out) {
  quant::SourceTensor s;
  s.name = v.name;
  s.dtype = source_dtype(v.dtype);
  s.data = v.data;
  s.rows = v.numel();
  s.cols = 1;
  s.read_f32(first, count, out);
}

bool is_expert(SourceLayout l) {
  return l == SourceLayout::kExpertGate || l == SourceLayout::kExpertUp || l == SourceLayout::kExpertDown;
}

// Rows [begin, end) of expert layouts; each expert is [rows_per_expert, ne0] in GGUF order.
void read_expert_rows(const MappedTensor& t, RowRange slice, float* out) {
  const auto& shape = t.source.view.shape;  // [E, a, b]
  const int64_t a = shape[1], b = shape[2];
  const int64_t per_expert_src = a * b;
  const int64_t ne0 = t.ne[0], ne1 = t.ne[1];
  const bool in_out = t.source.orientation == model::ExpertOrientation::kInOut;
  std::vector<float> block;
  for (int64_t e = slice.begin / ne1; e < slice.end / ne1; ++e) {
    float* dst = out + (e * ne1 - slice.begin) * ne0;
    const int64_t base = e * per_expert_src;
    if (t.source.layout == SourceLayout::kExpertDown) {
      if (!in_out) {  // [E, H, I] is already the GGUF order
        read_flat(t.source.view, base, per_expert_src, dst);
        continue;
      }
      // [I, H] -> [H, I]
      block.resize(static_cast<size_t>(per_expert_src));
      read_flat(t.source.view, base, per_expert_src, block.data());
      for (int64_t i = 0; i < a; ++i)
        for (int64_t h = 0; h < b; ++h) dst[h * a + i] = block[static_cast<size_t>(i * b + h)];
      continue;
    }
    const bool up = t.source.layout == SourceLayout::kExpertUp;
    if (!in_out) {  // [2I, H]: the half's rows are contiguous
      const int64_t half = a / 2;
      read_flat(t.source.view, base + (up ? half : 0) * b, half * b, dst);
      continue;
    }
    // [H, 2I]: out[i, h] = src[h, off + i]
    const int64_t half = b / 2, off = up ? half : 0;
    block.resize(static_cast<size_t>(per_expert_src));
    read_flat(t.source.view, base, per_expert_src, block.data());
    for (int64_t h = 0; h < a; ++h)
      for (int64_t i = 0; i < half; ++i) dst[i * a + h] = block[static_cast<size_t>(h * b + off + i)];
  }
}

// Rows of one temporal frame of [O, C, T, P, P]: row r = (o*C + c)*P + py.
void read_patch_rows(const MappedTensor& t, RowRange slice, float* out) {
  const auto& s = t.source.view.shape;
  const int64_t T = s[2], P = s[3], W = s[4];
  for (int64_t r = slice.begin; r < slice.end; ++r) {
    const int64_t py = r % P, oc = r / P;
    const int64_t src = ((oc * T + t.source.frame) * P + py) * W;
    read_flat(t.source.view, src, W, out + (r - slice.begin) * W);
  }
}

}  // namespace

int64_t tensor_rows(const std::vector<int64_t>& ne) {
  int64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  return rows;
}

std::vector<RowRange> plan_row_slices(const MappedTensor& t, int64_t target_values) {
  const int64_t rows = tensor_rows(t.ne), ne0 = t.ne[0];
  int64_t step;
  if (is_expert(t.source.layout)) {
    const int64_t per_expert = t.ne[1];
    step = per_expert * std::max<int64_t>(1, target_values / (per_expert * ne0));
  } else {
    step = std::max<int64_t>(1, target_values / ne0);
    if (step >= 64) step -= step % 64;
  }
  std::vector<RowRange> out;
  for (int64_t r = 0; r < rows; r += step) out.push_back({r, std::min(rows, r + step)});
  return out;
}

Status read_rows(const MappedTensor& t, RowRange slice, float* out, int threads) {
  const int64_t ne0 = t.ne[0];
  const int64_t n = slice.rows() * ne0;
  switch (t.source.layout) {
    case SourceLayout::kPlain:
      quant::parallel_for(n, threads, 2.0, [&](int64_t begin, int64_t end) {
        read_flat(t.source.view, slice.begin * ne0 + begin, end - begin, out + begin);
      });
      break;
    case SourceLayout::kPatchFrame: read_patch_rows(t, slice, out); break;
    default:
      if (slice.begin % t.ne[1] != 0 || slice.end % t.ne[1] != 0)
        return internal_err("{}: slice of rows [{}, {}) cuts an expert", t.name, slice.begin, slice.end);
      read_expert_rows(t, slice, out);
  }
  // The first non-finite value, if any (a NaN would poison a whole block's scale).
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(out[i])) {
      const int64_t flat = slice.begin * ne0 + i;
      return err("{} (from {}): value {} at GGUF row {}, column {} is not finite; a NaN or infinity cannot be "
                 "exported",
                 t.name, t.source.hf_name, out[i], flat / ne0, flat % ne0);
    }
  }
  return {};
}

}  // namespace ql::io::gguf
