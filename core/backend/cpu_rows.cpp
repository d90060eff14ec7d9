// Row movement: embed, gather, scatter (set and add; the KV-cache writes), and
// weighted sums of table rows (vision position-embedding interpolation).
// Small and memory-bound, so they run on the calling thread. A row index
// outside its tensor is a caller bug and aborts with the index.
#include <algorithm>
#include <cstring>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_scratch.h"
#include "core/backend/cpu_tensor.h"
#include "core/backend/cpu_weight_decode.h"

namespace ql::backend::cpu {

namespace {

// rows is I32 [n, 1] with n == expected; returns its data.
const int32_t* index_column(const Tensor& rows_, int64_t expected, const char* op) {
  const CpuTensor& rows = i32_arg(rows_, op, "rows");
  QL_CPU_REQUIRE(rows.cols() == 1 && rows.rows() == expected, "{}: rows {} must be [{}, 1]", op, shape_of(rows),
                 expected);
  return rows.i32();
}

int64_t checked_index(int32_t index, int64_t limit, const char* op, int64_t i) {
  QL_CPU_REQUIRE(index >= 0 && index < limit, "{}: index {} (entry {}) outside [0, {})", op, index, i, limit);
  return index;
}

}  // namespace

void embed(const Tensor& ids_, const Weight& table_, Tensor& out_) {
  CpuTensor& out = f32_arg(out_, "embed", "out");
  const CpuWeight& table = weight_arg(table_, "embed", "table");
  const int32_t* ids = index_column(ids_, out.rows(), "embed");
  QL_CPU_REQUIRE(out.cols() == table.cols(), "embed: out {} for table {} {}", shape_of(out), table.name(),
                 shape_of(table));
  for (int64_t i = 0; i < out.rows(); ++i)
    decode_rows(table, checked_index(ids[i], table.rows(), "embed", i), 1, out.row(i));
}

void add_weighted_rows(const Weight& table_, const Tensor& indices_, const Tensor& weights_, Tensor& out_) {
  const CpuWeight& table = weight_arg(table_, "add_weighted_rows", "table");
  const CpuTensor& indices = i32_arg(indices_, "add_weighted_rows", "indices");
  const CpuTensor& weights = f32_arg(weights_, "add_weighted_rows", "weights");
  CpuTensor& out = f32_arg(out_, "add_weighted_rows", "out");
  QL_CPU_REQUIRE(indices.rows() == out.rows() && weights.rows() == out.rows() && weights.cols() == indices.cols(),
                 "add_weighted_rows: indices {} and weights {} must be [{}, k]", shape_of(indices), shape_of(weights),
                 out.rows());
  QL_CPU_REQUIRE(out.cols() == table.cols(), "add_weighted_rows: out {} for table {} {}", shape_of(out), table.name(),
                 shape_of(table));
  const int64_t cols = out.cols(), taps = indices.cols();
  float* row = thread_scratch(Scratch::kRow, static_cast<size_t>(cols));
  float* sum = thread_scratch(Scratch::kRowSum, static_cast<size_t>(cols));
  for (int64_t i = 0; i < out.rows(); ++i) {
    // The weighted sum first, then one add (docs/model.md §6.2: pos is summed, then x + pos).
    std::fill(sum, sum + cols, 0.0f);
    for (int64_t j = 0; j < taps; ++j) {
      const int64_t index = checked_index(indices.i32()[i * taps + j], table.rows(), "add_weighted_rows", i * taps + j);
      const float wt = weights.f32()[i * taps + j];
      const float* r = rows_as_f32(table, index, 1, row);
      for (int64_t c = 0; c < cols; ++c) sum[c] += wt * r[c];
    }
    float* o = out.row(i);
    for (int64_t c = 0; c < cols; ++c) o[c] += sum[c];
  }
}

void scatter_rows(const Tensor& src_, const Tensor& rows_, Tensor& dst_) {
  const CpuTensor& src = f32_arg(src_, "scatter_rows", "src");
  CpuTensor& dst = f32_arg(dst_, "scatter_rows", "dst");
  const int32_t* rows = index_column(rows_, src.rows(), "scatter_rows");
  QL_CPU_REQUIRE(src.cols() == dst.cols(), "scatter_rows: src {} and dst {} differ in width", shape_of(src),
                 shape_of(dst));
  for (int64_t i = 0; i < src.rows(); ++i)
    std::copy_n(src.row(i), src.cols(), dst.row(checked_index(rows[i], dst.rows(), "scatter_rows", i)));
}

void scatter_add_rows(const Tensor& src_, const Tensor& rows_, Tensor& dst_) {
  const CpuTensor& src = f32_arg(src_, "scatter_add_rows", "src");
  CpuTensor& dst = f32_arg(dst_, "scatter_add_rows", "dst");
  const int32_t* rows = index_column(rows_, src.rows(), "scatter_add_rows");
  QL_CPU_REQUIRE(src.cols() == dst.cols(), "scatter_add_rows: src {} and dst {} differ in width", shape_of(src),
                 shape_of(dst));
  // In source order, so repeated target rows add up deterministically.
  for (int64_t i = 0; i < src.rows(); ++i) {
    float* d = dst.row(checked_index(rows[i], dst.rows(), "scatter_add_rows", i));
    const float* s = src.row(i);
    for (int64_t c = 0; c < src.cols(); ++c) d[c] += s[c];
  }
}

void zero(Tensor& t_) {
  CpuTensor& t = any_arg(t_, "zero", "t");
  std::memset(t.data(), 0, t.bytes());
}

void gather_rows(const Tensor& src_, const Tensor& rows_, Tensor& out_) {
  const CpuTensor& src = f32_arg(src_, "gather_rows", "src");
  CpuTensor& out = f32_arg(out_, "gather_rows", "out");
  const int32_t* rows = index_column(rows_, out.rows(), "gather_rows");
  QL_CPU_REQUIRE(src.cols() == out.cols(), "gather_rows: src {} and out {} differ in width", shape_of(src),
                 shape_of(out));
  for (int64_t i = 0; i < out.rows(); ++i)
    std::copy_n(src.row(checked_index(rows[i], src.rows(), "gather_rows", i)), src.cols(), out.row(i));
}

}  // namespace ql::backend::cpu
