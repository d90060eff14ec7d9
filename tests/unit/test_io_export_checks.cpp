// What export_model refuses before (or while) writing, and what it leaves
// behind then: the output folder equal to or inside the source (however it is
// spelled), a non-empty output folder, a bad precision, floats beyond fp16, a
// file system without room (injected free-space probe), a read-only
// destination (a child running as uid 65534) and a full one (a child with a
// file size limit: writes fail with EFBIG). Every error names the culprit; the
// source folder is never changed and no file is left behind.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/io/export.h"
#include "core/io/free_space.h"
#include "core/model/checkpoint.h"
#include "tests/unit/io_test_support.h"
#include "tests/unit/model_test_files.h"

namespace {

using namespace ql::io;
namespace mt = ql::model::testing;
namespace it = ql::io::testing;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string f32_bytes(const std::vector<float>& v) {
  std::string out(v.size() * 4, '\0');
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// A small valid checkpoint (model_test_files.h's tiny model, F32) in its own folder.
class ExportChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = tmp_.file("src");
    tensors_ = mt::tiny_tensors();
    write_source();
  }
  void write_source() {
    mt::write_model_folder(src_, mt::tiny_config_json(), tensors_);
    mt::write_file(src_ + "/generation_config.json", R"({"eos_token_id": 63})");
  }
  ExportRequest request(const std::string& out, const std::string& precision = "bf16") const {
    ExportRequest r;
    r.model_dir = src_;
    r.format = ExportFormat::kSafetensors;
    r.precision = precision;
    r.out_dir = out;
    return r;
  }
  // Runs an export that must fail with every fragment in its message.
  void expect_refused(const ExportRequest& r, std::initializer_list<std::string> fragments) {
    const auto before = it::snapshot(src_);
    auto result = export_model(r);
    ASSERT_FALSE(result.ok()) << "exported to " << r.out_dir;
    for (const auto& f : fragments)
      EXPECT_TRUE(contains(result.message(), f)) << result.message() << "\nmissing: " << f;
    EXPECT_EQ(result.message().find('\n'), std::string::npos);
    EXPECT_EQ(it::snapshot(src_), before) << "the source folder changed";
  }

  mt::TempDir tmp_;
  std::string src_;
  std::vector<mt::FakeTensor> tensors_;
};

TEST_F(ExportChecks, TheSourceFolderItselfIsRefusedHoweverSpelled) {
  fs::create_directory_symlink(src_, tmp_.file("link-to-src"));
  for (const std::string& out : {src_, src_ + "/", src_ + "/.", tmp_.file("src/../src"), tmp_.file("link-to-src")}) {
    SCOPED_TRACE(out);
    expect_refused(request(out), {out, "is the model folder"});
  }
}

TEST_F(ExportChecks, AFolderInsideTheSourceIsRefusedAndNotCreated) {
  fs::create_directory_symlink(src_, tmp_.file("link-to-src"));
  for (const std::string& out : {src_ + "/exports/bf16", tmp_.file("link-to-src/sub")}) {
    SCOPED_TRACE(out);
    expect_refused(request(out), {out, "inside the model folder"});
  }
  EXPECT_FALSE(fs::exists(src_ + "/exports"));
  EXPECT_FALSE(fs::exists(src_ + "/sub"));
}

TEST_F(ExportChecks, ANonEmptyOutputFolderIsRefusedAndLeftAsItWas) {
  const std::string out = tmp_.sub("out");
  mt::write_file(out + "/keep.txt", "mine");
  expect_refused(request(out), {out, "not empty", "keep.txt"});
  EXPECT_EQ(mt::read_file(out + "/keep.txt"), "mine");
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator()), 1);
}

TEST_F(ExportChecks, AnOutputPathThatIsAFileIsRefused) {
  mt::write_file(tmp_.file("a-file"), "x");
  expect_refused(request(tmp_.file("a-file")), {tmp_.file("a-file"), "not a folder"});
}

TEST_F(ExportChecks, APrecisionOfAnotherFormatIsRefusedListingTheValidOnes) {
  expect_refused(request(tmp_.file("out"), "q4_k_m"), {"q4_k_m", "safetensors", "bf16, fp16"});
  EXPECT_FALSE(fs::exists(tmp_.file("out")));
  auto format = parse_export_format("onnx");
  ASSERT_FALSE(format.ok());
  EXPECT_TRUE(contains(format.message(), "onnx"));
  EXPECT_TRUE(contains(format.message(), "gguf, bnb or safetensors"));
  EXPECT_EQ(canonical_export_precision(ExportFormat::kSafetensors, "FP16").value(), "fp16");
  EXPECT_EQ(canonical_export_precision(ExportFormat::kSafetensors, "float16").value(), "fp16");
  EXPECT_EQ(canonical_export_precision(ExportFormat::kGguf, "Q4_K_M").value(), "q4_k_m");
  EXPECT_FALSE(canonical_export_precision(ExportFormat::kBnb, "fp16").ok());
}

TEST_F(ExportChecks, ASourceWithoutWeightsIsRefusedNamingIt) {
  fs::remove(src_ + "/model.safetensors");
  expect_refused(request(tmp_.file("out")), {src_, "no weights"});
  EXPECT_FALSE(fs::exists(tmp_.file("out")));
}

TEST_F(ExportChecks, AValueBeyondFp16IsRefusedNamingTheTensorAndNothingIsWritten) {
  const std::string name = "model.language_model.layers.2.mlp.experts.down_proj";
  mt::FakeTensor* t = mt::find_fake(tensors_, name);
  std::vector<float> v(static_cast<size_t>(mt::fake_numel(t->shape)), 0.5f);
  v[7] = -70000.0f;
  v[9] = 1e6f;
  t->bytes = f32_bytes(v);
  write_source();
  expect_refused(request(tmp_.file("out"), "fp16"), {name, "2 values beyond float16", "-70000", "element 7"});
  EXPECT_FALSE(fs::exists(tmp_.file("out")));

  // bf16 holds them: the same source exports.
  auto bf16 = export_model(request(tmp_.file("out-bf16"), "bf16"));
  EXPECT_TRUE(bf16.ok()) << bf16.message();
}

TEST_F(ExportChecks, TheLargestValuesThatRoundToFp16MaxAreAccepted) {
  const std::string name = "model.language_model.norm.weight";
  mt::FakeTensor* t = mt::find_fake(tensors_, name);
  std::vector<float> v(static_cast<size_t>(mt::fake_numel(t->shape)), 1.0f);
  v[0] = 65519.0f;  // below 65520, the midpoint to the next (infinite) step: rounds to 65504
  v[1] = -65504.0f;
  t->bytes = f32_bytes(v);
  write_source();
  auto result = export_model(request(tmp_.file("out"), "fp16"));
  ASSERT_TRUE(result.ok()) << result.message();
  auto ckpt = ql::model::Checkpoint::open(tmp_.file("out"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.message();
  const auto w = ckpt->find(name);
  ASSERT_TRUE(w.has_value());
  uint16_t h0, h1;
  std::memcpy(&h0, w->data, 2);
  std::memcpy(&h1, w->data + 2, 2);
  EXPECT_EQ(h0, 0x7bffu);  // 65504
  EXPECT_EQ(h1, 0xfbffu);  // -65504
}

TEST_F(ExportChecks, TooLittleFreeSpaceIsRefusedBeforeTheFolderIsMade) {
  std::string probed;
  {
    ScopedFreeSpaceProbe probe([&](const std::string& folder) -> ql::Result<uint64_t> {
      probed = folder;
      return uint64_t{1000};
    });
    expect_refused(request(tmp_.file("new/out")), {tmp_.file("new/out"), "not enough free disk space", "1000 bytes"});
  }
  EXPECT_EQ(probed, fs::canonical(tmp_.path()).string());  // the deepest folder that exists
  EXPECT_FALSE(fs::exists(tmp_.file("new")));

  auto estimate = estimate_export(request(tmp_.file("new/out")));
  ASSERT_TRUE(estimate.ok()) << estimate.message();
  ScopedFreeSpaceProbe roomy(
      [&](const std::string&) -> ql::Result<uint64_t> { return estimate->total_bytes + (uint64_t{1} << 30); });
  auto result = export_model(request(tmp_.file("new/out")));
  EXPECT_TRUE(result.ok()) << result.message();
}

TEST_F(ExportChecks, AFailureLeavesAnExistingEmptyOutputFolderEmpty) {
  const std::string out = tmp_.sub("empty-out");
  ScopedFreeSpaceProbe probe([](const std::string&) -> ql::Result<uint64_t> { return uint64_t{0}; });
  expect_refused(request(out), {"not enough free disk space"});
  ASSERT_TRUE(fs::is_directory(out));
  EXPECT_TRUE(fs::is_empty(out));
}

TEST_F(ExportChecks, AReadOnlyDestinationIsRefusedWithTheReason) {
  it::open_to_others(src_);
  for (const auto& f : fs::directory_iterator(src_)) it::open_to_others(f.path());
  const std::string parent = tmp_.sub("root-only");  // 0755 root: nobody may not write in it
  const std::string existing = tmp_.sub("root-only-empty");
  it::open_to_others(parent);
  it::open_to_others(existing);
  const auto before = it::snapshot(src_);
  for (const std::string& out : {parent + "/new", existing}) {
    SCOPED_TRACE(out);
    const auto outcome = it::run_in_child(it::drop_to_nobody, [&] {
      auto r = export_model(request(out));
      return r.ok() ? std::string("exported") : r.message();
    });
    ASSERT_TRUE(outcome.ran) << outcome.failure;
    EXPECT_TRUE(contains(outcome.message, out)) << outcome.message;
    EXPECT_TRUE(contains(outcome.message, "cannot write")) << outcome.message;
    EXPECT_TRUE(contains(outcome.message, "Permission denied")) << outcome.message;
  }
  EXPECT_FALSE(fs::exists(parent + "/new"));
  EXPECT_TRUE(fs::is_empty(existing));
  EXPECT_EQ(it::snapshot(src_), before);
}

TEST_F(ExportChecks, AFullDestinationFailsNamingTheFileAndLeavesNothing) {
  const auto before = it::snapshot(src_);
  const std::string out = tmp_.file("full/out");
  const auto outcome = it::run_in_child(it::limit_file_size(16 * 1024), [&] {
    auto r = export_model(request(out));
    return r.ok() ? std::string("exported") : r.message();
  });
  ASSERT_TRUE(outcome.ran) << outcome.failure;
  EXPECT_TRUE(contains(outcome.message, out + "/model.safetensors")) << outcome.message;
  EXPECT_TRUE(contains(outcome.message, "File too large")) << outcome.message;
  EXPECT_FALSE(fs::exists(tmp_.file("full")));  // the folders it made are gone too
  EXPECT_EQ(it::snapshot(src_), before);
}

}  // namespace
