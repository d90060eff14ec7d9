// A bitsandbytes folder that is not what docs/formats.md §6 describes is refused
// before any weight is used, with a line naming the tensor and its module:
// a missing or mis-shaped companion, a wrong dtype, a bad weight_format, an
// unreadable or non-nf4 quant state, no double quantization; config.json's
// quantization_config is checked field by field; a skip list is honoured.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/engine/engine.h"
#include "core/model/bnb_validation.h"
#include "core/model/model_weights.h"
#include "tests/unit/bnb_test_support.h"
#include "tests/unit/model_test_files.h"

namespace ql::model {
namespace {

namespace fs = std::filesystem;
using testing::FakeTensor;
using testing::TempDir;

// tiny-c's first attention projection: [40, 40] (5 heads of 8, hidden 40).
const std::string kModule = "model.language_model.layers.0.self_attn.q_proj";

class BnbBroken : public ::testing::Test {
 protected:
  // tiny-c exported in `format` (one model.safetensors), its tensors read back.
  std::string exported(const std::string& format, const std::string& folder = "") {
    const std::string dir = tmp_.file(folder.empty() ? format : folder);
    auto r = bnb_testing::export_bnb(bnb_testing::checkpoint_dir("tiny-c"), dir, format);
    EXPECT_TRUE(r.ok()) << r.message();
    return dir;
  }

  // Rewrites DIR/model.safetensors after `edit` changed its tensor list.
  template <typename Edit>
  void rewrite(const std::string& dir, Edit edit) {
    std::vector<FakeTensor> tensors;
    {
      auto f = SafetensorsFile::open(dir + "/model.safetensors");
      ASSERT_TRUE(f.ok()) << f.message();
      for (const auto& t : f->tensors()) {
        const auto v = f->view(t);
        tensors.push_back({t.name, t.shape, std::string(dtype_name(t.dtype)), bnb_testing::bytes_of(v)});
      }
    }
    edit(tensors);
    testing::write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  }

  void edit_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
    auto config = nlohmann::json::parse(testing::read_file(dir + "/config.json"));
    edit(config);
    testing::write_file(dir + "/config.json", config.dump(2));
  }

  ValidationReport validate(const std::string& dir) {
    auto config = load_model_config(dir);
    EXPECT_TRUE(config.ok()) << config.message();
    auto ckpt = Checkpoint::open(dir);
    EXPECT_TRUE(ckpt.ok()) << ckpt.message();
    if (!config.ok() || !ckpt.ok()) return {};
    return validate_model_checkpoint(*ckpt, *config);
  }

  // Exactly one problem, equal to `line`.
  void expect_only_problem(const std::string& dir, const std::string& line) {
    const ValidationReport r = validate(dir);
    ASSERT_EQ(r.problems.size(), 1u) << (r.problems.empty() ? "no problem found" : r.problems.front());
    EXPECT_EQ(r.problems[0], line);
  }

  TempDir tmp_;
};

TEST_F(BnbBroken, OurExportsValidate) {
  for (const char* format : {"int8", "nf4"}) {
    const ValidationReport r = validate(exported(format));
    EXPECT_TRUE(r.ok()) << r.summary() << ": " << (r.problems.empty() ? "" : r.problems[0]);
    EXPECT_GT(r.checked, 100u);
  }
}

TEST_F(BnbBroken, MissingScbNamesTheModule) {
  const std::string dir = exported("int8");
  rewrite(dir, [](auto& ts) { testing::erase_fake(ts, kModule + ".SCB"); });
  expect_only_problem(dir, kModule + ".SCB: missing (expected F32 [40]), a tensor of bitsandbytes int8 module " +
                               kModule);
  EXPECT_NE(validate(dir).summary().find("1 problem: 1 missing"), std::string::npos) << validate(dir).summary();
  // The engine refuses to load it, with that line.
  engine::Engine e;
  const Status s = e.load(dir);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(kModule + ".SCB: missing"), std::string::npos) << s.message();
}

TEST_F(BnbBroken, MisShapedScb) {
  const std::string dir = exported("int8");
  rewrite(dir, [](auto& ts) {
    auto* t = testing::find_fake(ts, kModule + ".SCB");
    t->shape = {39};
    t->bytes.resize(39 * 4);
  });
  expect_only_problem(dir, kModule + ".SCB: shape [39], expected F32 [40] (bitsandbytes int8 module " + kModule + ")");
}

TEST_F(BnbBroken, CodesOfTheWrongDtype) {
  const std::string dir = exported("int8");
  rewrite(dir, [](auto& ts) { testing::find_fake(ts, kModule + ".weight")->dtype = "U8"; });
  expect_only_problem(dir, kModule + ".weight: dtype U8, expected I8 (bitsandbytes int8 module " + kModule + ")");
}

TEST_F(BnbBroken, WeightFormatMustBeRowAndMayBeAbsent) {
  const std::string dir = exported("int8");
  rewrite(dir, [](auto& ts) { testing::find_fake(ts, kModule + ".weight_format")->bytes = std::string(1, '\x01'); });
  expect_only_problem(dir, kModule + ".weight_format: weight_format is 1, expected 0 (\"row\", the only layout "
                                     "bitsandbytes writes) (bitsandbytes int8 module " + kModule + ")");
  rewrite(dir, [](auto& ts) { testing::erase_fake(ts, kModule + ".weight_format"); });
  EXPECT_TRUE(validate(dir).ok()) << "transformers' loader tolerates a missing weight_format";
}

TEST_F(BnbBroken, AStrayTensorIsUnexpected) {
  const std::string dir = exported("int8");
  rewrite(dir, [](auto& ts) { ts.push_back({kModule + ".weight.SCB", {40}, "F32", std::string(160, '\0')}); });
  expect_only_problem(dir, "\"" + kModule + ".weight.SCB\": unexpected tensor (shape [40]): not part of the "
                                            "architecture config.json describes");
}

TEST_F(BnbBroken, QuantStateThatIsNotJson) {
  const std::string dir = exported("nf4");
  const std::string state = kModule + ".weight.quant_state.bitsandbytes__nf4";
  rewrite(dir, [&](auto& ts) {
    auto* t = testing::find_fake(ts, state);
    t->bytes = "{\"quant_type\": \"nf4\", ";
    t->shape = {static_cast<int64_t>(t->bytes.size())};
  });
  const ValidationReport r = validate(dir);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].rfind(state + ": quant state: not valid JSON: ", 0), 0u) << r.problems[0];
  EXPECT_NE(r.problems[0].find("(bitsandbytes nf4 module " + kModule + ")"), std::string::npos) << r.problems[0];
  EXPECT_NE(r.summary().find("1 invalid quant state"), std::string::npos) << r.summary();
  // quantlens-cli info lists it on stderr and exits 2.
  auto run = ql::testing::run_cli({"info", dir});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find(state + ": quant state: not valid JSON"), std::string::npos) << run.err;
}

// Replaces one key's value in the module's quant-state JSON.
void set_state_value(std::vector<FakeTensor>& ts, const std::string& key, const nlohmann::json& value) {
  auto* t = testing::find_fake(ts, kModule + ".weight.quant_state.bitsandbytes__nf4");
  auto j = nlohmann::json::parse(t->bytes);
  j[key] = value;
  t->bytes = j.dump();
  t->shape = {static_cast<int64_t>(t->bytes.size())};
}

TEST_F(BnbBroken, QuantStateValuesOtherThanNf4s) {
  const std::string state = kModule + ".weight.quant_state.bitsandbytes__nf4";
  const std::string module = " (bitsandbytes nf4 module " + kModule + ")";
  const std::vector<std::pair<std::pair<std::string, nlohmann::json>, std::string>> cases = {
      {{"quant_type", "fp4"}, ": quant state: \"quant_type\" is \"fp4\"; QuantLens reads nf4 only"},
      {{"blocksize", 128}, ": quant state: \"blocksize\" is 128, expected 64 (NF4 blocks of 64)"},
      {{"shape", {40, 41}}, ": quant state: \"shape\" is [40,41], expected [40, 40] (the module's [out, in])"},
      {{"dtype", "float64"}, ": quant state: \"dtype\": \"float64\" is not bfloat16, float16 or float32"},
      {{"nested_dtype", "float16"}, ": quant state: \"nested_dtype\" is \"float16\", expected \"float32\""},
      {{"nested_offset", 0.1}, ": quant state: \"nested_offset\" 0.1 is not a finite fp32 value"},
  };
  for (const auto& [edit, message] : cases) {
    SCOPED_TRACE(edit.first);
    const std::string dir = exported("nf4");
    rewrite(dir, [&](auto& ts) { set_state_value(ts, edit.first, edit.second); });
    expect_only_problem(dir, state + message + module);
    fs::remove_all(dir);
  }
}

TEST_F(BnbBroken, Nf4WithoutDoubleQuantizationOrAsFp4) {
  const std::string dir = exported("nf4");
  const std::string w = kModule + ".weight";
  rewrite(dir, [&](auto& ts) {  // absmax as fp32 values, as bitsandbytes stores it without double quantization
    auto* t = testing::find_fake(ts, w + ".absmax");
    t->dtype = "F32";
    t->bytes = std::string(t->bytes.size() * 4, '\0');
  });
  expect_only_problem(dir, w + ".absmax: dtype F32, expected U8 (bitsandbytes nf4 module " + kModule +
                               "); an F32 absmax means no double quantization, which QuantLens does not read");

  const std::string fp4 = exported("nf4", "fp4");
  rewrite(fp4, [&](auto& ts) {
    testing::find_fake(ts, w + ".quant_state.bitsandbytes__nf4")->name = w + ".quant_state.bitsandbytes__fp4";
  });
  const ValidationReport r = validate(fp4);
  ASSERT_EQ(r.problems.size(), 2u) << r.summary();
  EXPECT_EQ(r.problems[0], w + ".quant_state.bitsandbytes__fp4: quant type fp4 is not supported; QuantLens reads "
                               "nf4 only (bitsandbytes nf4 module " + kModule + ")");
  EXPECT_EQ(r.problems[1], w + ".quant_state.bitsandbytes__nf4: missing (expected U8 [JSON bytes]), a tensor of "
                               "bitsandbytes nf4 module " + kModule);
}

TEST_F(BnbBroken, QuantizationConfigFieldByField) {
  const std::string dir = exported("nf4");
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](auto& q) { q["bnb_4bit_quant_type"] = "fp4"; },
       "quantization_config.bnb_4bit_quant_type: \"fp4\" is not supported: QuantLens reads 4-bit bitsandbytes "
       "checkpoints in nf4 only"},
      {[](auto& q) { q["bnb_4bit_use_double_quant"] = false; },
       "quantization_config.bnb_4bit_use_double_quant: false is not supported"},
      {[](auto& q) { q["bnb_4bit_quant_storage"] = "bfloat16"; },
       "quantization_config.bnb_4bit_quant_storage: \"bfloat16\" is not supported (only uint8)"},
      {[](auto& q) { q["quant_method"] = "gptq"; }, "quantization_config.quant_method: \"gptq\" is not supported"},
      {[](auto& q) { q["load_in_8bit"] = true; q["_load_in_8bit"] = true; },
       "quantization_config.load_in_8bit: is true and quantization_config.load_in_4bit is true: exactly one must be "
       "true"},
      {[](auto& q) { q["_load_in_4bit"] = false; },
       "quantization_config._load_in_4bit: false disagrees with quantization_config.load_in_4bit (true)"},
      {[](auto& q) { q["load_in_4bit"] = false; q["_load_in_4bit"] = false; q["load_in_8bit"] = true;
                     q["_load_in_8bit"] = true; q["llm_int8_has_fp16_weight"] = true; },
       "quantization_config.llm_int8_has_fp16_weight: true is not supported"},
      {[](auto& q) { q["llm_int8_skip_modules"] = "lm_head"; },
       "quantization_config.llm_int8_skip_modules: expected null or a list of module names, got string"},
      {[](auto& q) { q.erase("quant_method"); }, "quantization_config.quant_method: missing"},
  };
  const std::string original = testing::read_file(dir + "/config.json");
  for (const auto& [edit, message] : cases) {
    SCOPED_TRACE(message);
    edit_config(dir, [&](nlohmann::json& c) { edit(c["quantization_config"]); });
    auto config = load_model_config(dir);
    ASSERT_FALSE(config.ok());
    EXPECT_NE(config.message().find(dir + "/config.json: " + message), std::string::npos) << config.message();
    testing::write_file(dir + "/config.json", original);
  }
  edit_config(dir, [](nlohmann::json& c) { c["quantization_config"] = 4; });
  auto config = load_model_config(dir);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.message().find("quantization_config: expected an object"), std::string::npos) << config.message();
}

// A skip list from the file decides which modules are stored 16-bit: here
// the int8 export with the vision tower put back in bf16 (as
// llm_int8_skip_modules ["lm_head", "model.visual"] would have saved it).
TEST_F(BnbBroken, SkipModulesFromTheConfigAreHonoured) {
  const std::string dir = exported("int8");
  auto source = Checkpoint::open(bnb_testing::checkpoint_dir("tiny-c"));
  ASSERT_TRUE(source.ok());
  rewrite(dir, [&](auto& ts) {
    std::vector<FakeTensor> kept;
    for (auto& t : ts) {
      if (t.name.rfind("model.visual.", 0) == 0 && (t.name.ends_with(".SCB") || t.name.ends_with(".weight_format")))
        continue;
      if (t.name.rfind("model.visual.", 0) == 0 && t.dtype == "I8") {
        const auto src = source->find(t.name);
        t.dtype = "BF16";
        t.bytes = bnb_testing::bytes_of(*src);
      }
      kept.push_back(std::move(t));
    }
    ts = std::move(kept);
  });
  EXPECT_FALSE(validate(dir).ok()) << "with the default skip list the vision modules must be int8";
  edit_config(dir, [](nlohmann::json& c) {
    c["quantization_config"]["llm_int8_skip_modules"] = {"lm_head", "model.visual"};
  });
  const ValidationReport r = validate(dir);
  EXPECT_TRUE(r.ok()) << r.summary() << ": " << (r.problems.empty() ? "" : r.problems[0]);
  engine::Engine e;
  ASSERT_TRUE(e.load(dir).ok());
  EXPECT_NE(e.info()->precision.find("attention=int8"), std::string::npos) << e.info()->precision;
  EXPECT_NE(e.info()->precision.find("vision=bf16"), std::string::npos) << e.info()->precision;
  EXPECT_NE(e.info()->precision.find("19 pre-quantized matrices of attention, dense_mlp"), std::string::npos)
      << e.info()->precision;
}

// I8 and U8 parse now, but only a bitsandbytes folder may hold them.
TEST_F(BnbBroken, IntegerTensorsInAPlainFolderAreTheWrongDtype) {
  const std::string dir = tmp_.file("plain");
  fs::copy(bnb_testing::checkpoint_dir("tiny-c"), dir);
  const std::string name = "model.language_model.layers.0.self_attn.q_proj.weight";
  rewrite(dir, [&](auto& ts) {
    auto* t = testing::find_fake(ts, name);
    t->dtype = "I8";
    t->bytes.resize(t->bytes.size() / 2);
  });
  expect_only_problem(dir, name + ": dtype I8, expected BF16 (the dtype config.json declares)");
}

}  // namespace
}  // namespace ql::model
