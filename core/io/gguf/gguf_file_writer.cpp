#include "core/io/gguf/gguf_file_writer.h"

#include <filesystem>
#include <vector>

#include "core/io/atomic_file.h"
#include "core/io/gguf/block_quants.h"
#include "core/io/gguf/tensor_error.h"
#include "core/quant/parallel_for.h"
#include "core/quant/quantized_weight.h"

namespace ql::io::gguf {
namespace {

namespace fs = std::filesystem;

// Per-tensor work shared across its slices.
struct TensorRun {
  ErrorSums exported, inapp;
  bool inapp_ok = true;
};

// The in-app quantization of the same precision, on the same rows.
void add_inapp_error(const PlannedTensor& t, const float* rows, int64_t nrows, quant::QuantFormat format, int threads,
                     TensorRun& run, std::vector<float>& decoded) {
  auto w = quant::quantize(quant::SourceTensor::f32(t.mapped.name, rows, nrows, t.mapped.ne[0]), format, threads);
  if (!w) {  // e.g. INT8 refuses values beyond fp16: no figure rather than a wrong one
    run.inapp_ok = false;
    return;
  }
  const int64_t ne0 = t.mapped.ne[0];
  const quant::QuantizedWeight& weight = **w;
  quant::parallel_for(nrows, threads, 4.0 * static_cast<double>(ne0), [&](int64_t begin, int64_t end) {
    weight.decode_rows(begin, end - begin, decoded.data() + begin * ne0);
  });
  run.inapp.add(rows, decoded.data(), nrows * ne0, threads);
}

Status write_tensor(const PlannedTensor& t, const GgufWriteOptions& options,
                    quant::QuantFormat inapp_format, AtomicFile& file, ExportContext& context, TensorRun& run) {
  const int64_t ne0 = t.mapped.ne[0];
  auto row_bytes = ggml_row_bytes(t.type, ne0);
  if (!row_bytes) return err("{}: {}", t.mapped.name, row_bytes.message());
  // In-app comparison for weight matrices only; norms and biases stay in
  // high precision in the app as in the file.
  const bool compare_inapp = options.report_tensor_errors && t.type != GgmlType::kF32 && t.mapped.ne.size() >= 2;
  std::vector<float> rows, decoded;
  std::vector<uint8_t> bytes;
  for (const RowRange& slice : plan_row_slices(t.mapped)) {
    if (context.cancelled()) return context.stop_error();
    const int64_t n = slice.rows() * ne0;
    rows.resize(static_cast<size_t>(n));
    bytes.resize(static_cast<size_t>(slice.rows() * *row_bytes));
    QL_TRY(read_rows(t.mapped, slice, rows.data(), options.threads));
    QL_TRY(quantize_rows(t.type, rows.data(), slice.rows(), ne0, bytes.data(), options.threads));
    QL_TRY(file.write(bytes.data(), bytes.size()));
    context.add_bytes(bytes.size());
    if (options.report_tensor_errors) {
      decoded.resize(static_cast<size_t>(n));
      QL_TRY(dequantize_rows(t.type, bytes.data(), slice.rows(), ne0, decoded.data(), options.threads));
      run.exported.add(rows.data(), decoded.data(), n, options.threads);
      if (compare_inapp) add_inapp_error(t, rows.data(), slice.rows(), inapp_format, options.threads, run, decoded);
    }
  }
  return {};
}

}  // namespace

Status write_gguf_files(const GgufExportPlan& plan, const GgufWriteOptions& options, ExportContext& context,
                        ExportResult& result) {
  size_t tensor_count = 0;
  for (const GgufFilePlan& f : plan.files) tensor_count += f.tensors.size();
  const quant::QuantFormat inapp = inapp_format(plan.precision);

  std::vector<AtomicFile> files;
  std::vector<TensorExportReport> reports;
  size_t index = 0;
  for (const GgufFilePlan& f : plan.files) {
    const std::string base = fs::path(f.path).filename().string();
    const std::string stage = "writing " + base;
    auto file = AtomicFile::create(f.path);
    if (!file) return file.error();
    QL_TRY(file->write(f.header.bytes.data(), f.header.bytes.size()));
    context.add_bytes(f.header.bytes.size());
    for (size_t i = 0; i < f.tensors.size(); ++i, ++index) {
      const PlannedTensor& t = f.tensors[i];
      const GgufTensorInfo& info = f.infos[i];
      context.report(stage, t.mapped.name, index, tensor_count);
      TensorRun run;
      QL_TRY(write_tensor(t, options, inapp, *file, context, run));
      const uint64_t padded = gguf_pad(info.nbytes, f.header.alignment);
      QL_TRY(file->write_zeros(padded - info.nbytes));
      context.add_bytes(padded - info.nbytes);

      TensorExportReport r;
      r.file = base;
      r.name = t.mapped.name;
      r.source = t.mapped.source_label;
      r.type = ggml_type_upper_name(t.type);
      r.shape = t.mapped.ne;
      r.bytes = info.nbytes;
      if (options.report_tensor_errors) {
        r.rel_rmse = run.exported.rel_rmse();
        if (t.type != GgmlType::kF32 && t.mapped.ne.size() >= 2 && run.inapp_ok) {
          r.inapp_rel_rmse = run.inapp.rel_rmse();
          r.inapp_format = quant::quant_format_name(inapp);
        }
      }
      reports.push_back(std::move(r));
    }
    if (file->bytes_written() != f.file_bytes())
      return internal_err("{}: wrote {} bytes, planned {}", f.path, file->bytes_written(), f.file_bytes());
    files.push_back(std::move(*file));
  }
  if (context.cancelled()) return context.stop_error();

  // Only now, with every file complete, do they take their final names.
  context.report("renaming");
  std::vector<std::string> committed;
  for (size_t i = 0; i < files.size(); ++i) {
    if (auto st = files[i].commit(); !st) {
      std::error_code ec;
      for (const std::string& p : committed) fs::remove(p, ec);  // all or nothing
      return st.error();
    }
    committed.push_back(plan.files[i].path);
  }
  for (const GgufFilePlan& f : plan.files) result.files.push_back({f.path, f.file_bytes()});
  for (TensorExportReport& r : reports) result.tensors.push_back(std::move(r));
  for (const std::string& n : plan.notes) result.notes.push_back(n);
  return {};
}

}  // namespace ql::io::gguf
