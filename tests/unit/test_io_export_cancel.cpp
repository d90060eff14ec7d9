// Cancelling an export (core/io/export.h, Engine::export_model + stop()) at
// several points — before it starts, at the first tensor, in the middle (the
// second shard, after the first was renamed into place), at the last tensor,
// and while the companion files are written — returns the cancelled error
// and leaves nothing: no file, no temporary, no folder it created; a folder
// that existed stays, empty. The source folder is unchanged.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>

#include "core/engine/engine.h"
#include "core/io/export.h"
#include "tests/unit/engine_test_support.h"
#include "tests/unit/io_test_support.h"

namespace {

using namespace ql::io;
using ql::engine::testing::demo_model_dir;
using ql::engine::testing::ScratchDir;
namespace it = ql::io::testing;
namespace fs = std::filesystem;

ExportRequest demo_request(const std::string& out) {
  ExportRequest r;
  r.model_dir = demo_model_dir();
  r.format = ExportFormat::kSafetensors;
  r.precision = "bf16";
  r.out_dir = out;
  r.max_shard_bytes = 8'000'000;  // two shards: cancelling in the second undoes the first
  return r;
}

// Where to cancel, judged from a progress report.
using CancelPoint = std::function<bool(const ExportProgress&)>;

struct Point {
  const char* name;
  CancelPoint when;
};

bool writing(const ExportProgress& p) { return p.stage.rfind("writing model", 0) == 0 && !p.tensor.empty(); }

const Point kPoints[] = {
    {"at the first tensor", [](const ExportProgress& p) { return writing(p) && p.tensor_index == 0; }},
    {"in the second shard",
     [](const ExportProgress& p) {
       return p.stage == "writing model-00002-of-00002.safetensors" && !p.tensor.empty();
     }},
    {"at the last tensor", [](const ExportProgress& p) { return writing(p) && p.tensor_index + 1 == p.tensor_count; }},
    {"while writing the companion files",
     [](const ExportProgress& p) { return p.stage.find("companion") != std::string::npos; }},
};

class ExportCancel : public ::testing::Test {
 protected:
  void SetUp() override { before_ = it::snapshot(demo_model_dir()); }
  void TearDown() override { EXPECT_EQ(it::snapshot(demo_model_dir()), before_) << "the source folder changed"; }
  std::map<std::string, it::FileState> before_;
};

TEST_F(ExportCancel, CancelledBeforeItStartsWritesNothing) {
  ScratchDir scratch;
  std::atomic<bool> cancel{true};
  auto r = export_model(demo_request(scratch.file("out")), {}, &cancel);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), kExportCancelledMessage);
  EXPECT_FALSE(fs::exists(scratch.file("out")));
}

TEST_F(ExportCancel, CancelledAtEachPointLeavesNoFileAndNoCreatedFolder) {
  for (const Point& point : kPoints) {
    SCOPED_TRACE(point.name);
    ScratchDir scratch;
    const std::string out = scratch.file("made/by/export");
    std::atomic<bool> cancel{false};
    bool reached = false;
    auto progress = [&](const ExportProgress& p) {
      if (!reached && point.when(p)) {
        reached = true;
        cancel = true;
      }
    };
    auto r = export_model(demo_request(out), progress, &cancel);
    ASSERT_TRUE(reached) << "the export never reported this point";
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.message(), kExportCancelledMessage);
    EXPECT_FALSE(fs::exists(scratch.file("made"))) << "a folder the export created is left";
  }
}

TEST_F(ExportCancel, CancelledAtEachPointKeepsAnExistingFolderEmpty) {
  for (const Point& point : kPoints) {
    SCOPED_TRACE(point.name);
    ScratchDir scratch;
    const std::string out = scratch.file("out");
    fs::create_directory(out);
    std::atomic<bool> cancel{false};
    auto progress = [&](const ExportProgress& p) {
      if (point.when(p)) cancel = true;
    };
    auto r = export_model(demo_request(out), progress, &cancel);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.message(), kExportCancelledMessage);
    ASSERT_TRUE(fs::is_directory(out));
    for (const auto& e : fs::directory_iterator(out)) ADD_FAILURE() << "left behind: " << e.path();
  }
}

TEST_F(ExportCancel, EngineStopCancelsTheExportAndTheNextOneRuns) {
  ScratchDir scratch;
  ql::engine::Engine engine;
  auto stop_midway = [&](const ExportProgress& p) {
    if (writing(p) && p.tensor_index == p.tensor_count / 2) engine.stop();
  };
  auto r = engine.export_model(demo_request(scratch.file("out")), stop_midway);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(ql::engine::Engine::is_cancelled(r.error()));
  EXPECT_FALSE(fs::exists(scratch.file("out")));

  // The stop was for that export only.
  auto again = engine.export_model(demo_request(scratch.file("out")));
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_TRUE(fs::exists(scratch.file("out/model.safetensors.index.json")));
}

TEST_F(ExportCancel, ProgressCountsEveryTensorAndEndsAtTheTotal) {
  ScratchDir scratch;
  size_t count = 0, last_index = 0, reports = 0;
  uint64_t last_done = 0, total = 0;
  bool monotonic = true;
  auto progress = [&](const ExportProgress& p) {
    ++reports;
    if (p.done_bytes < last_done) monotonic = false;
    last_done = p.done_bytes;
    total = p.total_bytes;
    if (writing(p)) {
      count = p.tensor_count;
      last_index = p.tensor_index;
    }
  };
  auto r = export_model(demo_request(scratch.file("out")), progress);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(monotonic);
  EXPECT_EQ(count, r->tensors.size());
  EXPECT_EQ(last_index + 1, count);
  EXPECT_EQ(total, r->total_bytes);
  EXPECT_EQ(last_done, r->total_bytes);
  EXPECT_GT(reports, count);
}

}  // namespace
