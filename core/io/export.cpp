#include "core/io/export.h"
#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <filesystem>
#include <new>
#include <optional>

#include <fmt/format.h>

#include "core/common/no_exceptions.h"
#include "core/io/bnb_export.h"
#include "core/io/export_context.h"
#include "core/io/export_source.h"
#include "core/io/folder_claim.h"
#include "core/io/gguf_export.h"
#include "core/io/output_folder.h"
#include "core/io/safetensors_export.h"

namespace ql::io {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The request as the writers get it: precision canonical, paths as given.
struct Prepared {
  ExportRequest request;
  ExportSource source;
  std::optional<OutputFolder> folder;
  ExportEstimate estimate;
};

Result<ExportEstimate> estimate_format(const ExportRequest& r, const ExportSource& s) {
  switch (r.format) {
    case ExportFormat::kSafetensors:
      return estimate_safetensors_export(r, s.checkpoint, s.config);
    case ExportFormat::kGguf:
      return estimate_gguf_export(r, s.checkpoint, s.config);
    case ExportFormat::kBnb:
      return estimate_bnb_export(r, s.checkpoint, s.config);
  }
  return internal_err("unknown export format {}", static_cast<int>(r.format));
}

Status write_format(const ExportRequest& r, const ExportSource& s, ExportContext& context, ExportResult& result) {
  switch (r.format) {
    case ExportFormat::kSafetensors:
      return write_safetensors_export(r, s.checkpoint, s.config, context, result);
    case ExportFormat::kGguf:
      return write_gguf_export(r, s.checkpoint, s.config, context, result);
    case ExportFormat::kBnb:
      return write_bnb_export(r, s.checkpoint, s.config, context, result);
  }
  return internal_err("unknown export format {}", static_cast<int>(r.format));
}

// Everything export_model checks before it writes: arguments, the source, the
// output folder (when given, or when `need_out`), and the estimate.
Result<Prepared> prepare(const ExportRequest& request, bool need_out) {
  Prepared p{request, {}, std::nullopt, {}};
  QL_ASSIGN_OR_RETURN(p.request.precision, canonical_export_precision(request.format, request.precision));
  if (request.threads < 0) return err("threads {} must be 0 (every core) or more", request.threads);
  if (request.model_dir.empty()) return err("no model folder given");
  QL_ASSIGN_OR_RETURN(p.source, open_export_source(request.model_dir));
  if (need_out || !request.out_dir.empty()) {
    QL_ASSIGN_OR_RETURN(OutputFolder folder, check_output_folder(request.model_dir, request.out_dir, request.remove_interrupted));
    p.folder = std::move(folder);
  }
  QL_ASSIGN_OR_RETURN(p.estimate, estimate_format(p.request, p.source));
  return p;
}

// Takes back what a failed or cancelled export wrote: the files it reported,
// any planned file or temporary still there (a writer that failed between
// its rename and its report), and the folders it created. It exists only
// once the export holds its claim on a folder that was empty when claimed
// (folder_claim.h), so every planned name found there is this export's own.
class Cleanup {
 public:
  Cleanup(const ExportEstimate& plan, const ExportResult& result) : plan_(plan), result_(result) {}
  ~Cleanup() {
    std::error_code ec;
    if (!done_ && owns_planned_) {
      for (const auto& f : result_.files) fs::remove(f.path, ec);
      for (const auto& f : plan_.files) {
        const fs::path p(f.path);
        fs::remove(p, ec);
        std::string temp = ".";  // built piece by piece: GCC 12 warns falsely (-Wrestrict) on "." + string
        temp += p.filename().string();
        temp += ".partial";
        fs::remove(p.parent_path() / temp, ec);
      }
    }
    claim_.reset();  // before the folders: a created folder holds the claim
    if (!done_) remove_created_folders(created_);
  }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  void set_created(std::vector<std::string> created) { created_ = std::move(created); }
  void set_claim(FolderClaim claim) { claim_.emplace(std::move(claim)); }
  // The claimed folder held nothing else: every planned name is ours from now.
  void own_planned() { owns_planned_ = true; }
  void keep() { done_ = true; }

 private:
  const ExportEstimate& plan_;
  const ExportResult& result_;
  std::vector<std::string> created_;
  std::optional<FolderClaim> claim_;
  bool owns_planned_ = false, done_ = false;
};

Result<ExportResult> run_export(const ExportRequest& request, const ExportProgressFn& progress,
                                const std::atomic<bool>* cancel) {
  const auto start = std::chrono::steady_clock::now();
  ExportContext context(progress, cancel, 0);
  context.report("checking");
  if (context.cancelled()) return context.stop_error();
  QL_ASSIGN_OR_RETURN(Prepared p, prepare(request, /*need_out=*/true));
  QL_TRY(check_free_space(*p.folder, p.estimate.total_bytes));
  context.watch_source([&source = p.source] { return source.checkpoint.unchanged(); });
  if (context.cancelled()) return context.stop_error();

  ExportResult result;
  result.format = p.request.format;
  result.precision = p.request.precision;
  result.out_dir = p.request.out_dir;
  Cleanup cleanup(p.estimate, result);
  QL_ASSIGN_OR_RETURN(std::vector<std::string> created, create_output_folder(*p.folder));
  cleanup.set_created(std::move(created));
  if (p.folder->stale_claim) QL_TRY(remove_stale_claim(p.folder->resolved, *p.folder->stale_claim));
  std::vector<std::string> planned;
  for (const auto& f : p.estimate.files) planned.push_back(f.path);
  QL_ASSIGN_OR_RETURN(FolderClaim claim, FolderClaim::take(p.folder->resolved, p.folder->path, planned));
  cleanup.set_claim(std::move(claim));
  QL_TRY(check_only_claim_left(*p.folder));
  cleanup.own_planned();
  context.set_total_bytes(p.estimate.total_bytes);
  QL_TRY(write_format(p.request, p.source, context, result));
  if (context.cancelled()) return context.stop_error();  // a writer that finished without noticing
  QL_TRY(p.source.checkpoint.unchanged());  // a change in the last 100 ms: the files may mix old and new
  cleanup.keep();

  for (const auto& f : result.files) result.total_bytes += f.bytes;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  context.report("done");
  return result;
}

}  // namespace

const char* export_format_name(ExportFormat format) {
  switch (format) {
    case ExportFormat::kGguf:
      return "gguf";
    case ExportFormat::kBnb:
      return "bnb";
    case ExportFormat::kSafetensors:
      return "safetensors";
  }
  return "unknown";
}

Result<ExportFormat> parse_export_format(const std::string& text) {
  const std::string t = lower(text);
  for (ExportFormat f : {ExportFormat::kGguf, ExportFormat::kBnb, ExportFormat::kSafetensors})
    if (t == export_format_name(f)) return f;
  return err("unknown export format \"{}\" (gguf, bnb or safetensors)", text);
}

std::vector<std::string> export_precisions(ExportFormat format) {
  switch (format) {
    case ExportFormat::kGguf:
      return {"f16", "bf16", "q8_0", "q4_k_m", "q4_0", "iq4_nl"};
    case ExportFormat::kBnb:
      return {"int8", "nf4"};
    case ExportFormat::kSafetensors:
      return {"bf16", "fp16"};
  }
  return {};
}

Result<std::string> canonical_export_precision(ExportFormat format, const std::string& precision) {
  std::string p = lower(precision);
  if (format == ExportFormat::kSafetensors) {
    if (p == "f16" || p == "float16") p = "fp16";
    if (p == "bfloat16") p = "bf16";
  }
  const auto valid = export_precisions(format);
  if (std::find(valid.begin(), valid.end(), p) != valid.end()) return p;
  if (precision.empty())
    return err("no precision given for {} export (one of {})", export_format_name(format), fmt::join(valid, ", "));
  return err("precision \"{}\" is not one of {} export's: {}", precision, export_format_name(format),
             fmt::join(valid, ", "));
}

Result<ExportEstimate> estimate_export(const ExportRequest& request) {
  return no_exceptions("estimating the export", [&]() -> Result<ExportEstimate> {
    QL_ASSIGN_OR_RETURN(Prepared p, prepare(request, /*need_out=*/false));
    return p.estimate;
  });
}

Result<ExportResult> export_model(const ExportRequest& request, const ExportProgressFn& progress,
                                  const std::atomic<bool>* cancel) {
  return no_exceptions("exporting", [&] { return run_export(request, progress, cancel); });
}

}  // namespace ql::io
