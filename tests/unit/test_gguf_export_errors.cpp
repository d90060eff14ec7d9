// GGUF exports that must not happen, and exports that must stop: a vocabulary
// the tokenizer does not fit, an unknown precision, a NaN in the source, a
// cancellation (before the first tensor and in the middle) — each leaves no
// file behind. Also an fp32 source, which the converter rounds to bf16.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>

#include "core/io/gguf/gguf_reader.h"
#include "core/io/gguf_export.h"
#include "tests/unit/gguf_test_support.h"

namespace ql::io::gguf {
namespace {

namespace fs = std::filesystem;
using namespace ql::io::gguf::testing;
using model::testing::FakeTensor;

struct ExportRun {
  Status status;
  ExportResult result;
};

ExportRun export_with(const std::string& model_dir, const std::string& precision, const std::string& out,
                const ExportProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr,
                bool mmproj = true) {
  ExportRequest req;
  req.model_dir = model_dir;
  req.precision = precision;
  req.out_dir = out;
  req.gguf_mmproj = mmproj;
  fs::create_directories(out);
  ExportRun run;
  auto ck = model::Checkpoint::open(model_dir);
  if (!ck) return {ck.error(), {}};
  auto cfg = model::load_model_config(model_dir);
  if (!cfg) return {cfg.error(), {}};
  ExportContext ctx(progress, cancel, 0);
  run.status = write_gguf_export(req, *ck, *cfg, ctx, run.result);
  return run;
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// The tiny model of model_test_files.h (fp32 tensors) with its vocabulary
// grown to 300 rows and its dense layer 1 made MoE like the others (llama.cpp
// has no dense layers for this architecture), and a cut-down tokenizer: the
// 256 byte tokens and 2 added ones (a byte-level BPE needs every byte).
std::vector<FakeTensor> tiny_tensors_300() {
  auto tensors = model::testing::tiny_tensors();
  model::testing::find_fake(tensors, "model.language_model.embed_tokens.weight")->shape = {300, 40};
  model::testing::find_fake(tensors, "lm_head.weight")->shape = {300, 40};
  const std::string p = "model.language_model.layers.1.mlp.";
  for (const char* dense : {"gate_proj.weight", "up_proj.weight", "down_proj.weight"})
    model::testing::erase_fake(tensors, p + dense);
  tensors.push_back({p + "gate.weight", {6, 40}});
  tensors.push_back({p + "experts.gate_up_proj", {6, 40, 48}});
  tensors.push_back({p + "experts.down_proj", {6, 24, 40}});
  return tensors;
}

std::string write_tiny(const model::testing::TempDir& tmp, std::vector<FakeTensor> tensors,
                       bool dense_layer = false) {
  const std::string dir = tmp.sub("tiny");
  auto config = model::testing::tiny_config_json();
  config["text_config"]["vocab_size"] = 300;
  config["text_config"]["mlp_only_layers"] = dense_layer ? nlohmann::json::array({1}) : nlohmann::json::array();
  model::testing::write_model_folder(dir, config, tensors);
  model::testing::write_file(dir + "/tokenizer.json",
                             small_tokenizer_json(256, {{"<|endoftext|>", true}, {"<|im_end|>", true}}));
  model::testing::write_file(dir + "/preprocessor_config.json", R"({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})");
  return dir;
}

TEST(GgufExportErrors, TokenizerLargerThanTheVocabulary) {
  model::testing::TempDir tmp;
  // tiny-b has vocab_size 600 and no tokenizer.json: the Qwen tokenizer (151,669 ids) cannot fit.
  const ExportRun run = export_with(std::string(QL_TEST_DATA) + "/engine/tiny-b", "f16", tmp.path());
  ASSERT_FALSE(run.status);
  EXPECT_NE(run.status.message().find("vocab_size is 600"), std::string::npos) << run.status.message();
  EXPECT_NE(run.status.message().find("151669"), std::string::npos) << run.status.message();
  EXPECT_EQ(files_in(tmp.path()), 0u);
}

// tests/data/engine/tiny-c has a dense layer (mlp_only_layers [2]): llama.cpp's
// converter stops at its first dense tensor, and so does the export.
TEST(GgufExportErrors, DenseLayerIsRefusedLikeTheConverter) {
  model::testing::TempDir tmp;
  auto tensors = model::testing::tiny_tensors();
  model::testing::find_fake(tensors, "model.language_model.embed_tokens.weight")->shape = {300, 40};
  model::testing::find_fake(tensors, "lm_head.weight")->shape = {300, 40};
  const std::string dir = write_tiny(tmp, tensors, /*dense_layer=*/true);
  const ExportRun run = export_with(dir, "f16", tmp.file("out"));
  ASSERT_FALSE(run.status);
  const std::string& m = run.status.message();
  EXPECT_NE(m.find("model.language_model.layers.1.mlp."), std::string::npos) << m;
  EXPECT_NE(m.find("dense MLP"), std::string::npos) << m;
  EXPECT_EQ(files_in(tmp.file("out")), 0u);
}

TEST(GgufExportErrors, UnknownPrecision) {
  model::testing::TempDir tmp;
  const std::string dir = write_tiny(tmp, tiny_tensors_300());
  const ExportRun run = export_with(dir, "q3_k_s", tmp.file("out"));
  ASSERT_FALSE(run.status);
  EXPECT_NE(run.status.message().find("'q3_k_s'"), std::string::npos) << run.status.message();
  EXPECT_EQ(files_in(tmp.file("out")), 0u);
}

TEST(GgufExportErrors, NanInTheSourceNamesTheTensorAndLeavesNoFile) {
  model::testing::TempDir tmp;
  auto tensors = tiny_tensors_300();
  FakeTensor* q = model::testing::find_fake(tensors, "model.language_model.layers.2.self_attn.q_proj.weight");
  q->bytes = model::testing::fake_tensor_data(*q);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(q->bytes.data() + 4 * 45, &nan, 4);  // row 1, column 5 of [48, 40]
  const std::string dir = write_tiny(tmp, tensors);
  const ExportRun run = export_with(dir, "q8_0", tmp.file("out"));
  ASSERT_FALSE(run.status);
  const std::string& m = run.status.message();
  EXPECT_NE(m.find("blk.2.attn_q.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("layers.2.self_attn.q_proj.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("row 1, column 5"), std::string::npos) << m;
  EXPECT_EQ(files_in(tmp.file("out")), 0u);
}

TEST(GgufExportErrors, CancelledBeforeAndDuringLeavesNoFile) {
  model::testing::TempDir tmp;
  const std::string dir = write_tiny(tmp, tiny_tensors_300());

  std::atomic<bool> cancel{true};
  const ExportRun before = export_with(dir, "q4_k_m", tmp.file("before"), {}, &cancel);
  ASSERT_FALSE(before.status);
  EXPECT_EQ(before.status.message(), kExportCancelledMessage);
  EXPECT_EQ(files_in(tmp.file("before")), 0u);

  // Cancel when the mmproj file is being written: the text file is complete
  // by then, but no file may take its final name.
  cancel = false;
  size_t reports = 0;
  bool saw_mmproj = false;
  auto progress = [&](const ExportProgress& p) {
    ++reports;
    if (p.stage.find("mmproj") != std::string::npos) {
      saw_mmproj = true;
      cancel = true;
    }
  };
  const ExportRun during = export_with(dir, "f16", tmp.file("during"), progress, &cancel);
  ASSERT_FALSE(during.status);
  EXPECT_EQ(during.status.message(), kExportCancelledMessage);
  EXPECT_TRUE(saw_mmproj);
  EXPECT_GT(reports, 1u);
  EXPECT_EQ(files_in(tmp.file("during")), 0u);
  EXPECT_TRUE(during.result.files.empty());
}

// fp32 sources: F32 tensors are copied, 16-bit ones rounded to nearest even.
TEST(GgufExport, Fp32SourceIsRoundedLikeTheConverter) {
  model::testing::TempDir tmp;
  const std::string dir = write_tiny(tmp, tiny_tensors_300());
  const ExportRun run = export_with(dir, "bf16", tmp.file("out"));
  ASSERT_TRUE(run.status) << run.status.message();
  auto f = GgufFile::open(tmp.file("out/tiny-BF16.gguf"));
  ASSERT_TRUE(f) << f.message();
  // Element i of every fp32 tensor written by model_test_files.h is 0.25 * i.
  const GgufTensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_TRUE(emb);
  EXPECT_EQ(emb->type, GgmlType::kBF16);
  auto v = f->dequantize(*emb);
  ASSERT_EQ(v->size(), 300u * 40);
  for (size_t i = 0; i < v->size(); ++i)
    ASSERT_EQ((*v)[i], bf16_to_f32(f32_to_bf16(0.25f * static_cast<float>(i)))) << i;
  auto norm = f->dequantize(*f->find_tensor("output_norm.weight"));
  for (size_t i = 0; i < norm->size(); ++i) EXPECT_EQ((*norm)[i], 0.25f * static_cast<float>(i));
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->count(), 300u);
  EXPECT_EQ(f->find("tokenizer.ggml.token_type")->ints[257], 3u);
  EXPECT_EQ(f->find("tokenizer.ggml.token_type")->ints[258], 5u);
}

TEST(GgufExport, WithoutTheProjectorWritesOneFile) {
  model::testing::TempDir tmp;
  const std::string dir = write_tiny(tmp, tiny_tensors_300());
  const ExportRun run = export_with(dir, "q8_0", tmp.file("out"), {}, nullptr, /*mmproj=*/false);
  ASSERT_TRUE(run.status) << run.status.message();
  ASSERT_EQ(run.result.files.size(), 1u);
  EXPECT_EQ(run.result.files[0].path, tmp.file("out/tiny-Q8_0.gguf"));
  EXPECT_EQ(files_in(tmp.file("out")), 1u);
  for (const auto& t : run.result.tensors) EXPECT_EQ(t.file, "tiny-Q8_0.gguf") << t.name;
}

}  // namespace
}  // namespace ql::io::gguf
