#include "core/vision/preprocess_config.h"

#include "core/common/mapped_file.h"
#include "core/common/small_file.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace ql::vision {
namespace {

using nlohmann::json;

// PILImageResampling.BICUBIC: the only filter implemented (resample.h).
constexpr int64_t kBicubic = 3;

// Each reader leaves `out` untouched when the key is absent.
Status read_positive_int(const json& obj, const char* key, std::string_view field,
                         std::string_view label, int64_t max_value, int64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_number_integer()) {
    return err("{}: {} must be an integer, got {}", label, field, it->dump());
  }
  // nlohmann stores non-negative literals as unsigned, negative ones as signed.
  const bool in_range = it->is_number_unsigned()
                            ? (it->get<uint64_t>() >= 1 &&
                               it->get<uint64_t>() <= static_cast<uint64_t>(max_value))
                            : (it->get<int64_t>() >= 1 && it->get<int64_t>() <= max_value);
  if (!in_range) {
    return err("{}: {} must be between 1 and {}, got {}", label, field, max_value, it->dump());
  }
  out = it->get<int64_t>();
  return {};
}

// Patch, temporal and merge sizes: small integers (the cap keeps products in int).
Status read_positive_int(const json& obj, const char* key, std::string_view label,
                         int& out) {
  constexpr int64_t kMaxSize = 4096;
  int64_t v = out;
  QL_TRY(read_positive_int(obj, key, key, label, kMaxSize, v));
  out = static_cast<int>(v);
  return {};
}

Status read_bool(const json& obj, const char* key, std::string_view label, bool& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_boolean()) return err("{}: {} must be true or false, got {}", label, key, it->dump());
  out = it->get<bool>();
  return {};
}

// HF accepts one number for all channels or one per channel.
Status read_channels(const json& obj, const char* key, std::string_view label, bool positive,
                     std::array<double, 3>& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  std::array<double, 3> v{};
  if (it->is_number()) {
    v.fill(it->get<double>());
  } else if (it->is_array() && it->size() == 3) {
    for (size_t c = 0; c < 3; ++c) {
      if (!(*it)[c].is_number()) {
        return err("{}: {}[{}] must be a number, got {}", label, key, c, (*it)[c].dump());
      }
      v[c] = (*it)[c].get<double>();
    }
  } else {
    return err("{}: {} must be a number or a list of 3 numbers, got {}", label, key, it->dump());
  }
  for (size_t c = 0; c < 3; ++c) {
    if (!std::isfinite(v[c]) || (positive && v[c] <= 0)) {
      return err("{}: {}[{}] must be {}, got {}", label, key, c,
                 positive ? "a positive number" : "finite", v[c]);
    }
  }
  out = v;
  return {};
}

Status read_pixel_limits(const json& root, std::string_view label, PreprocessConfig& cfg) {
  // 16x the published maximum; beyond it pixel_values alone would pass 6 GB.
  constexpr int64_t kMaxPixelsLimit = int64_t{1} << 28;
  auto size = root.find("size");
  if (size != root.end()) {
    if (!size->is_object()) return err("{}: size must be an object, got {}", label, size->dump());
    // HF requires both keys unless min_pixels/max_pixels override them.
    if (!size->contains("shortest_edge") && !root.contains("min_pixels")) {
      return err("{}: size.shortest_edge is missing", label);
    }
    if (!size->contains("longest_edge") && !root.contains("max_pixels")) {
      return err("{}: size.longest_edge is missing", label);
    }
    QL_TRY(read_positive_int(*size, "shortest_edge", "size.shortest_edge", label,
                             kMaxPixelsLimit, cfg.min_pixels));
    QL_TRY(read_positive_int(*size, "longest_edge", "size.longest_edge", label,
                             kMaxPixelsLimit, cfg.max_pixels));
  }
  // Top-level keys win over size, as in HF's backward-compatibility rule.
  QL_TRY(read_positive_int(root, "min_pixels", "min_pixels", label, kMaxPixelsLimit,
                           cfg.min_pixels));
  QL_TRY(read_positive_int(root, "max_pixels", "max_pixels", label, kMaxPixelsLimit,
                           cfg.max_pixels));
  if (cfg.min_pixels > cfg.max_pixels) {
    return err("{}: min_pixels (size.shortest_edge) {} is larger than max_pixels "
               "(size.longest_edge) {}", label, cfg.min_pixels, cfg.max_pixels);
  }
  return {};
}

Status read_config(const json& root, std::string_view label, PreprocessConfig& cfg) {
  if (!root.is_object()) return err("{}: top level must be a JSON object", label);
  QL_TRY(read_pixel_limits(root, label, cfg));
  QL_TRY(read_positive_int(root, "patch_size", label, cfg.patch_size));
  QL_TRY(read_positive_int(root, "temporal_patch_size", label, cfg.temporal_patch_size));
  QL_TRY(read_positive_int(root, "merge_size", label, cfg.merge_size));
  QL_TRY(read_bool(root, "do_resize", label, cfg.do_resize));
  QL_TRY(read_bool(root, "do_rescale", label, cfg.do_rescale));
  QL_TRY(read_bool(root, "do_normalize", label, cfg.do_normalize));
  bool convert_rgb = true;  // images always reach core as RGB; only type-checked
  QL_TRY(read_bool(root, "do_convert_rgb", label, convert_rgb));
  if (auto it = root.find("rescale_factor"); it != root.end()) {
    if (!it->is_number() || !(it->get<double>() > 0) || !std::isfinite(it->get<double>())) {
      return err("{}: rescale_factor must be a positive number, got {}", label, it->dump());
    }
    cfg.rescale_factor = it->get<double>();
  }
  QL_TRY(read_channels(root, "image_mean", label, /*positive=*/false, cfg.image_mean));
  QL_TRY(read_channels(root, "image_std", label, /*positive=*/true, cfg.image_std));
  if (auto it = root.find("resample"); it != root.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() != kBicubic) {
      return err("{}: resample {} is not supported: only 3 (BICUBIC)", label, it->dump());
    }
  }
  return {};
}

}  // namespace

Result<PreprocessConfig> parse_preprocess_config(std::string_view json_text,
                                                 std::string_view label) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    // nlohmann's what() is "[json.exception.parse_error.101] parse error at ...".
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return err("{}: invalid JSON: {}", label, what);
  }
  // Absent keys keep the published Qwen3-VL values, not HF's Qwen2-VL class
  // defaults (patch 14, CLIP mean/std): this engine only runs Qwen3-VL, whose
  // vision tower needs patch 16.
  PreprocessConfig cfg;
  QL_TRY(read_config(root, label, cfg));
  return cfg;
}

Result<PreprocessConfig> load_preprocess_config(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path path = fs::path(model_dir) / "preprocessor_config.json";
  // Absent (not even a dangling or looping link): the published defaults.
  if (!something_at(path.string())) return PreprocessConfig{};
  QL_ASSIGN_OR_RETURN(std::string text, read_text_file(path.string()));
  return parse_preprocess_config(text, path.string());
}

}  // namespace ql::vision
