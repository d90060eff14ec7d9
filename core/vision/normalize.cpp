#include "core/vision/normalize.h"

namespace ql::vision {

NormalizeTable make_normalize_table(const PreprocessConfig& cfg) {
  NormalizeTable table{};
  for (int c = 0; c < 3; ++c) {
    float mean = static_cast<float>(cfg.image_mean[c]);
    float std = static_cast<float>(cfg.image_std[c]);
    if (cfg.do_normalize && cfg.do_rescale) {
      // torch: float32 tensor * Python float -> the scalar is cast to float32 first.
      const float inv_rescale = static_cast<float>(1.0 / cfg.rescale_factor);
      mean = mean * inv_rescale;
      std = std * inv_rescale;
    }
    for (int v = 0; v < 256; ++v) {
      const float x = static_cast<float>(v);
      if (cfg.do_normalize) {
        table[c][v] = (x - mean) / std;  // tvF.normalize: sub_ then div_, float32
      } else if (cfg.do_rescale) {
        table[c][v] = x * static_cast<float>(cfg.rescale_factor);
      } else {
        table[c][v] = x;
      }
    }
  }
  return table;
}

}  // namespace ql::vision
