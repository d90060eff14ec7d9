// An export claims its output folder (core/io/folder_claim.h): a second
// export into a folder another export is writing is refused up front and
// touches nothing; what a killed export left is named and removed only when
// asked (remove_interrupted); a claim never reaches outside its folder; no
// claim is left after an export that succeeded or failed.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "core/io/export.h"
#include "core/io/folder_claim.h"
#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::io;
using ql::engine::testing::demo_model_dir;
using ql::engine::testing::ScratchDir;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

ExportRequest demo_request(const std::string& out) {
  ExportRequest r;
  r.model_dir = demo_model_dir();
  r.format = ExportFormat::kSafetensors;
  r.precision = "bf16";
  r.out_dir = out;
  return r;
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// The claim a killed export leaves: its file, no lock.
void write_stale_claim(const std::string& folder, const std::string& body) {
  write_file(folder + "/" + kFolderClaimName, "quantlens-export 1\npid 4242\nstarted 2026-12-01 10:00:00 UTC\n" + body);
}

TEST(ExportClaim, AFolderAnotherExportIsWritingIsRefusedAndLeftAsItWas) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  fs::create_directory(out);
  auto running = FolderClaim::take(out, out, {out + "/model.safetensors"});
  ASSERT_TRUE(running.ok()) << running.message();
  write_file(out + "/.model.safetensors.partial", "being written");

  auto r = export_model(demo_request(out));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), "another export")) << r.message();
  EXPECT_TRUE(contains(r.message(), std::to_string(::getpid()))) << r.message();
  EXPECT_TRUE(fs::exists(out + "/.model.safetensors.partial")) << "the running export's file was removed";
  EXPECT_TRUE(fs::exists(out + "/" + kFolderClaimName));
  // Even when asked to remove an interrupted export's leftovers: a live claim is not stale.
  ExportRequest forced = demo_request(out);
  forced.remove_interrupted = true;
  auto f = export_model(forced);
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(contains(f.message(), "another export")) << f.message();
  EXPECT_TRUE(fs::exists(out + "/.model.safetensors.partial"));
}

TEST(ExportClaim, TwoExportsAtOnceIntoOneFolderTheSecondIsRefusedTheFirstCompletes) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  std::mutex m;
  std::condition_variable cv;
  bool first_writing = false, second_done = false;
  std::string second_message;
  // The first export waits at its first tensor until the second has tried.
  auto progress = [&](const ExportProgress& p) {
    if (p.tensor.empty()) return;
    std::unique_lock lock(m);
    if (!first_writing) {
      first_writing = true;
      cv.notify_all();
      cv.wait(lock, [&] { return second_done; });
    }
  };
  std::thread first([&] {
    auto r = export_model(demo_request(out), progress);
    EXPECT_TRUE(r.ok()) << r.message();
  });
  {
    std::unique_lock lock(m);
    const bool began = cv.wait_for(lock, std::chrono::seconds(120), [&] { return first_writing; });
    if (!began) {  // let the first one go before failing, so the test ends
      second_done = true;
      cv.notify_all();
      lock.unlock();
      first.join();
      FAIL() << "the first export never reached a tensor";
    }
  }
  auto second = export_model(demo_request(out));
  {
    std::lock_guard lock(m);
    second_done = true;
    second_message = second.ok() ? "" : second.message();
  }
  cv.notify_all();
  first.join();
  EXPECT_FALSE(second.ok());
  EXPECT_TRUE(contains(second_message, "another export")) << second_message;
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(out + "/config.json"));
  EXPECT_FALSE(fs::exists(out + "/" + kFolderClaimName)) << "the claim outlived the export";
}

TEST(ExportClaim, WhatAKilledExportLeftIsNamedAndRemovedOnlyWhenAsked) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  fs::create_directory(out);
  write_stale_claim(out, "file model.safetensors\nfile config.json\n");
  write_file(out + "/.model.safetensors.partial", std::string(1000, 'x'));
  write_file(out + "/config.json", "{}");

  auto refused = export_model(demo_request(out));
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.message(), "interrupted")) << refused.message();
  EXPECT_TRUE(contains(refused.message(), "4242")) << refused.message();
  EXPECT_TRUE(contains(refused.message(), ".model.safetensors.partial")) << refused.message();
  EXPECT_TRUE(contains(refused.message(), "--force")) << refused.message();
  EXPECT_TRUE(fs::exists(out + "/.model.safetensors.partial")) << "removed without asking";
  EXPECT_EQ(fs::file_size(out + "/config.json"), 2u);

  ExportRequest forced = demo_request(out);
  forced.remove_interrupted = true;
  auto r = export_model(forced);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_FALSE(fs::exists(out + "/.model.safetensors.partial"));
  EXPECT_FALSE(fs::exists(out + "/" + kFolderClaimName));
  EXPECT_GT(fs::file_size(out + "/config.json"), 2u) << "the new export's config was not written";
}

TEST(ExportClaim, AnotherFileBesideAStaleClaimStillMakesTheFolderNotEmpty) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  fs::create_directory(out);
  write_stale_claim(out, "file model.safetensors\n");
  write_file(out + "/notes.txt", "mine");
  ExportRequest forced = demo_request(out);
  forced.remove_interrupted = true;
  auto r = export_model(forced);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), "not empty")) << r.message();
  EXPECT_TRUE(contains(r.message(), "notes.txt")) << r.message();
  EXPECT_TRUE(fs::exists(out + "/notes.txt"));
  EXPECT_TRUE(fs::exists(out + "/" + kFolderClaimName)) << "the claim went although the export did not run";
}

TEST(ExportClaim, AForgedClaimCannotRemoveFilesOutsideItsFolder) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  fs::create_directory(out);
  write_file(scratch.file("precious.txt"), "keep");
  write_stale_claim(out, "file ../precious.txt\nfile /etc/hostname\n");
  auto info = read_folder_claim(out);
  ASSERT_TRUE(info.ok()) << info.message();
  ASSERT_TRUE(info->has_value());
  EXPECT_TRUE((*info)->files.empty()) << "a name with a path was accepted";
  ExportRequest forced = demo_request(out);
  forced.remove_interrupted = true;
  auto r = export_model(forced);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(fs::exists(scratch.file("precious.txt")));
}

TEST(ExportClaim, AFailedExportLeavesNoClaimAndAnExistingFolderEmpty) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  fs::create_directory(out);
  std::atomic<bool> cancel{false};
  auto r = export_model(demo_request(out), [&](const ExportProgress& p) {
    if (!p.tensor.empty()) cancel = true;
  }, &cancel);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(fs::is_empty(out)) << "something was left in the folder";
}

TEST(ExportClaim, TheClaimNamesTheProcessAndThePlannedFiles) {
  ScratchDir scratch;
  auto claim = FolderClaim::take(scratch.file(""), "scratch", {"/x/model.gguf", "mmproj.gguf"});
  ASSERT_TRUE(claim.ok()) << claim.message();
  auto info = read_folder_claim(scratch.file(""));
  ASSERT_TRUE(info.ok() && info->has_value());
  EXPECT_TRUE((*info)->live);
  EXPECT_EQ((*info)->pid, static_cast<long>(::getpid()));
  EXPECT_EQ((*info)->files, (std::vector<std::string>{"model.gguf", "mmproj.gguf"}));
  auto second = FolderClaim::take(scratch.file(""), "scratch", {});
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(contains(second.message(), "another export")) << second.message();
}

}  // namespace
