#include "core/io/gguf/gguf_plan.h"

#include <algorithm>
#include <filesystem>

#include "core/io/gguf/converter_types.h"
#include "core/io/gguf/general_metadata.h"
#include "core/io/gguf/hparams.h"
#include "core/io/gguf/mmproj_metadata.h"
#include "core/io/gguf/quantize_mix.h"
#include "core/io/gguf/tensor_maps.h"
#include "core/io/gguf/text_metadata.h"
#include "core/io/gguf/tokenizer_metadata.h"
#include "core/model/tensor_schema.h"
#include "core/model/tensor_validation.h"
#include "core/text/tokenizer_location.h"

namespace ql::io::gguf {
namespace {

namespace fs = std::filesystem;

std::vector<CountedTensor> counted(const std::vector<PlannedTensor>& tensors) {
  std::vector<CountedTensor> out;
  for (const PlannedTensor& t : tensors) out.push_back({t.mapped.name, t.mapped.ne});
  return out;
}

void remove_key(std::vector<GgufKv>& kvs, std::string_view key) {
  std::erase_if(kvs, [key](const GgufKv& kv) { return kv.key == key; });
}

Status finish(GgufFilePlan& f) {
  f.infos.clear();
  for (const PlannedTensor& t : f.tensors) f.infos.push_back({t.mapped.name, t.mapped.ne, t.type, 0, 0});
  auto header = encode_gguf_header(f.kvs, f.infos);
  if (!header) return err("{}: {}", f.path, header.message());
  f.header = std::move(*header);
  return {};
}

// Applies llama-quantize to the converter's BF16 plan: its order, its types,
// and its key order (file type and quantization version moved to the end).
void apply_llama_quantize(GgufFilePlan& f, GgufPrecision precision, const model::ModelConfig& config,
                          std::vector<std::string>& notes) {
  std::stable_sort(f.tensors.begin(), f.tensors.end(), [](const PlannedTensor& a, const PlannedTensor& b) {
    return llama_quantize_order(a.mapped.name, b.mapped.name);
  });
  std::vector<QuantizeInput> inputs;
  for (const PlannedTensor& t : f.tensors) inputs.push_back({t.mapped.name, t.mapped.ne, t.type});
  QuantizeModel m;
  m.n_layer = static_cast<int>(config.text.num_layers);
  m.n_expert = static_cast<int>(config.text.num_experts);
  m.n_head = static_cast<int>(config.text.num_heads);
  m.n_head_kv = static_cast<int>(config.text.num_kv_heads);
  const auto choices = llama_quantize_types(inputs, gguf_precision_ftype(precision), m);
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    f.tensors[i].type = choices[i].type;
    if (!choices[i].refused.empty()) notes.push_back(choices[i].refused);
  }
  remove_key(f.kvs, "general.quantization_version");
  remove_key(f.kvs, "general.file_type");
  f.kvs.push_back({"general.quantization_version", GgufValue::u32(kQuantizationVersion)});
  f.kvs.push_back({"general.file_type", GgufValue::u32(static_cast<uint32_t>(gguf_precision_ftype(precision)))});
}

Result<std::map<std::string, model::ExpertOrientation>> expert_orientations(const model::Checkpoint& checkpoint,
                                                                            const model::ModelConfig& config) {
  const auto report = model::validate_checkpoint(checkpoint, model::build_tensor_schema(config), config.dtype);
  if (!report.ok()) {
    std::string first;
    for (size_t i = 0; i < report.problems.size() && i < 5; ++i) first += "\n  " + report.problems[i];
    return err("{}{}", report.summary(), first);
  }
  return report.expert_orientation;
}

}  // namespace

std::string model_folder_name(const std::string& model_dir) {
  fs::path p = fs::path(model_dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..") {
    std::error_code ec;
    name = fs::weakly_canonical(fs::absolute(model_dir), ec).filename().string();
  }
  return name;
}

std::string text_file_name(const std::string& folder, GgufPrecision p) {
  return folder + "-" + gguf_precision_tag(p) + ".gguf";
}

std::string mmproj_file_name(const std::string& folder, GgufPrecision p) {
  return "mmproj-" + folder + "-" + ggml_type_upper_name(mmproj_outtype(p)) + ".gguf";
}

Result<GgufExportPlan> plan_gguf_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                        const model::ModelConfig& config) {
  GgufExportPlan plan;
  auto precision = parse_gguf_precision(request.precision);
  if (!precision) return precision.error();
  plan.precision = *precision;
  const std::string dir = request.model_dir;
  const std::string folder = model_folder_name(dir);

  auto config_json = read_json_file((fs::path(dir) / "config.json").string());
  if (!config_json) return config_json.error();
  if (!*config_json || !(*config_json)->is_object()) return err("{}/config.json: missing or not a JSON object", dir);
  const nlohmann::json& cfg = **config_json;
  auto gen_json = read_json_file((fs::path(dir) / "generation_config.json").string());
  // The converter ignores an unreadable generation_config.json; so do we.
  const nlohmann::json* gen = gen_json && *gen_json ? &**gen_json : nullptr;

  auto orientation = expert_orientations(checkpoint, config);
  if (!orientation) return orientation.error();
  for (const auto& [name, o] : *orientation)
    if (o == model::ExpertOrientation::kOutIn) {
      plan.notes.push_back(
          "the fused experts are stored [E, out, in]; they are exported correctly, but llama.cpp's own converter "
          "would split this layout wrongly");
      break;
    }

  // ---- text model
  GgufFilePlan text;
  text.path = (fs::path(request.out_dir) / text_file_name(folder, plan.precision)).string();
  auto mapped = map_text_tensors(checkpoint, *orientation);
  if (!mapped) return mapped.error();
  const GgmlType outtype = converter_outtype(plan.precision);
  for (MappedTensor& m : *mapped) {
    const GgmlType type = converter_tensor_type(m.name, m.ne, outtype, false);
    text.tensors.push_back({std::move(m), type});
  }
  // Keys of the converter's file (for the llama-quantize precisions, its BF16 file).
  const LlamaFtype converter_ftype =
      made_by_llama_quantize(plan.precision) ? LlamaFtype::kMostlyBF16 : gguf_precision_ftype(plan.precision);
  text.kvs.push_back({"general.architecture", GgufValue::string(kTextArch)});
  text.kvs.push_back({"general.type", GgufValue::string("model")});
  for (GgufKv& kv : general_metadata(folder, cfg, gen, count_parameters(counted(text.tensors))))
    text.kvs.push_back(std::move(kv));
  auto arch = text_arch_metadata(cfg, (fs::path(dir) / "config.json").string(), converter_ftype);
  if (!arch) return arch.error();
  for (GgufKv& kv : *arch) text.kvs.push_back(std::move(kv));

  auto tokenizer_path = text::locate_tokenizer(std::optional<std::string>(dir));
  if (!tokenizer_path) return tokenizer_path.error();
  auto tokenizer = text::Tokenizer::load(*tokenizer_path);
  if (!tokenizer) return tokenizer.error();
  auto vocab = tokenizer_metadata(*tokenizer, dir, cfg, config.text.vocab_size);
  if (!vocab) return vocab.error();
  for (GgufKv& kv : *vocab) text.kvs.push_back(std::move(kv));

  if (made_by_llama_quantize(plan.precision)) apply_llama_quantize(text, plan.precision, config, plan.notes);
  QL_TRY(finish(text));
  plan.files.push_back(std::move(text));

  // ---- vision projector
  if (request.gguf_mmproj) {
    GgufFilePlan mm;
    mm.mmproj = true;
    mm.path = (fs::path(request.out_dir) / mmproj_file_name(folder, plan.precision)).string();
    auto vision = map_vision_tensors(checkpoint, config.vision);
    if (!vision) return vision.error();
    const GgmlType mm_type = mmproj_outtype(plan.precision);
    for (MappedTensor& m : *vision) {
      const GgmlType type = converter_tensor_type(m.name, m.ne, mm_type, true);
      mm.tensors.push_back({std::move(m), type});
    }
    auto pre = load_preprocessor_config(dir);
    if (!pre) return pre.error();
    const LlamaFtype mm_ftype = mm_type == GgmlType::kBF16 ? LlamaFtype::kMostlyBF16 : LlamaFtype::kMostlyF16;
    mm.kvs.push_back({"general.architecture", GgufValue::string(kMmprojArch)});
    mm.kvs.push_back({"general.type", GgufValue::string("mmproj")});
    for (GgufKv& kv : general_metadata(folder, cfg, gen, count_parameters(counted(mm.tensors))))
      mm.kvs.push_back(std::move(kv));
    auto clip = mmproj_metadata(cfg, *pre, dir, mm_ftype);
    if (!clip) return clip.error();
    for (GgufKv& kv : *clip) mm.kvs.push_back(std::move(kv));
    QL_TRY(finish(mm));
    if (plan.precision != GgufPrecision::kF16 && plan.precision != GgufPrecision::kBF16)
      plan.notes.push_back(fmt::format("{}: the vision projector stays F16 at this precision (llama-quantize never "
                                       "quantizes a projector, and llama.cpp's published mmproj files are F16)",
                                       fs::path(mm.path).filename().string()));
    plan.files.push_back(std::move(mm));
  }
  return plan;
}

}  // namespace ql::io::gguf
