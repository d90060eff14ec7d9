// quantlens-cli preprocess [--model DIR] [--json] IMAGE...
// Runs the vision preprocessing (the same core/vision code the engine uses)
// and reports, per image, the sizes, the patch grid, the token count and
// statistics of pixel_values. Stops at the first bad image (exit 2).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "core/vision/pixel_stats.h"
#include "core/vision/preprocess.h"
#include "core/vision/preprocess_config.h"
#include "ui/imageio/image_decode.h"

namespace ql::cli {
namespace {

struct PreprocessOptions {
  std::string model_dir;
  bool json = false;
  std::vector<std::string> images;
};

struct ImageReport {
  std::string file;
  vision::ImageSize original;
  vision::ImageSize resized;
  int grid_t = 0, grid_h = 0, grid_w = 0;
  int64_t num_patches = 0;
  int patch_dim = 0;
  int64_t num_image_tokens = 0;
  vision::PixelStats stats;
};

Result<vision::PreprocessConfig> config_for(const std::string& model_dir) {
  if (model_dir.empty()) return vision::PreprocessConfig{};  // published defaults
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec)) {
    return err("{}: model folder not found", model_dir);
  }
  return vision::load_preprocess_config(model_dir);
}

Result<ImageReport> process_one(const std::string& path, const vision::PreprocessConfig& cfg) {
  auto image = imageio::decode_image_file(path);
  if (!image) return image.error();
  auto pre = vision::preprocess_image(*image, cfg, path);
  if (!pre) return pre.error();
  ImageReport r;
  r.file = path;
  r.original = pre->original;
  r.resized = pre->resized;
  r.grid_t = pre->grid_t;
  r.grid_h = pre->grid_h;
  r.grid_w = pre->grid_w;
  r.num_patches = pre->num_patches();
  r.patch_dim = pre->patch_dim;
  r.num_image_tokens = pre->num_image_tokens();
  r.stats = vision::compute_pixel_stats(pre->pixel_values);
  return r;
}

nlohmann::json to_json(const ImageReport& r) {
  return {
      {"file", r.file},
      {"original", {{"width", r.original.width}, {"height", r.original.height}}},
      {"resized", {{"width", r.resized.width}, {"height", r.resized.height}}},
      {"grid_thw", {r.grid_t, r.grid_h, r.grid_w}},
      {"num_patches", r.num_patches},
      {"patch_dim", r.patch_dim},
      {"num_image_tokens", r.num_image_tokens},
      {"pixel_values",
       {{"min", r.stats.min}, {"max", r.stats.max}, {"mean", r.stats.mean},
        {"std", r.stats.std}}},
  };
}

void print_text(const ImageReport& r) {
  fmt::print("{}\n", r.file);
  fmt::print("  original size   {}x{}\n", r.original.width, r.original.height);
  fmt::print("  resized size    {}x{}\n", r.resized.width, r.resized.height);
  fmt::print("  grid (t,h,w)    {},{},{}\n", r.grid_t, r.grid_h, r.grid_w);
  fmt::print("  patches         {} x {}\n", r.num_patches, r.patch_dim);
  fmt::print("  image tokens    {}\n", r.num_image_tokens);
  fmt::print("  pixel values    min {:.6f} max {:.6f} mean {:.6f} std {:.6f}\n", r.stats.min,
             r.stats.max, r.stats.mean, r.stats.std);
}

int run_preprocess(const PreprocessOptions& opts) {
  auto cfg = config_for(opts.model_dir);
  if (!cfg) return report(cfg.error());
  // All images first: a bad one fails the command before anything is printed.
  std::vector<ImageReport> reports;
  for (const auto& path : opts.images) {
    auto r = process_one(path, *cfg);
    if (!r) return report(r.error());
    reports.push_back(std::move(*r));
  }
  if (opts.json) {
    nlohmann::json images = nlohmann::json::array();
    for (const auto& r : reports) images.push_back(to_json(r));
    print_json({{"images", images}});
  } else {
    for (const auto& r : reports) print_text(r);
  }
  return kExitOk;
}

}  // namespace

void add_preprocess_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<PreprocessOptions>();
  auto* cmd = app.add_subcommand(
      "preprocess", "Resize, normalise and patchify images as the vision tower expects");
  cmd->add_option("--model", opts->model_dir,
                  "Model folder whose preprocessor_config.json to use "
                  "(default: the published Qwen3-VL settings)");
  cmd->add_flag("--json", opts->json, "Print JSON: {\"images\": [...]}");
  cmd->add_option("images", opts->images, "Image files (PNG, JPEG, WebP, BMP, GIF)")
      ->required();
  cmd->callback([opts, &exit_code] { exit_code = run_preprocess(*opts); });
}

}  // namespace ql::cli
