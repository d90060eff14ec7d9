// Plain safetensors export (core/io/export.h, docs/formats.md §8) on the three tiny
// real checkpoints: the demo model (bf16, two shards, real vocabulary),
// tiny-b (f32) and tiny-c (bf16, experts in transformers-5 orientation).
// Read back with core/model/checkpoint.h: every tensor byte-identical for bf16
// from bf16, else exactly the round-to-nearest-even conversion (checked
// against the compiler's _Float16 and a nearest-value property, not against
// the exporter's own code); experts in the published orientation; config.json
// declaring the written dtype; companion files copied; the estimate equal to
// what was written; the source folder unchanged; and the engine, loading the
// export, gives logits identical to the source loaded at the same precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/common/float16.h"
#include "core/engine/engine.h"
#include "core/io/export.h"
#include "core/model/checkpoint.h"
#include "core/text/tokenizer_location.h"
#include "tests/unit/engine_test_support.h"
#include "tests/unit/io_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::io;
using ql::engine::testing::data_path;
using ql::engine::testing::demo_model_dir;
using ql::engine::testing::ScratchDir;
using ql::model::Checkpoint;
using ql::model::DType;
using ql::model::TensorView;
namespace fs = std::filesystem;

std::string folder_of(const std::string& name) {
  return name == "demo" ? demo_model_dir() : data_path("engine/" + name);
}

uint16_t u16_at(const TensorView& t, int64_t i) {
  uint16_t v;
  std::memcpy(&v, t.data + i * 2, 2);
  return v;
}

float value_at(const TensorView& t, int64_t i) {
  if (t.dtype == DType::kF32) {
    float v;
    std::memcpy(&v, t.data + i * 4, 4);
    return v;
  }
  const uint16_t h = u16_at(t, i);
  if (t.dtype == DType::kF16) return ql::f16_to_f32(h);
  uint32_t bits = static_cast<uint32_t>(h) << 16;  // bf16 is the top half of an f32
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// The compiler's IEEE binary16 conversion (round to nearest even), an
// implementation independent of core/common/float16.h.
uint16_t reference_f16(float x) {
  const _Float16 h = static_cast<_Float16>(x);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

float bf16_bits_value(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// True when `h` is the bf16 nearest to finite x, ties to the even pattern:
// neither neighbouring bf16 value is closer.
bool is_nearest_even_bf16(float x, uint16_t h) {
  const double y = bf16_bits_value(h);
  const double err = std::fabs(y - x);
  for (int step : {-1, 1}) {
    const uint16_t n = static_cast<uint16_t>(h + step);
    const double other = bf16_bits_value(n);
    if (std::isnan(other)) continue;
    const double e = std::fabs(other - x);
    if (e < err) return false;
    if (e == err && (h & 1u)) return false;  // a tie goes to the even pattern
  }
  return true;
}

bool is_expert(std::string_view name) {
  return name.ends_with("mlp.experts.gate_up_proj") || name.ends_with("mlp.experts.down_proj");
}

// Index of element (e, a, b) of an [E, A, B] tensor stored as [E, B, A].
int64_t transposed_index(const std::vector<int64_t>& out_shape, int64_t k) {
  const int64_t A = out_shape[1], B = out_shape[2];
  const int64_t e = k / (A * B), r = k % (A * B), a = r / B, b = r % B;
  return e * A * B + b * A + a;
}

struct RoundTrip : ::testing::TestWithParam<std::tuple<std::string, std::string>> {
  std::string model() const { return std::get<0>(GetParam()); }
  std::string precision() const { return std::get<1>(GetParam()); }
};

TEST_P(RoundTrip, EveryTensorReadsBackAsTheSourceInTheWrittenDtype) {
  ScratchDir scratch;
  const std::string src_dir = folder_of(model());
  const auto before = ql::io::testing::snapshot(src_dir);
  ExportRequest r;
  r.model_dir = src_dir;
  r.format = ExportFormat::kSafetensors;
  r.precision = precision();
  r.out_dir = scratch.file("out");
  if (model() == "demo") r.max_shard_bytes = 8'000'000;  // the demo's 15 MB in two shards

  auto estimate = estimate_export(r);
  ASSERT_TRUE(estimate.ok()) << estimate.message();
  auto result = export_model(r);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(ql::io::testing::snapshot(src_dir), before) << "the source folder changed";

  // The estimate is exact for safetensors: same files, same sizes, as on disk.
  std::map<std::string, uint64_t> planned, written, on_disk;
  for (const auto& f : estimate->files) planned[fs::path(f.path).filename().string()] = f.bytes;
  for (const auto& f : result->files) written[fs::path(f.path).filename().string()] = f.bytes;
  for (const auto& e : fs::directory_iterator(r.out_dir)) on_disk[e.path().filename().string()] = e.file_size();
  EXPECT_EQ(written, on_disk);
  for (const auto& [name, bytes] : planned) EXPECT_EQ(on_disk[name], bytes) << name;
  uint64_t total = 0;
  for (const auto& [name, bytes] : on_disk) total += bytes;
  EXPECT_EQ(estimate->total_bytes, total);
  EXPECT_EQ(result->total_bytes, total);

  auto src = Checkpoint::open(src_dir);
  auto dst = Checkpoint::open(r.out_dir);
  ASSERT_TRUE(src.ok()) << src.message();
  ASSERT_TRUE(dst.ok()) << dst.message();
  ASSERT_EQ(dst->tensor_count(), src->tensor_count());
  ASSERT_EQ(result->tensors.size(), src->tensor_count());
  const DType out_type = precision() == "bf16" ? DType::kBF16 : DType::kF16;
  const bool out_in_source = model() == "tiny-c";  // stored [E, 2I, H] / [E, H, I] (README, reference data)
  size_t transposed = 0;
  for (const TensorView& s : src->tensors()) {
    SCOPED_TRACE(std::string(s.name));
    const auto d = dst->find(s.name);
    ASSERT_TRUE(d.has_value());
    ASSERT_EQ(d->dtype, out_type);
    std::vector<int64_t> expected_shape(s.shape.begin(), s.shape.end());
    const bool transpose = out_in_source && is_expert(s.name);
    if (transpose) std::swap(expected_shape[1], expected_shape[2]);
    ASSERT_EQ(std::vector<int64_t>(d->shape.begin(), d->shape.end()), expected_shape);
    transposed += transpose;
    const int64_t n = s.numel();
    for (int64_t k = 0; k < n; ++k) {
      const int64_t from = transpose ? transposed_index(expected_shape, k) : k;
      const uint16_t got = u16_at(*d, k);
      if (out_type == DType::kBF16 && s.dtype == DType::kBF16) {
        ASSERT_EQ(got, u16_at(s, from)) << "element " << k;
      } else if (out_type == DType::kF16) {
        ASSERT_EQ(got, reference_f16(value_at(s, from))) << "element " << k;
      } else {
        ASSERT_TRUE(is_nearest_even_bf16(value_at(s, from), got)) << "element " << k;
      }
    }
  }
  if (out_in_source) {
    EXPECT_GT(transposed, 0u);
  }

  // Per-tensor reports: copies have no error figure, conversions a small one.
  for (const auto& t : result->tensors) {
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.type, precision() == "bf16" ? "BF16" : "F16");
    const auto s = src->find(t.name);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(t.bytes, static_cast<uint64_t>(s->numel()) * 2);
    const bool copy = precision() == "bf16" && s->dtype == DType::kBF16;
    if (copy) {
      EXPECT_EQ(t.rel_rmse, -1);
    } else {
      EXPECT_GE(t.rel_rmse, 0);
      EXPECT_LT(t.rel_rmse, precision() == "bf16" ? 1.0 / 256 : 1.0 / 2048);
    }
  }
}

TEST_P(RoundTrip, ShardsConfigAndCompanionFilesAreThoseOfAPublishedCheckpoint) {
  ScratchDir scratch;
  const std::string src_dir = folder_of(model());
  ExportRequest r;
  r.model_dir = src_dir;
  r.format = ExportFormat::kSafetensors;
  r.precision = precision();
  r.out_dir = scratch.file("out");
  if (model() == "demo") r.max_shard_bytes = 8'000'000;
  auto result = export_model(r);
  ASSERT_TRUE(result.ok()) << result.message();

  auto dst = Checkpoint::open(r.out_dir);
  ASSERT_TRUE(dst.ok()) << dst.message();
  if (model() == "demo") {
    ASSERT_EQ(dst->shards().size(), 2u);
    EXPECT_TRUE(fs::exists(r.out_dir + "/model-00001-of-00002.safetensors"));
    EXPECT_TRUE(fs::exists(r.out_dir + "/model-00002-of-00002.safetensors"));
    const auto index = nlohmann::json::parse(ql::engine::testing::slurp(r.out_dir + "/model.safetensors.index.json"));
    uint64_t data_bytes = 0;
    for (const auto& shard : dst->shards()) {
      uint64_t shard_bytes = 0;
      for (const auto& t : shard.tensors()) shard_bytes += t.nbytes;
      // As save_pretrained shards: within the limit, or one tensor larger than it on its own.
      EXPECT_TRUE(shard_bytes <= r.max_shard_bytes || shard.tensors().size() == 1)
          << shard.path() << ": " << shard_bytes << " bytes in " << shard.tensors().size() << " tensors";
      data_bytes += shard_bytes;
    }
    EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), data_bytes);
  } else {
    ASSERT_EQ(dst->shards().size(), 1u);
    EXPECT_TRUE(fs::exists(r.out_dir + "/model.safetensors"));
    EXPECT_FALSE(fs::exists(r.out_dir + "/model.safetensors.index.json"));
  }
  for (const auto& shard : dst->shards()) EXPECT_EQ(shard.metadata().at("format"), "pt") << shard.path();

  // config.json: the source's, with the written dtype declared; sorted, indent 2, newline.
  const std::string config_text = ql::engine::testing::slurp(r.out_dir + "/config.json");
  const auto config = nlohmann::json::parse(config_text);
  auto expected = nlohmann::json::parse(ql::engine::testing::slurp(src_dir + "/config.json"));
  expected["text_config"]["dtype"] = precision() == "bf16" ? "bfloat16" : "float16";
  EXPECT_EQ(config, expected);
  EXPECT_EQ(config_text, config.dump(2) + "\n");

  for (const char* name :
       {"generation_config.json", "preprocessor_config.json", "tokenizer_config.json", "chat_template.json"}) {
    const std::string from = src_dir + "/" + name;
    if (!fs::exists(from)) {
      EXPECT_FALSE(fs::exists(r.out_dir + "/" + name)) << name;
      continue;
    }
    EXPECT_EQ(ql::engine::testing::slurp(r.out_dir + "/" + name), ql::engine::testing::slurp(from)) << name;
  }
  // The demo model has no tokenizer.json: the export carries the one QuantLens
  // uses for it. The tiny checkpoints' 700-token vocabulary fits no tokenizer.
  if (model() == "demo") {
    auto located = ql::text::locate_tokenizer(src_dir);
    ASSERT_TRUE(located.ok()) << located.message();
    EXPECT_EQ(ql::engine::testing::slurp(r.out_dir + "/tokenizer.json"), ql::engine::testing::slurp(*located));
  } else {
    EXPECT_FALSE(fs::exists(r.out_dir + "/tokenizer.json"));
    const bool noted = std::any_of(result->notes.begin(), result->notes.end(),
                                   [](const std::string& n) { return n.find("tokenizer.json") != std::string::npos; });
    EXPECT_TRUE(noted);
  }
  // Nothing but the listed files, and no temporaries.
  std::vector<std::string> listed, present;
  for (const auto& f : result->files) listed.push_back(fs::path(f.path).filename().string());
  for (const auto& e : fs::directory_iterator(r.out_dir)) present.push_back(e.path().filename().string());
  std::sort(listed.begin(), listed.end());
  std::sort(present.begin(), present.end());
  EXPECT_EQ(listed, present);
}

TEST_P(RoundTrip, TheEngineGivesTheSourcesLogitsFromTheExport) {
  ScratchDir scratch;
  const std::string src_dir = folder_of(model());
  ExportRequest r;
  r.model_dir = src_dir;
  r.format = ExportFormat::kSafetensors;
  r.precision = precision();
  r.out_dir = scratch.file("out");
  ql::engine::Engine engine(&ql::imageio::decode_image_file);
  auto exported = engine.export_model(r);
  ASSERT_TRUE(exported.ok()) << exported.message();

  const auto cases = ql::engine::testing::read_cases(model());
  ASSERT_FALSE(cases.is_discarded());
  const nlohmann::json* c = ql::engine::testing::find_case(cases, "one_image");
  ASSERT_NE(c, nullptr);
  ql::engine::GenerationRequest g;
  ql::engine::TokenPrompt t{(*c)["input_ids"].get<std::vector<int32_t>>(), {}};
  for (const auto& f : (*c)["images"])
    t.images.push_back(ql::engine::ImageInput::file(ql::engine::testing::engine_image(f.get<std::string>())));
  g.prompt = std::move(t);
  g.sampling.temperature = 0;
  g.max_new_tokens = 4;
  g.ignore_eos = true;
  g.logit_rows.all = true;

  auto run = [&](const std::string& dir, const std::string& load_precision) {
    ql::engine::LoadOptions o;
    o.precision = load_precision;
    auto st = engine.load(dir, o);
    EXPECT_TRUE(st.ok()) << st.message();
    auto out = engine.generate(g);
    EXPECT_TRUE(out.ok()) << out.message();
    return out.ok() ? std::move(out).value() : ql::engine::GenerationResult{};
  };
  const auto from_source = run(src_dir, precision());  // quantized while loading
  const auto from_export = run(r.out_dir, "");         // as stored
  ASSERT_FALSE(from_source.logits.empty());
  EXPECT_EQ(from_export.logits, from_source.logits);
  EXPECT_EQ(from_export.generated_ids, from_source.generated_ids);
  EXPECT_EQ(engine.info()->precision, precision());
}

INSTANTIATE_TEST_SUITE_P(TinyCheckpoints, RoundTrip,
                         ::testing::Combine(::testing::Values("demo", "tiny-b", "tiny-c"),
                                            ::testing::Values("bf16", "fp16")),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param) + "_" + std::get<1>(info.param);
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
