#pragma once
// Exporting a model folder to formats other tools load (docs/formats.md): GGUF text
// model + mmproj for llama.cpp / Ollama / LM Studio, bitsandbytes-format
// safetensors for transformers, plain BF16/FP16 safetensors. The CLI's
// `export` and the GUI's export dialog both call export_model (directly or
// through Engine::export_model).
//
// Exports read the SOURCE checkpoint (16-bit weights, mmapped) tensor by
// tensor, never a loaded model: GGUF block formats differ from the in-app
// INT8/NF4, and quantizing twice would compound errors. Host memory stays near
// one tensor; every file is written under a temporary name and renamed when
// complete, so a cancelled, failed or crashed export leaves no file under a
// final name and the source folder is never written to.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/common/result.h"

namespace ql::io {

enum class ExportFormat { kGguf, kBnb, kSafetensors };

// "gguf", "bnb", "safetensors"
const char* export_format_name(ExportFormat format);
Result<ExportFormat> parse_export_format(const std::string& text);

// The precisions each format takes, as the user types them:
//   gguf:        f16, bf16, q8_0, q4_k_m, q4_0, iq4_nl   (llama.cpp's names)
//   bnb:         int8, nf4
//   safetensors: bf16, fp16
std::vector<std::string> export_precisions(ExportFormat format);
// The canonical spelling of a precision for a format (lower case; "f16" and
// "float16" are fp16 for safetensors, "bfloat16" is bf16); an error lists the
// format's precisions.
Result<std::string> canonical_export_precision(ExportFormat format, const std::string& precision);

// transformers' save_pretrained default shard size ("5GB" = 5 * 10^9 bytes).
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000ull;

struct ExportRequest {
  std::string model_dir;  // the source checkpoint folder (never written to)
  ExportFormat format = ExportFormat::kGguf;
  std::string precision;  // one of export_precisions(format), case-insensitive
  std::string out_dir;    // created if absent; must be empty; must not be or lie inside model_dir
  int threads = 0;        // quantization threads; 0 = every core
  uint64_t max_shard_bytes = kDefaultMaxShardBytes;  // safetensors / bnb: tensor bytes per shard
  bool gguf_mmproj = true;                           // GGUF: also write the vision projector (mmproj-*.gguf)
  bool report_tensor_errors = true;                  // GGUF: per-tensor error against in-app quantization
  // Remove what an interrupted (killed) export into out_dir left, listed by
  // its claim (core/io/folder_claim.h), instead of refusing the folder.
  bool remove_interrupted = false;
};

// Progress: called on the exporting thread between tensors (and within large
// ones), never more often than needed to move a progress bar.
struct ExportProgress {
  std::string stage;         // "checking", "writing model.gguf", "renaming", ...
  std::string tensor;        // the tensor being written, if any
  uint64_t done_bytes = 0;   // output bytes written so far
  uint64_t total_bytes = 0;  // the estimate of all output bytes
  size_t tensor_index = 0, tensor_count = 0;
};
using ExportProgressFn = std::function<void(const ExportProgress&)>;

// One written tensor. For quantized GGUF/bnb tensors the error figures compare,
// against the source values, the exported values and the values of the
// in-app quantization of the same precision (q8_0 ~ int8, q4_* / iq4_nl ~
// nf4, f16/bf16 ~ the same 16-bit type): relative RMS error
// sqrt(sum (q - x)^2 / sum x^2). -1 where not computed.
struct TensorExportReport {
  std::string file;            // basename of the file it went to
  std::string name;            // name in that file
  std::string source;          // source checkpoint tensor(s) it came from
  std::string type;            // "Q4_K", "BF16", "I8", "U8 (nf4)", ...
  std::vector<int64_t> shape;  // as written (GGUF: ne order)
  uint64_t bytes = 0;
  double rel_rmse = -1;        // exported vs source
  double inapp_rel_rmse = -1;  // in-app quantization of the same precision vs source
  std::string inapp_format;    // "int8", "nf4", "bf16", ... ("" when not compared)
};

struct ExportedFile {
  std::string path;  // final path
  uint64_t bytes = 0;
};

struct ExportResult {
  ExportFormat format = ExportFormat::kGguf;
  std::string precision;  // canonical
  std::string out_dir;
  std::vector<ExportedFile> files;  // every file written, companions included
  std::vector<TensorExportReport> tensors;
  uint64_t total_bytes = 0;
  double seconds = 0;
  std::vector<std::string> notes;  // e.g. "experts stay bf16: transformers' bnb does not quantize them"
};

// What an export will write, computed from the checkpoint's headers alone:
// the bytes of every output file, for the dialog's estimate and the free
// disk space check. Errors as export_model's before it writes anything.
struct ExportEstimate {
  uint64_t total_bytes = 0;
  std::vector<ExportedFile> files;  // planned final paths and sizes
};
Result<ExportEstimate> estimate_export(const ExportRequest& request);

// Runs an export. Checks before writing anything: the source is a valid
// checkpoint, the precision fits the format, the output folder is not the
// source (nor inside it), is empty or creatable, is writable, and its file
// system has room for the estimate. *cancel (if given) is polled between
// tensors and within large ones; a cancelled export returns an error whose
// message is kExportCancelledMessage and leaves no files (temporaries removed;
// an output folder that the export created is removed again).
inline constexpr const char* kExportCancelledMessage = "export cancelled";
Result<ExportResult> export_model(const ExportRequest& request, const ExportProgressFn& progress = {},
                                  const std::atomic<bool>* cancel = nullptr);

}  // namespace ql::io
