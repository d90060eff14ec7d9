// bitsandbytes-format export (docs/formats.md §6, §7) of the three tiny
// checkpoints, int8 and nf4, read back from the files: every tensor's name,
// dtype and shape against the list derived here from §6; the 16-bit tensors
// the source's values (byte for byte where no conversion is due); the
// quantized ones decoded here (not with core/quant) and held to the format's
// error bound, the NF4 codes to the nearest level; the reported errors;
// config.json's quantization_config as §6.4 prints it.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/model/model_config.h"
#include "tests/unit/bnb_test_support.h"
#include "tests/unit/model_test_files.h"

namespace ql {
namespace {

namespace fs = std::filesystem;
using bnb_testing::as_f32;
using bnb_testing::ExpectedTensor;
using bnb_testing::floats_of;
using model::testing::TempDir;

struct Case {
  std::string checkpoint, precision;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.checkpoint << " " << c.precision; }
std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = info.param.checkpoint + "_" + info.param.precision;
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

class BnbExport : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const std::string src = bnb_testing::checkpoint_dir(GetParam().checkpoint);
    auto config = model::load_model_config(src);
    ASSERT_TRUE(config.ok()) << config.message();
    config_ = *config;
    auto source = model::Checkpoint::open(src);
    ASSERT_TRUE(source.ok()) << source.message();
    source_.emplace(std::move(source).value());
    out_ = tmp_.file("export");
    auto result = bnb_testing::export_bnb(src, out_, GetParam().precision);
    ASSERT_TRUE(result.ok()) << result.message();
    result_ = *result;
    auto exported = model::Checkpoint::open(out_);
    ASSERT_TRUE(exported.ok()) << exported.message();
    exported_.emplace(std::move(exported).value());
  }

  const io::TensorExportReport* report(const std::string& name) const {
    for (const auto& r : result_.tensors)
      if (r.name == name) return &r;
    return nullptr;
  }

  TempDir tmp_;
  std::string out_;
  model::ModelConfig config_;
  std::optional<model::Checkpoint> source_, exported_;
  io::ExportResult result_;
};

TEST_P(BnbExport, EveryTensorHasTheNameDtypeAndShapeOfTheSpec) {
  const auto expected = bnb_testing::expected_export(*source_, GetParam().precision, config_.text.hidden_size,
                                                     config_.text.moe_intermediate_size);
  std::set<std::string> seen;
  for (const auto& t : exported_->tensors()) {
    const std::string name(t.name);
    seen.insert(name);
    auto it = expected.find(name);
    ASSERT_NE(it, expected.end()) << "unexpected tensor " << name;
    EXPECT_EQ(model::dtype_name(t.dtype), it->second.dtype) << name;
    const std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
    if (it->second.shape == std::vector<int64_t>{-1}) {  // quant-state JSON: one byte per character
      ASSERT_EQ(shape.size(), 1u) << name;
      EXPECT_GT(shape[0], 100) << name;
    } else {
      EXPECT_EQ(shape, it->second.shape) << name;
    }
  }
  EXPECT_EQ(seen.size(), expected.size());
  for (const auto& [name, e] : expected) EXPECT_TRUE(seen.count(name)) << "missing " << name;
  for (const auto& shard : exported_->shards()) EXPECT_EQ(shard.metadata().at("format"), "pt") << shard.path();
  // Every tensor written is reported once.
  EXPECT_EQ(result_.tensors.size(), expected.size());
}

TEST_P(BnbExport, SixteenBitTensorsKeepTheSourceValues) {
  size_t checked = 0;
  for (const auto& src : source_->tensors()) {
    const std::string name(src.name);
    if (bnb_testing::spec_says_quantized(name)) continue;
    const auto out = exported_->find(name);
    ASSERT_TRUE(out.has_value()) << name;
    ++checked;
    const bool same_shape = std::equal(src.shape.begin(), src.shape.end(), out->shape.begin(), out->shape.end());
    if (src.dtype == model::DType::kBF16 && same_shape) {
      EXPECT_EQ(bnb_testing::bytes_of(*out), bnb_testing::bytes_of(src)) << name << " is not a byte copy";
      continue;
    }
    const std::vector<float> x = as_f32(src), y = as_f32(*out);
    ASSERT_EQ(x.size(), y.size()) << name;
    if (!same_shape) {  // a fused expert stored [E, out, in]: written [E, in, out]
      const int64_t e = src.shape[0], a = src.shape[1], b = src.shape[2];
      ASSERT_EQ(out->shape[1], b) << name;
      for (int64_t k = 0; k < e; ++k)
        for (int64_t i = 0; i < a; ++i)
          for (int64_t j = 0; j < b; ++j)
            ASSERT_EQ(y[(k * b + j) * a + i], x[(k * a + i) * b + j])
                << name << " [" << k << "," << i << "," << j << "]";
      continue;
    }
    // An f32 source written as bf16: within half a bf16 unit in the last place.
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_LE(std::fabs(y[i] - x[i]), std::fabs(x[i]) * std::ldexp(1.0f, -8)) << name << "[" << i << "]";
  }
  EXPECT_GT(checked, 20u);
}

// §7.1 decoded here: W ~= CB * SCB / 127, SCB the row absmax of fp16(W).
void check_int8_module(const model::TensorView& src, const model::Checkpoint& ckpt, const std::string& m,
                       double& err_sq, double& src_sq) {
  const int64_t rows = src.shape[0], cols = src.shape[1];
  const auto codes = ckpt.find(m + ".weight");
  const auto scb_t = ckpt.find(m + ".SCB");
  const auto format = ckpt.find(m + ".weight_format");
  ASSERT_TRUE(codes && scb_t && format) << m;
  EXPECT_EQ(format->data[0], 0) << m << ": weight_format must be 0 (row)";
  const std::vector<float> x = as_f32(src), scb = floats_of(*scb_t);
  for (int64_t r = 0; r < rows; ++r) {
    float absmax = 0;
    for (int64_t c = 0; c < cols; ++c)
      absmax = std::max(absmax, std::fabs(f16_to_f32(f32_to_f16(x[r * cols + c]))));
    ASSERT_EQ(scb[r], absmax) << m << ".SCB[" << r << "]";
    for (int64_t c = 0; c < cols; ++c) {
      const float xv = x[r * cols + c], x16 = f16_to_f32(f32_to_f16(xv));
      const int code = static_cast<int8_t>(codes->data[r * cols + c]);
      const double scaled = absmax > 0 ? static_cast<double>(x16) * 127.0 / absmax : 0.0;
      ASSERT_LE(std::fabs(code - scaled), 0.5 + 1e-4) << m << " row " << r << " col " << c;
      const double decoded = static_cast<double>(code) * scb[r] / 127.0;
      err_sq += (decoded - xv) * (decoded - xv);
      src_sq += static_cast<double>(xv) * xv;
    }
  }
}

// §7.2-7.3 decoded here: w = quant_map[code] * (nested_map[absmax code] *
// nested_absmax[block / 256] + offset), codes two per byte, first element high.
void check_nf4_module(const model::TensorView& src, const model::Checkpoint& ckpt, const std::string& m,
                      double& err_sq, double& src_sq) {
  const std::string w = m + ".weight";
  const auto packed = ckpt.find(w), absmax_t = ckpt.find(w + ".absmax"), qm_t = ckpt.find(w + ".quant_map");
  const auto nabs_t = ckpt.find(w + ".nested_absmax"), nqm_t = ckpt.find(w + ".nested_quant_map");
  const auto state_t = ckpt.find(w + ".quant_state.bitsandbytes__nf4");
  ASSERT_TRUE(packed && absmax_t && qm_t && nabs_t && nqm_t && state_t) << m;
  EXPECT_EQ(floats_of(*qm_t), bnb_testing::nf4_levels()) << m << ": quant_map is not the NF4 table of §7.2";
  const std::vector<float> nqm = floats_of(*nqm_t), nabs = floats_of(*nabs_t);
  // §7.3's map: 0 at 127, 1.0 at 255, ascending, 128..254 mirror 126..0.
  ASSERT_EQ(nqm.size(), 256u);
  EXPECT_EQ(nqm[127], 0.0f);
  EXPECT_EQ(nqm[255], 1.0f);
  EXPECT_NEAR(nqm[0], -0.992968738f, 1e-7f);
  EXPECT_NEAR(nqm[64], -0.0985937491f, 1e-8f);
  double max_gap = 0;
  for (int i = 1; i < 256; ++i) {
    ASSERT_LT(nqm[i - 1], nqm[i]) << i;
    max_gap = std::max(max_gap, static_cast<double>(nqm[i]) - nqm[i - 1]);
  }
  for (int j = 0; j < 127; ++j) EXPECT_EQ(nqm[128 + j], -nqm[126 - j]) << j;

  const auto state = nlohmann::json::parse(bnb_testing::bytes_of(*state_t));
  const float offset = state.at("nested_offset").get<float>();
  const std::vector<float> x = as_f32(src);
  const int64_t n = static_cast<int64_t>(x.size()), blocks = bnb_testing::ceil_div(n, 64);
  double absmax_sum = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    float a = 0;
    for (int64_t i = b * 64; i < std::min(n, b * 64 + 64); ++i) a = std::max(a, std::fabs(x[i]));
    absmax_sum += a;
    const double dq = static_cast<double>(nqm[absmax_t->data[b]]) * nabs[b / 256] + offset;
    ASSERT_LE(std::fabs(dq - a), max_gap / 2 * nabs[b / 256] + 1e-6 * a) << m << " absmax of block " << b;
    for (int64_t i = b * 64; i < std::min(n, b * 64 + 64); ++i) {
      const uint8_t byte = packed->data[i / 2];
      const int code = i % 2 == 0 ? byte >> 4 : byte & 0x0f;
      const double level = bnb_testing::nf4_levels()[code];
      if (a == 0) {
        ASSERT_EQ(level, 0.0) << m << "[" << i << "]: an all-zero block must decode to zeros";
      } else {
        const double s = x[i] / static_cast<double>(a);
        double nearest = std::numeric_limits<double>::max();
        for (float l : bnb_testing::nf4_levels()) nearest = std::min(nearest, std::fabs(s - l));
        ASSERT_LE(std::fabs(s - level), nearest + 1e-6) << m << "[" << i << "]: code " << code << " is not nearest";
      }
      const double decoded = level * dq;
      // Half the widest gap between NF4 levels (-1 .. -0.696) times the block's absmax.
      ASSERT_LE(std::fabs(decoded - x[i]), 0.1520 * a + std::fabs(dq - a) + 1e-7) << m << "[" << i << "]";
      err_sq += (decoded - x[i]) * (decoded - x[i]);
      src_sq += static_cast<double>(x[i]) * x[i];
    }
  }
  // nested_offset is the mean of the block absmax, an fp32 value.
  EXPECT_EQ(offset, static_cast<float>(absmax_sum / static_cast<double>(blocks))) << m;
}

TEST_P(BnbExport, QuantizedModulesDecodeWithinTheFormatsBound) {
  size_t modules = 0;
  for (const auto& src : source_->tensors()) {
    const std::string name(src.name);
    if (!bnb_testing::spec_says_quantized(name)) continue;
    const std::string m = name.substr(0, name.size() - 7);
    SCOPED_TRACE(m);
    double err_sq = 0, src_sq = 0;
    if (GetParam().precision == "int8") {
      check_int8_module(src, *exported_, m, err_sq, src_sq);
    } else {
      check_nf4_module(src, *exported_, m, err_sq, src_sq);
    }
    if (HasFatalFailure()) return;
    ++modules;
    const double rel = std::sqrt(err_sq / src_sq);
    const auto* r = report(name);
    ASSERT_NE(r, nullptr);
    EXPECT_NEAR(r->rel_rmse, rel, 1e-5 * rel) << "the reported error is not the decoded values' error";
    EXPECT_LT(rel, GetParam().precision == "int8" ? 0.01 : 0.15);
    EXPECT_GT(rel, 0.0);
    EXPECT_EQ(r->inapp_format, GetParam().precision);
  }
  EXPECT_GE(modules, 20u);
}

// docs/formats.md §6.4, written out: BitsAndBytesConfig.to_dict() of each export.
nlohmann::json spec_quantization_config(const std::string& precision) {
  if (precision == "nf4")
    return nlohmann::json::parse(R"({
      "_load_in_4bit": true, "_load_in_8bit": false,
      "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_quant_storage": "uint8",
      "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true,
      "llm_int8_enable_fp32_cpu_offload": false, "llm_int8_has_fp16_weight": false,
      "llm_int8_skip_modules": null, "llm_int8_threshold": 6.0,
      "load_in_4bit": true, "load_in_8bit": false, "quant_method": "bitsandbytes"})");
  return nlohmann::json::parse(R"({
      "_load_in_4bit": false, "_load_in_8bit": true,
      "bnb_4bit_compute_dtype": "float32", "bnb_4bit_quant_storage": "uint8",
      "bnb_4bit_quant_type": "fp4", "bnb_4bit_use_double_quant": false,
      "llm_int8_enable_fp32_cpu_offload": false, "llm_int8_has_fp16_weight": false,
      "llm_int8_skip_modules": null, "llm_int8_threshold": 6.0,
      "load_in_4bit": false, "load_in_8bit": true, "quant_method": "bitsandbytes"})");
}

TEST_P(BnbExport, ConfigJsonHasTheQuantizationConfigAndTheFolderIsComplete) {
  const std::string text = model::testing::read_file(out_ + "/config.json");
  const auto config = nlohmann::json::parse(text);
  EXPECT_EQ(config.at("quantization_config"), spec_quantization_config(GetParam().precision));
  EXPECT_EQ(config.at("text_config").at("dtype"), "bfloat16");  // the unquantized tensors' dtype
  EXPECT_TRUE(text.find("\n  \"architectures\": [") != std::string::npos) << "not indent 2";
  EXPECT_EQ(text.back(), '\n');
  // The rest of the config is the source's.
  auto source = nlohmann::json::parse(model::testing::read_file(bnb_testing::checkpoint_dir(GetParam().checkpoint) +
                                                                "/config.json"));
  auto without = config;
  without.erase("quantization_config");
  without["text_config"].erase("dtype");
  source["text_config"].erase("dtype");
  for (const char* k : {"dtype", "torch_dtype"}) without.erase(k), source.erase(k);
  EXPECT_EQ(without, source);
  for (const char* f : {"generation_config.json", "preprocessor_config.json"})
    EXPECT_TRUE(fs::is_regular_file(out_ + "/" + f)) << f;
  // The demo model's tokenizer is the one QuantLens uses for it (it has none
  // in its folder); the tiny test checkpoints have no tokenizer at all.
  if (GetParam().checkpoint == "demo") {
    EXPECT_TRUE(fs::is_regular_file(out_ + "/tokenizer.json"));
  }
}

INSTANTIATE_TEST_SUITE_P(TinyCheckpoints, BnbExport,
                         ::testing::Values(Case{"demo", "int8"}, Case{"demo", "nf4"}, Case{"tiny-b", "int8"},
                                           Case{"tiny-b", "nf4"}, Case{"tiny-c", "int8"}, Case{"tiny-c", "nf4"}),
                         case_name);

// §6.3's JSON, composed here for one module of the demo model: Python's
// json.dumps spacing, bitsandbytes' key order, the offset as the repr of the
// fp32 mean of the block absmax (computed here from the source).
TEST(BnbExportFormat, Nf4QuantStateIsBitsandbytesJsonCharacterForCharacter) {
  TempDir tmp;
  ASSERT_TRUE(bnb_testing::export_bnb(bnb_testing::demo_model_dir(), tmp.file("out"), "nf4").ok());
  auto source = model::Checkpoint::open(bnb_testing::demo_model_dir());
  auto exported = model::Checkpoint::open(tmp.file("out"));
  ASSERT_TRUE(source.ok() && exported.ok());
  const std::string m = "model.language_model.layers.0.self_attn.q_proj";
  const auto src = source->find(m + ".weight");
  ASSERT_TRUE(src.has_value());
  const std::vector<float> x = as_f32(*src);
  double sum = 0;
  size_t blocks = 0;
  for (size_t b = 0; b < x.size(); b += 64, ++blocks) {
    float a = 0;
    for (size_t i = b; i < std::min(x.size(), b + 64); ++i) a = std::max(a, std::fabs(x[i]));
    sum += a;
  }
  const float offset = static_cast<float>(sum / static_cast<double>(blocks));
  // fmt's "{}" of a double is its shortest round-trip repr, as Python's repr is;
  // both print this magnitude in plain decimal.
  ASSERT_GT(offset, 1e-4f);
  const std::string expected = fmt::format(
      "{{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [{}, {}], "
      "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": {}}}",
      src->shape[0], src->shape[1], static_cast<double>(offset));
  const auto state = exported->find(m + ".weight.quant_state.bitsandbytes__nf4");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(bnb_testing::bytes_of(*state), expected);
  EXPECT_EQ(state->shape[0], static_cast<int64_t>(expected.size()));
}

// Shards as transformers names them, an index listing every tensor once, and
// the estimate naming the same files: exact sizes for int8; for nf4 an upper
// bound (the quant-state JSON is counted at its longest before quantizing).
TEST(BnbExportFormat, ShardsIndexAndEstimate) {
  for (const std::string precision : {"int8", "nf4"}) {
    SCOPED_TRACE(precision);
    TempDir tmp;
    io::ExportRequest r;
    r.model_dir = bnb_testing::demo_model_dir();
    r.format = io::ExportFormat::kBnb;
    r.precision = precision;
    r.out_dir = tmp.file("out");
    r.max_shard_bytes = 3'000'000;
    auto estimate = io::estimate_export(r);
    ASSERT_TRUE(estimate.ok()) << estimate.message();
    auto result = io::export_model(r);
    ASSERT_TRUE(result.ok()) << result.message();

    auto ckpt = model::Checkpoint::open(r.out_dir);
    ASSERT_TRUE(ckpt.ok()) << ckpt.message();
    const size_t shards = ckpt->shards().size();
    ASSERT_GE(shards, 2u);  // several shards (a tied embedding larger than the limit takes one alone)
    for (size_t i = 0; i < shards; ++i)
      EXPECT_TRUE(fs::is_regular_file(fmt::format("{}/model-{:05d}-of-{:05d}.safetensors", r.out_dir, i + 1, shards)));
    const auto index = nlohmann::json::parse(model::testing::read_file(r.out_dir + "/model.safetensors.index.json"));
    uint64_t data_bytes = 0;
    for (const auto& t : ckpt->tensors()) data_bytes += t.nbytes;
    EXPECT_EQ(index.at("metadata").at("total_size").get<uint64_t>(), data_bytes);
    EXPECT_EQ(index.at("weight_map").size(), ckpt->tensor_count());

    std::map<std::string, uint64_t> written, planned;
    for (const auto& f : result->files) written[f.path] = f.bytes;
    for (const auto& f : estimate->files) planned[f.path] = f.bytes;
    for (const auto& [path, bytes] : planned) {
      ASSERT_TRUE(written.count(path)) << path;
      EXPECT_EQ(written[path], fs::file_size(path)) << path;
      if (precision == "int8") {
        EXPECT_EQ(bytes, written[path]) << path;
      } else {
        EXPECT_GE(bytes, written[path]) << path;
      }
    }
    EXPECT_GE(estimate->total_bytes, result->total_bytes);
    EXPECT_LT(estimate->total_bytes, result->total_bytes + 34 * 24);
  }
}

TEST(BnbExportFormat, ABitsandbytesFolderIsNotASource) {
  TempDir tmp;
  ASSERT_TRUE(bnb_testing::export_bnb(bnb_testing::demo_model_dir(), tmp.file("int8"), "int8").ok());
  auto again = bnb_testing::export_bnb(tmp.file("int8"), tmp.file("again"), "nf4");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.message().find("a bitsandbytes int8 checkpoint; exports read 16-bit weights"), std::string::npos)
      << again.message();
  EXPECT_FALSE(fs::exists(tmp.file("again")));
}

TEST(BnbExportFormat, CancelledExportLeavesNothing) {
  TempDir tmp;
  std::atomic<bool> cancel{false};
  io::ExportRequest r;
  r.model_dir = bnb_testing::demo_model_dir();
  r.format = io::ExportFormat::kBnb;
  r.precision = "nf4";
  r.out_dir = tmp.file("out");
  size_t calls = 0;
  auto progress = [&](const io::ExportProgress& p) {
    // Cancel once the writing of the weights has begun.
    if (p.stage.rfind("writing model", 0) == 0 && ++calls == 1) cancel = true;
  };
  auto result = io::export_model(r, progress, &cancel);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.message(), io::kExportCancelledMessage);
  EXPECT_FALSE(fs::exists(r.out_dir));
  EXPECT_EQ(calls, 1u);
}

}  // namespace
}  // namespace ql
