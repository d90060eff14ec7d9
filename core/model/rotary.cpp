#include "core/model/rotary.h"

#include <cmath>

namespace ql::model {
namespace {

// inv_freq[j] = 1 / theta^(2j / dim), in float32 as PyTorch computes it.
std::vector<float> inverse_frequencies(int64_t dim, double theta) {
  std::vector<float> inv(static_cast<size_t>(dim / 2));
  for (int64_t j = 0; j < dim / 2; ++j) {
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(dim);
    inv[j] = 1.0f / std::pow(static_cast<float>(theta), exponent);
  }
  return inv;
}

int mrope_axis(int64_t j, const std::array<int64_t, 3>& section) {
  if (j % 3 == 1 && j < 3 * section[1]) return 1;
  if (j % 3 == 2 && j < 3 * section[2]) return 2;
  return 0;
}

void fill_row(RotaryTables& t, int64_t row, std::span<const float> angles) {
  const int64_t half = t.head_dim / 2;
  float* c = t.cos.data() + row * t.head_dim;
  float* s = t.sin.data() + row * t.head_dim;
  for (int64_t j = 0; j < half; ++j) {
    c[j] = c[j + half] = std::cos(angles[j]);
    s[j] = s[j + half] = std::sin(angles[j]);
  }
}

RotaryTables make_tables(int64_t rows, int64_t head_dim) {
  RotaryTables t;
  t.rows = rows;
  t.head_dim = head_dim;
  t.cos.resize(static_cast<size_t>(rows * head_dim));
  t.sin.resize(static_cast<size_t>(rows * head_dim));
  return t;
}

}  // namespace

RotaryTables text_rotary(const PositionIds& positions, int64_t first, int64_t count, int64_t head_dim,
                         double theta, const std::array<int64_t, 3>& mrope_section) {
  const auto inv = inverse_frequencies(head_dim, theta);
  RotaryTables t = make_tables(count, head_dim);
  std::vector<float> angles(inv.size());
  for (int64_t r = 0; r < count; ++r) {
    for (size_t j = 0; j < inv.size(); ++j) {
      const int axis = mrope_axis(static_cast<int64_t>(j), mrope_section);
      angles[j] = static_cast<float>(positions.axis[axis][first + r]) * inv[j];
    }
    fill_row(t, r, angles);
  }
  return t;
}

RotaryTables text_rotary_1d(int64_t position, int64_t head_dim, double theta,
                            const std::array<int64_t, 3>& mrope_section) {
  PositionIds p;
  for (auto& a : p.axis) a.push_back(position);
  return text_rotary(p, 0, 1, head_dim, theta, mrope_section);
}

PatchRowCol patch_row_col(int64_t q, int64_t grid_w, int64_t m) {
  const int64_t in_col = q % m;
  const int64_t in_row = (q / m) % m;
  const int64_t block_col = (q / (m * m)) % (grid_w / m);
  const int64_t block_row = q / (m * m * (grid_w / m));
  return {block_row * m + in_row, block_col * m + in_col};
}

RotaryTables vision_rotary(std::span<const ImageGrid> grids, int64_t merge_size, int64_t head_dim, double theta) {
  // The 2-D embedding has dim head_dim/2: head_dim/4 frequencies per axis.
  const auto inv = inverse_frequencies(head_dim / 2, theta);
  int64_t total = 0;
  for (const auto& g : grids) total += g.t * g.h * g.w;
  RotaryTables t = make_tables(total, head_dim);
  std::vector<float> angles(static_cast<size_t>(head_dim / 2));
  const size_t nf = inv.size();
  int64_t row = 0;
  for (const auto& g : grids) {
    for (int64_t f = 0; f < g.t; ++f) {
      for (int64_t q = 0; q < g.h * g.w; ++q, ++row) {
        const auto rc = patch_row_col(q, g.w, merge_size);
        for (size_t k = 0; k < nf; ++k) {
          angles[k] = static_cast<float>(rc.row) * inv[k];
          angles[nf + k] = static_cast<float>(rc.col) * inv[k];
        }
        fill_row(t, row, angles);
      }
    }
  }
  return t;
}

}  // namespace ql::model
