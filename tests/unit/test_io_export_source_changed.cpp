// A source shard that changes on disk while it is mapped (issue 12, point 7):
// rewriting a mapped file in place can end the process with SIGBUS, so an
// export watches its source's files and stops with an error naming the
// shard (leaving nothing), and Engine::export_model refuses to export the
// loaded model's folder once its files changed since the load.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/engine/engine.h"
#include "core/io/export.h"
#include "tests/unit/engine_test_support.h"

namespace {

using ql::engine::testing::demo_model_dir;
using ql::engine::testing::ScratchDir;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string copy_of_demo(const ScratchDir& scratch) {
  const std::string dir = scratch.file("model");
  fs::copy(demo_model_dir(), dir, fs::copy_options::recursive);
  return dir;
}

std::string first_shard(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") return e.path().string();
  return {};
}

// Appending keeps every mapped page valid (no SIGBUS in the test itself) yet
// changes size and modification time, as an in-place rewrite would.
void grow(const std::string& file) { std::ofstream(file, std::ios::binary | std::ios::app) << "x"; }

ql::io::ExportRequest request(const std::string& model, const std::string& out) {
  ql::io::ExportRequest r;
  r.model_dir = model;
  r.format = ql::io::ExportFormat::kSafetensors;
  r.precision = "bf16";
  r.out_dir = out;
  return r;
}

TEST(ExportSourceChanged, AShardChangedMidExportStopsItNamingTheShardAndLeavesNothing) {
  ScratchDir scratch;
  const std::string model = copy_of_demo(scratch);
  const std::string shard = first_shard(model);
  ASSERT_FALSE(shard.empty());
  bool changed = false;
  auto r = ql::io::export_model(request(model, scratch.file("out")), [&](const ql::io::ExportProgress& p) {
    if (!changed && !p.tensor.empty()) {
      grow(shard);
      changed = true;
    }
  });
  ASSERT_TRUE(changed) << "the export reported no tensor";
  ASSERT_FALSE(r.ok()) << "the export went on from a changed shard";
  EXPECT_TRUE(contains(r.message(), shard)) << r.message();
  EXPECT_TRUE(contains(r.message(), "changed on disk while in use")) << r.message();
  EXPECT_TRUE(contains(r.message(), "size went from")) << r.message();
  EXPECT_FALSE(fs::exists(scratch.file("out"))) << "the export left its folder";
}

TEST(ExportSourceChanged, TheEngineRefusesToExportALoadedModelWhoseFilesChanged) {
  ScratchDir scratch;
  const std::string model = copy_of_demo(scratch);
  ql::engine::Engine engine;
  ASSERT_TRUE(engine.load(model, {}).ok());
  ASSERT_TRUE(engine.export_model(request(model, scratch.file("before"))).ok()) << "unchanged files export";
  // The same size, a new modification time: an in-place rewrite of equal length.
  const std::string shard = first_shard(model);
  fs::last_write_time(shard, fs::last_write_time(shard) + std::chrono::seconds(5));
  auto r = engine.export_model(request(model, scratch.file("after")));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), shard)) << r.message();
  EXPECT_TRUE(contains(r.message(), "it was modified")) << r.message();
  EXPECT_TRUE(contains(r.message(), "changed since it was loaded")) << r.message();
  EXPECT_FALSE(fs::exists(scratch.file("after")));
}

}  // namespace
