// What a careless or hostile folder may hold in place of a small file
// (issue 12, points 6 and 8): /dev/zero, a FIFO, a folder, a symbolic link
// loop. Every JSON file is read only when it is a regular file below a size
// limit, and the message says what it is instead; none of these hangs or
// grows memory. A model's broken tokenizer.json is reported, not silently
// replaced by the default tokenizer. An image too large to decode says its
// size and the limit.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <QImage>
#include <filesystem>
#include <functional>
#include <string>

#include "core/common/small_file.h"
#include "core/engine/engine.h"
#include "core/io/export.h"
#include "core/model/model_config.h"
#include "tests/unit/cli_runner.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using ql::engine::testing::demo_model_dir;
using ql::engine::testing::ScratchDir;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A copy of the demo model whose `name` is replaced by what `make` puts there.
std::string demo_with(const ScratchDir& scratch, const std::string& name,
                      const std::function<void(const std::string&)>& make) {
  const std::string dir = scratch.file("model");
  fs::copy(demo_model_dir(), dir, fs::copy_options::recursive);
  fs::remove(dir + "/" + name);
  make(dir + "/" + name);
  return dir;
}

void dev_zero(const std::string& p) { fs::create_symlink("/dev/zero", p); }
void fifo(const std::string& p) { ASSERT_EQ(mkfifo(p.c_str(), 0644), 0); }
void folder(const std::string& p) { fs::create_directory(p); }
void loop(const std::string& p) {
  fs::create_symlink(p + ".b", p);
  fs::create_symlink(p, p + ".b");
}

struct Kind {
  const char* name;
  void (*make)(const std::string&);
  const char* said;
};
const Kind kKinds[] = {{"/dev/zero", dev_zero, "is a character device"},
                       {"a FIFO", fifo, "is a FIFO"},
                       {"a folder", folder, "is a folder"},
                       {"a link loop", loop, "loop of symbolic links"}};

TEST(HostileFiles, EveryJsonFileOfAModelIsRefusedNamingWhatItIs) {
  for (const char* file : {"config.json", "generation_config.json", "model.safetensors.index.json",
                           "preprocessor_config.json"}) {
    for (const Kind& kind : kKinds) {
      SCOPED_TRACE(std::string(file) + " as " + kind.name);
      ScratchDir scratch;
      const std::string dir = demo_with(scratch, file, kind.make);
      ql::engine::Engine engine;
      auto st = engine.load(dir, {});
      ASSERT_FALSE(st.ok());
      EXPECT_TRUE(contains(st.message(), file)) << st.message();
      EXPECT_TRUE(contains(st.message(), kind.said)) << st.message();
    }
  }
}

TEST(HostileFiles, InfoAndExportSayTheSame) {
  ScratchDir scratch;
  const std::string dir = demo_with(scratch, "config.json", dev_zero);
  const auto info = ql::testing::run_cli({"info", dir});
  EXPECT_EQ(info.exit_code, 2) << info.err;
  EXPECT_TRUE(contains(info.err, "is a character device")) << info.err;
  ql::io::ExportRequest r;
  r.model_dir = dir;
  r.format = ql::io::ExportFormat::kGguf;
  r.precision = "q8_0";
  r.out_dir = scratch.file("out");
  auto e = ql::io::export_model(r);
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(contains(e.message(), "is a character device")) << e.message();
}

TEST(HostileFiles, AModelsTokenizerThatIsNotAFileIsAnErrorNotTheDefault) {
  for (const Kind& kind : kKinds) {
    SCOPED_TRACE(kind.name);
    ScratchDir scratch;
    const std::string dir = scratch.file("model");
    fs::copy(demo_model_dir(), dir, fs::copy_options::recursive);
    kind.make(dir + "/tokenizer.json");
    // The model still loads (token ids work without a tokenizer), but without
    // one, and the note that text prompts show says why.
    ql::engine::Engine engine;
    ASSERT_TRUE(engine.load(dir, {}).ok());
    EXPECT_FALSE(engine.info()->has_tokenizer) << "the default tokenizer replaced the model's broken one";
    EXPECT_TRUE(contains(engine.info()->tokenizer_note, dir + "/tokenizer.json")) << engine.info()->tokenizer_note;
    EXPECT_TRUE(contains(engine.info()->tokenizer_note, kind.said)) << engine.info()->tokenizer_note;
  }
}

TEST(HostileFiles, AFileBeyondTheLimitIsRefusedWithItsSize) {
  ScratchDir scratch;
  const std::string big = scratch.write("big.json", std::string(2000, ' '));
  auto r = ql::read_small_file(big, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), "is 0.0 MB, more than")) << r.message();
  EXPECT_TRUE(ql::read_small_file(big, 2000).ok());
}

TEST(HostileFiles, ADirectoryGivenAsAFileSaysSoNotInvalidJson) {
  ScratchDir scratch;
  fs::create_directory(scratch.file("prompts.json"));
  const auto r = ql::testing::run_cli({"compare", "--model", demo_model_dir(), "--precisions", "bf16", "--prompts",
                                       scratch.file("prompts.json")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "is a folder")) << r.err;
  EXPECT_FALSE(contains(r.err, "JSON")) << r.err;
}

TEST(HostileFiles, AnImageTooLargeToDecodeSaysItsSizeAndTheLimit) {
  ScratchDir scratch;
  QImage huge(18000, 18000, QImage::Format_Mono);  // 40 MB here, 1.2 GiB decoded to 32-bit pixels
  ASSERT_FALSE(huge.isNull());
  huge.fill(0);
  const std::string path = scratch.file("huge.png");
  ASSERT_TRUE(huge.save(QString::fromStdString(path)));
  auto r = ql::imageio::decode_image_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.message(), "18000 x 18000 pixels")) << r.message();
  EXPECT_TRUE(contains(r.message(), "1024 MiB")) << r.message();
}

}  // namespace
