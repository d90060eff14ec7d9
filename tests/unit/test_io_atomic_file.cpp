// core/io/atomic_file.h: a file appears under its final name only when
// complete; until then it is a hidden ".NAME.partial" beside it, removed when
// the writer gives up. Read-only and full destinations fail with errors that
// name the file and the OS reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/io/atomic_file.h"
#include "tests/unit/io_test_support.h"
#include "tests/unit/model_test_files.h"

namespace {

using ql::io::AtomicFile;
using ql::model::testing::read_file;
using ql::model::testing::TempDir;
using ql::model::testing::write_file;
using namespace ql::io::testing;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(AtomicFile, WritesUnderAHiddenTemporaryAndRenamesOnCommit) {
  TempDir dir;
  auto f = AtomicFile::create(dir.file("out.bin"));
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->temp_path(), dir.file(".out.bin.partial"));
  ASSERT_TRUE(f->write("abc", 3).ok());
  ASSERT_TRUE(f->write_zeros(2).ok());
  EXPECT_EQ(f->bytes_written(), 5u);
  EXPECT_TRUE(fs::exists(dir.file(".out.bin.partial")));
  EXPECT_FALSE(fs::exists(dir.file("out.bin")));
  ASSERT_TRUE(f->commit().ok());
  EXPECT_EQ(read_file(dir.file("out.bin")), std::string("abc\0\0", 5));
  EXPECT_FALSE(fs::exists(dir.file(".out.bin.partial")));
}

TEST(AtomicFile, DroppedWithoutCommitLeavesNothing) {
  TempDir dir;
  {
    auto f = AtomicFile::create(dir.file("gone.bin"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->write("0123456789", 10).ok());
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(AtomicFile, AMovedFileKeepsItsTemporaryUntilTheNewOwnerCommits) {
  TempDir dir;
  auto f = AtomicFile::create(dir.file("moved.bin"));
  ASSERT_TRUE(f.ok());
  AtomicFile owner = std::move(f).value();  // the Result's moved-from copy is destroyed first
  EXPECT_TRUE(fs::exists(dir.file(".moved.bin.partial")));
  ASSERT_TRUE(owner.write("xy", 2).ok());
  ASSERT_TRUE(owner.commit().ok());
  EXPECT_EQ(read_file(dir.file("moved.bin")), "xy");
}

TEST(AtomicFile, ALeftoverTemporaryIsNeitherReusedNorRemoved) {
  TempDir dir;
  write_file(dir.file(".busy.bin.partial"), "someone else's");
  auto f = AtomicFile::create(dir.file("busy.bin"));
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(contains(f.message(), dir.file("busy.bin"))) << f.message();
  EXPECT_TRUE(contains(f.message(), "File exists")) << f.message();
  EXPECT_EQ(read_file(dir.file(".busy.bin.partial")), "someone else's");
}

TEST(AtomicFile, AMissingFolderIsAnErrorNamingThePath) {
  TempDir dir;
  auto f = AtomicFile::create(dir.file("no/such/folder/x.bin"));
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(contains(f.message(), dir.file("no/such/folder/x.bin"))) << f.message();
  EXPECT_TRUE(contains(f.message(), "No such file or directory")) << f.message();
}

TEST(AtomicFile, WriteFileAtomicallyReplacesTheWholeFile) {
  TempDir dir;
  write_file(dir.file("c.json"), "old contents, longer than the new");
  ASSERT_TRUE(ql::io::write_file_atomically(dir.file("c.json"), "{}\n").ok());
  EXPECT_EQ(read_file(dir.file("c.json")), "{}\n");
  EXPECT_FALSE(fs::exists(dir.file(".c.json.partial")));
}

TEST(AtomicFile, AReadOnlyFolderIsRefusedWithTheReason) {
  TempDir dir;
  const std::string ro = dir.sub("readonly");  // root-owned 0755: nobody may not create files in it
  open_to_others(ro);
  const auto outcome = run_in_child(drop_to_nobody, [&] {
    auto f = AtomicFile::create(ro + "/x.bin");
    return f.ok() ? std::string("created") : f.message();
  });
  ASSERT_TRUE(outcome.ran) << outcome.failure;
  EXPECT_TRUE(contains(outcome.message, ro + "/x.bin")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "Permission denied")) << outcome.message;
  EXPECT_TRUE(fs::is_empty(ro));
}

TEST(AtomicFile, AFullDiskFailsTheWriteNamingTheFileAndLeavesNothing) {
  TempDir dir;
  const auto outcome = run_in_child(limit_file_size(4096), [&] {
    std::string result;
    {
      auto f = AtomicFile::create(dir.file("big.bin"));
      if (!f.ok()) return "create: " + f.message();
      const std::string chunk(3000, 'x');
      auto first = f->write(chunk.data(), chunk.size());
      if (!first.ok()) return "first write: " + first.message();
      auto second = f->write(chunk.data(), chunk.size());
      result = second.ok() ? std::string("second write succeeded") : second.message();
    }  // dropped: the temporary goes
    return result;
  });
  ASSERT_TRUE(outcome.ran) << outcome.failure;
  EXPECT_TRUE(contains(outcome.message, dir.file("big.bin"))) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "File too large")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "after 4096 bytes")) << outcome.message;
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
