#pragma once
// Settings of the image preprocessor (Qwen2VLImageProcessor as Qwen3-VL uses
// it), read from a model folder's preprocessor_config.json. Defaults are the
// published Qwen3-VL-30B-A3B values (docs/model.md §4).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/common/result.h"

namespace ql::vision {

struct PreprocessConfig {
  int patch_size = 16;
  int temporal_patch_size = 2;
  int merge_size = 2;
  int64_t min_pixels = 65536;     // size.shortest_edge: 64 * 32 * 32
  int64_t max_pixels = 16777216;  // size.longest_edge: 16384 * 32 * 32 = 4096^2
  bool do_resize = true;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean = {0.5, 0.5, 0.5};
  std::array<double, 3> image_std = {0.5, 0.5, 0.5};
  // Not a config key: the aspect-ratio limit hard-coded in HF's smart_resize.
  double max_aspect_ratio = 200.0;

  // The side length every resized dimension is a multiple of.
  int resize_factor() const { return patch_size * merge_size; }
};

// Parses the text of a preprocessor_config.json; `label` (the file path)
// prefixes every error. Keys that are absent keep the published defaults.
Result<PreprocessConfig> parse_preprocess_config(std::string_view json_text,
                                                 std::string_view label);

// Reads MODEL_DIR/preprocessor_config.json, or returns the published defaults
// when the folder has no such file.
Result<PreprocessConfig> load_preprocess_config(const std::string& model_dir);

}  // namespace ql::vision
