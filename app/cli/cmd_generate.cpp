// quantlens-cli generate --model DIR [--image FILE]... (--prompt TEXT | --input-ids FILE) ...
// One request through the Engine. --prompt wraps the images (first, in order)
// and the text in the chat template as one user turn (after --system, if
// given); --input-ids runs a JSON array of ids that already holds each
// image's expanded pads. Without --json the text streams to stdout as it is
// generated; --json prints one object at the end.
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/common/mapped_file.h"
#include "app/cli/cli_common.h"
#include "app/cli/engine_cli.h"
#include "core/engine/engine.h"
#include "core/engine/grounding.h"
#include "core/engine/logit_rows.h"
#include "core/engine/token_ids_json.h"
#include "ui/imageio/image_decode.h"

namespace ql::cli {
namespace {

struct GenerateOptions {
  EngineCliOptions engine;
  std::vector<std::string> images;
  std::string prompt, input_ids_file, system, logits_rows;
  CLI::Option *prompt_opt = nullptr, *input_ids_opt = nullptr, *system_opt = nullptr;
  bool json = false;
};

Result<std::string> read_file(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  return read_text_file(path);  // a regular file, size-limited: never /dev/zero or a FIFO
}

// Everything that can be checked without the model, so bad arguments fail fast.
Result<engine::GenerationRequest> build_request(const GenerateOptions& o) {
  const bool has_prompt = o.prompt_opt->count() > 0, has_ids = o.input_ids_opt->count() > 0;
  if (has_prompt == has_ids) return err("give exactly one of --prompt TEXT or --input-ids FILE");
  if (has_ids && o.system_opt->count()) return err("--system applies to --prompt only (--input-ids are used as given)");
  engine::GenerationRequest r;
  std::vector<engine::ImageInput> images;
  for (const auto& path : o.images) images.push_back(engine::ImageInput::file(path));
  if (has_prompt) {
    engine::Conversation c;
    if (o.system_opt->count()) c.messages.push_back(engine::Message::system(o.system));
    c.messages.push_back(engine::Message::user(o.prompt, std::move(images)));
    r.prompt = std::move(c);
  } else {
    auto text = read_file(o.input_ids_file);
    if (!text) return text.error();
    auto ids = engine::parse_token_ids_json(*text, o.input_ids_file);
    if (!ids) return ids.error();
    r.prompt = engine::TokenPrompt{std::move(ids).value(), std::move(images)};
  }
  if (!o.logits_rows.empty()) {
    auto rows = engine::parse_logit_rows(o.logits_rows);
    if (!rows) return rows.error();
    r.logit_rows = *rows;
  }
  if (o.engine.max_new_tokens < 0) return err("--max-new-tokens {} must be >= 0", o.engine.max_new_tokens);
  r.sampling = sampling_options(o.engine);
  r.max_new_tokens = o.engine.max_new_tokens;
  r.ignore_eos = o.engine.ignore_eos;
  return r;
}

nlohmann::json result_json(const engine::GenerationResult& r) {
  nlohmann::json logits = nlohmann::json::object();
  for (const auto& [row, values] : r.logits) logits[std::to_string(row)] = values;
  nlohmann::json positions = nlohmann::json::array();
  for (const auto& axis : r.prompt_positions.axis) positions.push_back(axis);
  return {
      {"prompt_tokens", r.prompt_ids.size()},
      {"generated_ids", r.generated_ids},
      {"text", r.text},
      {"logits", logits},
      {"position_ids", positions},
      {"ttft_ms", r.metrics.ttft_ms},
      {"decode_tok_s", r.metrics.decode_tokens_per_s},
      {"stop_reason", engine::stop_reason_name(r.stop_reason)},
      {"seed", r.seed},
  };
}

// Qwen3-VL grounding boxes and points in the answer (core/engine/grounding.h),
// in pixels of the prompt's last picture; null when the answer has none.
nlohmann::json grounding_json(const std::string& answer, const std::vector<std::string>& images) {
  const engine::GroundingParse p = engine::parse_grounding(answer);
  if (p.shapes.empty() && p.problems.empty()) return nullptr;
  nlohmann::json g = {{"problems", p.problems}, {"shapes", nlohmann::json::array()}};
  std::optional<vision::ImageRGB8> picture;
  if (!images.empty()) {
    g["image"] = images.back();
    auto decoded = imageio::decode_image_file(images.back());
    if (decoded) picture = std::move(decoded).value();
  }
  if (picture) {
    g["width"] = picture->width;
    g["height"] = picture->height;
  }
  for (const auto& s : p.shapes) {
    const bool box = s.kind == engine::GroundingShape::Kind::kBox;
    nlohmann::json item = {{"label", s.label}};
    if (box) item["bbox_2d"] = {s.coords[0], s.coords[1], s.coords[2], s.coords[3]};
    else item["point_2d"] = {s.coords[0], s.coords[1]};
    if (picture) {
      const auto px = engine::to_pixels(s, picture->width, picture->height);
      if (box) item["bbox_px"] = {px.coords[0], px.coords[1], px.coords[2], px.coords[3]};
      else item["point_px"] = {px.coords[0], px.coords[1]};
    }
    g["shapes"].push_back(std::move(item));
  }
  return g;
}

void print_stats(const engine::GenerationResult& r) {
  const auto& m = r.metrics;
  std::cerr << fmt::format(
      "{} prompt tokens ({} from cache), {} generated ({}), first token {:.1f} ms, {:.1f} tokens/s, "
      "memory {:.1f} MiB, seed {}\n",
      m.prompt_tokens, r.reused_tokens, m.generated_tokens, engine::stop_reason_name(r.stop_reason), m.ttft_ms,
      m.decode_tokens_per_s, static_cast<double>(m.memory_bytes()) / (1024.0 * 1024.0), r.seed);
}

int run_generate(const GenerateOptions& o) {
  auto request = build_request(o);
  if (!request) return report(request.error());
  engine::Engine engine(&imageio::decode_image_file);
  if (Status st = load_engine(engine, o.engine); !st) return report(st.error());

  request->on_prefill_progress = prefill_printer(o.engine.verbose);
  engine::TokenCallback stream;
  if (!o.json) stream = [](const engine::StreamedToken& t) { std::cout << t.text << std::flush; };
  auto result = engine.generate(*request, stream);
  if (!result) {
    if (!o.json) std::cout << std::flush;
    return report(result.error());
  }
  if (o.json) {
    // Invalid UTF-8 cannot occur in the text (the detokenizer repairs it), but never let dump() throw.
    nlohmann::json out = result_json(*result);
    out["grounding"] = grounding_json(result->text, o.images);
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "\n";
  }
  if (o.engine.verbose) print_stats(*result);
  return kExitOk;
}

}  // namespace

void add_generate_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = app.add_subcommand("generate", "Generate a reply to a prompt (text and images) with a model");
  add_engine_options(cmd, o->engine);
  cmd->add_option("--image", o->images, "Image file for the prompt (repeatable; in order)");
  o->prompt_opt = cmd->add_option("--prompt", o->prompt, "The user's message (wrapped in the chat template)");
  o->input_ids_opt = cmd->add_option("--input-ids", o->input_ids_file,
                                     "JSON array of token ids with each image's pads already expanded ('-' = stdin)");
  o->system_opt = cmd->add_option("--system", o->system, "System prompt (with --prompt)");
  cmd->add_option("--logits-rows", o->logits_rows,
                  "Return the logits of these prompt rows: 'all' or a comma list (negative = from the end); "
                  "JSON keys are absolute rows");
  cmd->add_flag("--json", o->json,
                "Print one JSON object: prompt_tokens, generated_ids, text, logits, position_ids, ttft_ms, "
                "decode_tok_s, stop_reason, seed");
  cmd->footer("Exit codes: 0 ok; 2 bad arguments or input (images, ids, prompt too long); 1 other failures.");
  cmd->callback([o, &exit_code] { exit_code = run_generate(*o); });
}

}  // namespace ql::cli
