// quantlens-cli export --model DIR --format gguf|bnb|safetensors --precision P --out FOLDER
//                      [--json] [--threads N] [--shard-size GB] [--no-mmproj]
// Writes the model in a format other tools load (core/io/export.h), through
// the same Engine call as the GUI's export dialog. Without --json a progress
// line goes to stderr and a summary to stdout; --json prints one object.
// Ctrl+C cancels: the export stops between pieces and leaves no files.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "app/cli/stop_signals.h"
#include "core/engine/engine.h"
#include "core/io/export.h"

namespace ql::cli {
namespace {

struct ExportOptions {
  std::string model_dir, format, precision, out_dir;
  bool json = false, no_mmproj = false, force = false;
  int threads = 0;
  double shard_size_gb = 0;
  CLI::Option* shard_size_opt = nullptr;
};

std::string precisions_help() {
  std::string s;
  for (io::ExportFormat f : {io::ExportFormat::kGguf, io::ExportFormat::kBnb, io::ExportFormat::kSafetensors})
    s += fmt::format("{}{}: {}", s.empty() ? "" : "; ", io::export_format_name(f),
                     fmt::join(io::export_precisions(f), ", "));
  return s;
}

// Everything that can be checked without reading the model, so bad arguments fail fast.
Result<io::ExportRequest> build_request(const ExportOptions& o) {
  io::ExportRequest r;
  QL_ASSIGN_OR_RETURN(r.format, io::parse_export_format(o.format));
  QL_ASSIGN_OR_RETURN(r.precision, io::canonical_export_precision(r.format, o.precision));
  r.model_dir = o.model_dir;
  r.out_dir = o.out_dir;
  r.remove_interrupted = o.force;
  if (o.threads < 0) return err("--threads {} must be 0 (every core) or more", o.threads);
  r.threads = o.threads;
  if (o.shard_size_opt->count()) {
    if (r.format == io::ExportFormat::kGguf)
      return err("--shard-size applies to safetensors and bnb exports, not gguf");
    const double bytes = o.shard_size_gb * 1e9;
    if (!std::isfinite(bytes) || bytes < 1)
      return err("--shard-size {} must be a positive number of GB", o.shard_size_gb);
    r.max_shard_bytes = static_cast<uint64_t>(std::llround(bytes));
  }
  if (o.no_mmproj) {
    if (r.format != io::ExportFormat::kGguf) return err("--no-mmproj applies to gguf exports only");
    r.gguf_mmproj = false;
  }
  return r;
}

std::string megabytes(uint64_t bytes) { return fmt::format("{:.2f} MB", static_cast<double>(bytes) / 1e6); }

nlohmann::json error_or_null(double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); }

nlohmann::json result_json(const io::ExportRequest& request, const io::ExportResult& r) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : r.files) files.push_back({{"path", f.path}, {"bytes", f.bytes}});
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : r.tensors) {
    tensors.push_back(
        {{"file", t.file},
         {"name", t.name},
         {"source", t.source},
         {"type", t.type},
         {"shape", t.shape},
         {"bytes", t.bytes},
         {"rel_rmse", error_or_null(t.rel_rmse)},
         {"inapp_rel_rmse", error_or_null(t.inapp_rel_rmse)},
         {"inapp_format", t.inapp_format.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.inapp_format)}});
  }
  return {{"model", request.model_dir},
          {"format", io::export_format_name(r.format)},
          {"precision", r.precision},
          {"out_dir", r.out_dir},
          {"files", files},
          {"total_bytes", r.total_bytes},
          {"seconds", r.seconds},
          {"notes", r.notes},
          {"tensors", tensors}};
}

void print_summary(const io::ExportRequest& request, const io::ExportResult& r) {
  std::cout << fmt::format("exported {} as {} {} to {} in {:.1f} s\n", request.model_dir,
                           io::export_format_name(r.format), r.precision, r.out_dir, r.seconds);
  size_t width = 4;
  for (const auto& f : r.files) width = std::max(width, std::filesystem::path(f.path).filename().string().size());
  for (const auto& f : r.files)
    std::cout << fmt::format("  {:<{}}  {:>12}\n", std::filesystem::path(f.path).filename().string(), width,
                             megabytes(f.bytes));
  std::cout << fmt::format("{} files, {} in all; {} tensors\n", r.files.size(), megabytes(r.total_bytes),
                           r.tensors.size());
  const io::TensorExportReport* worst = nullptr;
  for (const auto& t : r.tensors)
    if (t.rel_rmse >= 0 && (!worst || t.rel_rmse > worst->rel_rmse)) worst = &t;
  if (worst)
    std::cout << fmt::format("largest relative RMS error: {:.3g} ({}, {})\n", worst->rel_rmse, worst->name,
                             worst->type);
  for (const auto& n : r.notes) std::cout << "note: " << n << "\n";
}

// One line on stderr, rewritten in place: when the stage changes, else at
// most 10 times a second (the core reports every tensor; a terminal need not).
io::ExportProgressFn progress_printer() {
  return [last_stage = std::string(),
          last = std::chrono::steady_clock::time_point()](const io::ExportProgress& p) mutable {
    const auto now = std::chrono::steady_clock::now();
    if (p.stage == last_stage && now - last < std::chrono::milliseconds(100)) return;
    last_stage = p.stage;
    last = now;
    const double pct =
        p.total_bytes ? 100.0 * static_cast<double>(p.done_bytes) / static_cast<double>(p.total_bytes) : 0;
    const std::string line = p.tensor_count ? fmt::format("export: {:3.0f}% {} (tensor {}/{})", pct, p.stage,
                                                          p.tensor_index + 1, p.tensor_count)
                                            : fmt::format("export: {:3.0f}% {}", pct, p.stage);
    std::cerr << "\r" << fmt::format("{:<72}", line) << std::flush;
  };
}

int run_export(const ExportOptions& o) {
  auto request = build_request(o);
  if (!request) return report(request.error());
  engine::Engine engine;
  Result<io::ExportResult> result = [&] {
    StopSignals signals(engine, {SIGINT, SIGTERM, SIGHUP});
    return engine.export_model(*request, o.json ? io::ExportProgressFn{} : progress_printer());
  }();
  if (!o.json) std::cerr << "\n";
  if (!result) {
    if (engine::Engine::is_cancelled(result.error())) {
      const int sig = StopSignals::received();
      std::cerr << "quantlens-cli: export cancelled" << (sig ? fmt::format(" by {}", signal_name(sig)) : "")
                << "; no files were left in " << request->out_dir << "\n";
      return kExitFailure;
    }
    return report(result.error());
  }
  if (o.json) {
    std::cout << result_json(*request, *result).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    print_summary(*request, *result);
  }
  return kExitOk;
}

}  // namespace

void add_export_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ExportOptions>();
  auto* cmd = app.add_subcommand("export",
                                 "Export a model folder for other tools: GGUF (llama.cpp, Ollama, LM "
                                 "Studio), bitsandbytes safetensors or plain 16-bit safetensors "
                                 "(transformers, vLLM)");
  cmd->add_option("--model", o->model_dir, "Source model folder (config.json and safetensors); only read")->required();
  cmd->add_option("--format", o->format, "gguf, bnb or safetensors")->required();
  cmd->add_option("--precision", o->precision, "Precision of the written weights: " + precisions_help())->required();
  cmd->add_option("--out", o->out_dir,
                  "Output folder: created if absent, else it must be empty; never the model folder or inside it")
      ->required();
  cmd->add_flag("--json", o->json,
                "Print one JSON object: {model, format, precision, out_dir, files: [{path, bytes}], total_bytes, "
                "seconds, notes, tensors: [{file, name, source, type, shape, bytes, rel_rmse, inapp_rel_rmse, "
                "inapp_format}]}");
  cmd->add_option("--threads", o->threads, "CPU threads for converting and quantizing (default: every core)");
  o->shard_size_opt = cmd->add_option("--shard-size", o->shard_size_gb,
                                      "safetensors and bnb: most tensor bytes per shard in GB (10^9 bytes), "
                                      "default 5 as transformers' save_pretrained");
  cmd->add_flag("--force", o->force,
                "Remove what an interrupted (killed) export into --out left, as its claim lists it, instead of "
                "refusing the folder");
  cmd->add_flag("--no-mmproj", o->no_mmproj, "gguf: write only the text model, no vision projector (mmproj)");
  cmd->footer("Precisions per format: " + precisions_help() +
              " (GGUF ones as llama.cpp names them). Every file is written under a temporary name and renamed "
              "when complete; a failed or cancelled export (Ctrl+C, SIGTERM, SIGHUP) leaves no files. While it runs the folder holds its claim (.quantlens-export): a second export into it is refused; one killed outright (SIGKILL) leaves the claim and its partial files, which the next export names and --force removes. Exit codes: 0 ok; 2 bad "
              "arguments or input (model, precision, output folder); 1 other failures (disk full, cancelled).");
  cmd->callback([o, &exit_code] { exit_code = run_export(*o); });
}

}  // namespace ql::cli
