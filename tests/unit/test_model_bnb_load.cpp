// Our loader reading our bitsandbytes export back (issue 6): the Engine on
// the exported folder gives the logits of the source loaded in-app with the
// policy that quantizes the same modules ("attention=F,vision=F"); weight by
// weight, every pre-quantized module is exactly core/quant's quantization of
// the source tensor (no re-quantization on load, the vision qkv one fused
// weight as bitsandbytes made it) and every 16-bit tensor the source's;
// pre-quantized modules keep their format whatever precision is asked, and
// ModelInfo and `quantlens-cli info` say what the folder is.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "core/backend/cpu_backend.h"
#include "core/backend/cpu_weight.h"
#include "core/backend/cpu_weight_decode.h"
#include "core/engine/engine.h"
#include "core/model/bnb_validation.h"
#include "core/model/checkpoint.h"
#include "core/model/model_weights.h"
#include "core/quant/precision_policy.h"
#include "tests/unit/bnb_test_support.h"
#include "tests/unit/model_test_files.h"
#include "ui/imageio/image_decode.h"

namespace ql {
namespace {

using engine::testing::engine_image;
using engine::testing::find_case;
using engine::testing::read_cases;
using model::testing::TempDir;
using Ids = std::vector<int32_t>;

// ---- logits through the Engine ------------------------------------------------

struct Run {
  std::map<int64_t, std::vector<float>> logits;
  Ids generated;
};

Run run_case(engine::Engine& e, const nlohmann::json& c) {
  engine::GenerationRequest r;
  engine::TokenPrompt t{c["input_ids"].get<Ids>(), {}};
  for (const auto& f : c["images"]) t.images.push_back(engine::ImageInput::file(engine_image(f.get<std::string>())));
  r.prompt = std::move(t);
  r.sampling.temperature = 0;
  r.max_new_tokens = 4;
  r.ignore_eos = true;
  r.logit_rows.all = true;
  auto result = e.generate(r);
  EXPECT_TRUE(result.ok()) << result.message();
  if (!result.ok()) return {};
  return {result->logits, result->generated_ids};
}

// The export loaded by the Engine against the source loaded with the policy
// that quantizes exactly bitsandbytes' modules: attention and vision. (tiny-c
// is left out: bitsandbytes also quantizes its dense MLP layer, which no
// policy key separates from the experts; its weights are compared one by one
// below.) Both load with that policy; the export's pre-quantized modules keep
// their stored format, the rest is converted alike.
void expect_same_logits(const std::string& checkpoint, const std::string& format, bool text_only) {
  SCOPED_TRACE(checkpoint + " " + format);
  TempDir tmp;
  const std::string out = tmp.file("export");
  auto exported = bnb_testing::export_bnb(bnb_testing::checkpoint_dir(checkpoint), out, format);
  ASSERT_TRUE(exported.ok()) << exported.message();
  const std::string policy = fmt::format("attention={},vision={}", format, format);
  engine::LoadOptions options;
  options.precision = policy;
  engine::Engine from_export{&imageio::decode_image_file}, in_app{&imageio::decode_image_file};
  ASSERT_TRUE(from_export.load(out, options).ok());
  ASSERT_TRUE(in_app.load(bnb_testing::checkpoint_dir(checkpoint), options).ok());

  const auto cases = read_cases(checkpoint);
  size_t compared = 0;
  for (const auto& c : cases["cases"]) {
    if (text_only && !c["images"].empty()) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    const Run a = run_case(from_export, c), b = run_case(in_app, c);
    ASSERT_EQ(a.logits.size(), b.logits.size());
    ASSERT_FALSE(a.logits.empty());
    float scale = 0, worst = 0;
    for (const auto& [row, la] : a.logits) {
      const auto& lb = b.logits.at(row);
      ASSERT_EQ(la.size(), lb.size());
      for (size_t i = 0; i < la.size(); ++i) {
        scale = std::max(scale, std::fabs(lb[i]));
        worst = std::max(worst, std::fabs(la[i] - lb[i]));
      }
    }
    EXPECT_LE(worst, 1e-5f * scale) << "max |logit difference| " << worst << " of " << scale;
    EXPECT_EQ(a.generated, b.generated);
    ++compared;
  }
  EXPECT_GE(compared, text_only ? 1u : 5u);
}

// LLM.int8 is row-wise, so the fused vision qkv quantized whole (bitsandbytes)
// or as three parts (the in-app loader) gives the same codes: every case,
// images included, matches.
TEST(BnbLoad, Int8ExportGivesTheInAppLogits) {
  expect_same_logits("demo", "int8", false);
  expect_same_logits("tiny-b", "int8", false);
}

// NF4's blocks and double quantization run over the whole fused qkv in
// bitsandbytes' file but over each part in the in-app loader, so only
// text-only prompts (no vision tower) are the same model; the vision weights
// are checked one by one in PreQuantizedModulesAreTheQuantizationOfTheSource.
TEST(BnbLoad, Nf4ExportGivesTheInAppLogitsForText) {
  expect_same_logits("demo", "nf4", true);
  expect_same_logits("tiny-b", "nf4", true);
}

// ---- weight by weight -----------------------------------------------------------

struct LoadedWeights {
  std::unique_ptr<backend::Backend> backend;
  std::unique_ptr<model::Checkpoint> checkpoint;
  model::ModelConfig config;
  model::ModelWeights weights;
};

Result<LoadedWeights> load_weights(const std::string& dir, const std::string& precision) {
  LoadedWeights l;
  l.backend = backend::make_cpu_backend(1);
  QL_ASSIGN_OR_RETURN(l.config, model::load_model_config(dir));
  QL_ASSIGN_OR_RETURN(model::Checkpoint ckpt, model::Checkpoint::open(dir));
  l.checkpoint = std::make_unique<model::Checkpoint>(std::move(ckpt));
  const model::ValidationReport report = model::validate_model_checkpoint(*l.checkpoint, l.config);
  if (!report.ok()) return err("{}", report.summary());
  model::WeightLoadOptions options;
  QL_ASSIGN_OR_RETURN(quant::PrecisionChoice choice, quant::parse_precision(precision));
  options.policy = choice.policy;
  const auto source = model::checkpoint_source(*l.checkpoint);
  QL_ASSIGN_OR_RETURN(l.weights, model::load_model_weights(l.config, *source, l.checkpoint.get(), &report, *l.backend,
                                                           options, {}, nullptr));
  return l;
}

// Matrix `m` of a weight (of a stack of experts), decoded.
std::vector<float> decoded(const backend::WeightPtr& w, int64_t m = 0) {
  const auto& cw = backend::cpu::weight_arg(*w, "test", "w").matrix(m);
  std::vector<float> out(static_cast<size_t>(cw.rows() * cw.cols()));
  backend::cpu::decode_rows(cw, 0, cw.rows(), out.data());
  return out;
}

// One loaded matrix and the source tensor rows it should hold.
struct Matrix {
  const backend::WeightPtr* weight;
  std::string tensor;
  int64_t first_row = 0;  // the vision qkv parts: 0, d, 2d
};

std::vector<Matrix> quantizable_matrices(const LoadedWeights& l) {
  std::vector<Matrix> out;
  const auto& w = l.weights;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const std::string p = fmt::format("model.language_model.layers.{}.", i);
    const auto& L = w.layers[i];
    out.push_back({&L.q, p + "self_attn.q_proj.weight"});
    out.push_back({&L.k, p + "self_attn.k_proj.weight"});
    out.push_back({&L.v, p + "self_attn.v_proj.weight"});
    out.push_back({&L.o, p + "self_attn.o_proj.weight"});
    if (!L.is_moe) {
      out.push_back({&L.mlp.gate, p + "mlp.gate_proj.weight"});
      out.push_back({&L.mlp.up, p + "mlp.up_proj.weight"});
      out.push_back({&L.mlp.down, p + "mlp.down_proj.weight"});
    }
  }
  const int64_t d = l.config.vision.hidden_size;
  for (size_t b = 0; b < w.blocks.size(); ++b) {
    const std::string p = fmt::format("model.visual.blocks.{}.", b);
    const auto& B = w.blocks[b];
    out.push_back({&B.q.w, p + "attn.qkv.weight", 0});
    out.push_back({&B.k.w, p + "attn.qkv.weight", d});
    out.push_back({&B.v.w, p + "attn.qkv.weight", 2 * d});
    out.push_back({&B.proj.w, p + "attn.proj.weight"});
    out.push_back({&B.fc1.w, p + "mlp.linear_fc1.weight"});
    out.push_back({&B.fc2.w, p + "mlp.linear_fc2.weight"});
  }
  out.push_back({&w.merger.fc1.w, "model.visual.merger.linear_fc1.weight"});
  out.push_back({&w.merger.fc2.w, "model.visual.merger.linear_fc2.weight"});
  for (size_t k = 0; k < w.deepstack.size(); ++k) {
    const std::string p = fmt::format("model.visual.deepstack_merger_list.{}.", k);
    out.push_back({&w.deepstack[k].fc1.w, p + "linear_fc1.weight"});
    out.push_back({&w.deepstack[k].fc2.w, p + "linear_fc2.weight"});
  }
  return out;
}

quant::SourceTensor source_of(const model::TensorView& t) {
  const auto dtype = t.dtype == model::DType::kF32 ? quant::SourceDType::kF32 : quant::SourceDType::kBF16;
  return quant::SourceTensor{t.name, dtype, t.data, t.shape[0], t.shape[1]};
}

// `requested`: the precision asked for at load; the pre-quantized modules
// must keep the export's format whatever it says.
void expect_prequantized_weights(const std::string& checkpoint, const std::string& format,
                                 const std::string& requested) {
  SCOPED_TRACE(checkpoint + " " + format + " loaded at " + requested);
  TempDir tmp;
  const std::string src_dir = bnb_testing::checkpoint_dir(checkpoint), out = tmp.file("export");
  ASSERT_TRUE(bnb_testing::export_bnb(src_dir, out, format).ok());
  auto loaded = load_weights(out, requested);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  auto source = model::Checkpoint::open(src_dir);
  ASSERT_TRUE(source.ok());
  const auto qformat = format == "nf4" ? quant::QuantFormat::kNf4 : quant::QuantFormat::kInt8Rowwise;
  const auto backend_format = format == "nf4" ? backend::WeightFormat::kNF4 : backend::WeightFormat::kInt8Rowwise;

  size_t checked = 0;
  for (const Matrix& m : quantizable_matrices(*loaded)) {
    SCOPED_TRACE(m.tensor);
    ASSERT_TRUE(bnb_testing::spec_says_quantized(m.tensor));
    const auto src = source->find(m.tensor);
    ASSERT_TRUE(src.has_value());
    auto whole = quant::quantize(source_of(*src), qformat);  // as bitsandbytes: the tensor whole
    ASSERT_TRUE(whole.ok()) << whole.message();
    const std::vector<float> got = decoded(*m.weight);
    const int64_t cols = src->shape[1], rows = static_cast<int64_t>(got.size()) / cols;
    std::vector<float> want(got.size());
    (*whole)->decode_rows(m.first_row, rows, want.data());
    EXPECT_EQ((*m.weight)->format(), backend_format);
    EXPECT_EQ(got, want);
    ++checked;
  }
  EXPECT_GE(checked, 20u);

  // The 16-bit tensors: the export's loaded as the source's at bf16 (an f32
  // source was exported as bf16, so other formats would start from
  // different values).
  if (requested != "bf16") return;
  auto reference = load_weights(src_dir, requested);
  ASSERT_TRUE(reference.ok()) << reference.message();
  const auto& a = loaded->weights;
  const auto& b = reference->weights;
  EXPECT_EQ(decoded(a.embed_tokens), decoded(b.embed_tokens));
  EXPECT_EQ(decoded(a.lm_head), decoded(b.lm_head));
  EXPECT_EQ(decoded(a.pos_embed), decoded(b.pos_embed));
  EXPECT_EQ(decoded(a.patch_embed.w), decoded(b.patch_embed.w));
  EXPECT_EQ(decoded(a.blocks[0].q.b), decoded(b.blocks[0].q.b));
  for (size_t i = 0; i < a.layers.size(); ++i) {
    if (!a.layers[i].is_moe) continue;
    EXPECT_EQ(decoded(a.layers[i].moe.router), decoded(b.layers[i].moe.router));
    const int64_t last = a.layers[i].moe.gate_up->stack() - 1;
    EXPECT_EQ(decoded(a.layers[i].moe.gate_up, last), decoded(b.layers[i].moe.gate_up, last));
    EXPECT_EQ(decoded(a.layers[i].moe.down, 0), decoded(b.layers[i].moe.down, 0));
  }
}

TEST(BnbLoad, PreQuantizedModulesAreTheQuantizationOfTheSource) {
  for (const char* checkpoint : {"demo", "tiny-b", "tiny-c"})
    for (const char* format : {"int8", "nf4"}) expect_prequantized_weights(checkpoint, format, "bf16");
}

// Asking for another format does not re-quantize a stored module; the
// 16-bit tensors follow the request (experts here).
TEST(BnbLoad, PreQuantizedModulesKeepTheirFormatUnderAnyPrecision) {
  expect_prequantized_weights("tiny-c", "int8", "nf4");
  expect_prequantized_weights("tiny-b", "nf4", "int8,norms=fp16");
  TempDir tmp;
  ASSERT_TRUE(bnb_testing::export_bnb(bnb_testing::checkpoint_dir("demo"), tmp.file("int8"), "int8").ok());
  auto loaded = load_weights(tmp.file("int8"), "nf4");
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  EXPECT_EQ(loaded->weights.layers[0].moe.gate_up->format(), backend::WeightFormat::kNF4);
  EXPECT_EQ(loaded->weights.layers[0].q->format(), backend::WeightFormat::kInt8Rowwise);
}

TEST(BnbLoad, ModelInfoSaysWhatWasLoaded) {
  TempDir tmp;
  ASSERT_TRUE(bnb_testing::export_bnb(bnb_testing::demo_model_dir(), tmp.file("int8"), "int8").ok());
  // One .SCB row-scale tensor per pre-quantized matrix (bitsandbytes' int8 layout).
  auto ck = model::Checkpoint::open(tmp.file("int8"));
  ASSERT_TRUE(ck.ok()) << ck.message();
  int matrices = 0;
  for (const auto& t : ck->tensors()) matrices += t.name.ends_with(".SCB");
  const std::string stored = fmt::format(
      "(bitsandbytes int8 checkpoint: {} pre-quantized matrices of attention, vision keep their stored int8)", matrices);
  engine::Engine e;
  ASSERT_TRUE(e.load(tmp.file("int8")).ok());
  // The demo model is bf16: no precision = bf16, with attention and vision as stored.
  EXPECT_EQ(e.info()->precision,
            "vision=int8,attention=int8,router=bf16,experts=bf16,embeddings=bf16,lm_head=bf16,norms=bf16 " + stored);
  engine::LoadOptions o;
  o.precision = "nf4";
  ASSERT_TRUE(e.load(tmp.file("int8"), o).ok());
  EXPECT_EQ(e.info()->precision,
            "vision=int8,attention=int8,router=bf16,experts=nf4,embeddings=bf16,lm_head=bf16,norms=bf16 " + stored);
  EXPECT_GT(matrices, 0);
}

TEST(BnbLoad, InfoCommandNamesTheBitsandbytesFormat) {
  TempDir tmp;
  const std::string out = tmp.file("nf4");
  ASSERT_TRUE(bnb_testing::export_bnb(bnb_testing::checkpoint_dir("tiny-c"), out, "nf4").ok());
  auto text = ql::testing::run_cli({"info", out});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  // tiny-c: 4 layers x 4 attention + 3 dense MLP + 4 vision blocks x 4 + merger 2 + 2 deepstack x 2 = 41.
  EXPECT_NE(text.out.find("Quantization   bitsandbytes nf4 checkpoint (NF4, double quantization): 41 Linear "
                          "modules stored quantized (attention, dense_mlp, vision); skipped: [lm_head]"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("all "), std::string::npos) << text.out;

  auto json = ql::testing::run_cli({"info", out, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["quantization"]["method"], "bitsandbytes");
  EXPECT_EQ(j["quantization"]["format"], "nf4");
  EXPECT_EQ(j["quantization"]["quantized_modules"].size(), 41u);
  EXPECT_TRUE(j["validation"]["ok"].get<bool>());

  auto plain = ql::testing::run_cli({"info", bnb_testing::checkpoint_dir("tiny-c"), "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_TRUE(nlohmann::json::parse(plain.out)["quantization"].is_null());
}

}  // namespace
}  // namespace ql
