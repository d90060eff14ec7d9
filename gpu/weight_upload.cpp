#include "gpu/weight_upload.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "core/backend/quantized_format.h"
#include "core/quant/dynamic_map.h"
#include "core/quant/nf4_code_table.h"
#include "core/quant/quantized_weight.h"
#include "gpu/cuda_status.h"
#include "gpu/kernels/convert_dense.cuh"
#include "gpu/kernels/quantize_int8.cuh"
#include "gpu/kernels/quantize_nf4.cuh"
#include "gpu/kernels/quantize_source.cuh"
#include "gpu/kernels/synthetic.cuh"

namespace ql::gpu {
namespace {

using backend::HostWeight;
using backend::WeightFormat;

constexpr size_t kAlign = 256;
constexpr size_t kPinnedChunk = size_t{32} << 20;      // one host -> device copy
constexpr size_t kStagingFloor = size_t{256} << 20;   // device staging of small tensors' groups

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

size_t dense_bytes(WeightFormat f) { return f == WeightFormat::kF32 ? 4 : 2; }

WFormat device_format(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return WFormat::kF32;
    case WeightFormat::kBF16: return WFormat::kBF16;
    case WeightFormat::kF16: return WFormat::kF16;
    case WeightFormat::kInt8Rowwise: return WFormat::kInt8;
    case WeightFormat::kNF4: return WFormat::kNF4;
  }
  return WFormat::kF32;
}

SourceType source_type(WeightFormat f) {
  switch (f) {
    case WeightFormat::kBF16: return SourceType::kBF16;
    case WeightFormat::kF16: return SourceType::kF16;
    default: return SourceType::kF32;
  }
}

int32_t dense_target_code(WeightFormat f) { return f == WeightFormat::kF32 ? 0 : f == WeightFormat::kBF16 ? 1 : 2; }

// Where each array of a weight lives in its one device block.
struct Layout {
  size_t total = 0;
  size_t data = 0;                                            // dense
  size_t codes = 0, scb = 0;                                  // int8
  size_t packed = 0, absmax = 0, nested = 0, offset = 0;      // nf4
  size_t quant_map = 0, nested_map = 0;
  int64_t packed_stride = 0, absmax_stride = 0, nested_stride = 0;

  size_t take(size_t bytes) {
    const size_t at = total;
    total += round_up(bytes);
    return at;
  }
};

Layout layout_for(WeightFormat f, int64_t rows, int64_t cols, int64_t stack) {
  Layout l;
  const auto numel = static_cast<size_t>(rows * cols);
  const auto s = static_cast<size_t>(stack);
  switch (f) {
    case WeightFormat::kF32:
    case WeightFormat::kBF16:
    case WeightFormat::kF16: l.data = l.take(s * numel * dense_bytes(f)); break;
    case WeightFormat::kInt8Rowwise:
      l.codes = l.take(s * numel);
      l.scb = l.take(s * static_cast<size_t>(rows) * 4);
      break;
    case WeightFormat::kNF4: {
      const int64_t blocks = (rows * cols + 63) / 64;
      l.packed_stride = (rows * cols + 1) / 2;
      l.absmax_stride = blocks;
      l.nested_stride = (blocks + 255) / 256;
      l.packed = l.take(s * static_cast<size_t>(l.packed_stride));
      l.absmax = l.take(s * static_cast<size_t>(l.absmax_stride));
      l.nested = l.take(s * static_cast<size_t>(l.nested_stride) * 4);
      l.offset = l.take(s * 4);
      l.quant_map = l.take(16 * 4);
      l.nested_map = l.take(256 * 4);
      break;
    }
  }
  return l;
}

DeviceWeight device_weight(WeightFormat f, const Layout& l, void* base, int64_t rows, int64_t cols, int64_t stack) {
  auto at = [&](size_t off) { return static_cast<char*>(base) + off; };
  DeviceWeight w;
  w.format = device_format(f);
  w.rows = w.stored_rows = rows;
  w.cols = cols;
  w.stack = stack;
  switch (f) {
    case WeightFormat::kF32:
    case WeightFormat::kBF16:
    case WeightFormat::kF16: w.data = at(l.data); break;
    case WeightFormat::kInt8Rowwise:
      w.codes = reinterpret_cast<const int8_t*>(at(l.codes));
      w.scb = reinterpret_cast<const float*>(at(l.scb));
      break;
    case WeightFormat::kNF4:
      w.packed = reinterpret_cast<const uint8_t*>(at(l.packed));
      w.packed_stride = l.packed_stride;
      w.absmax_codes = reinterpret_cast<const uint8_t*>(at(l.absmax));
      w.absmax_stride = l.absmax_stride;
      w.nested_absmax = reinterpret_cast<const float*>(at(l.nested));
      w.nested_stride = l.nested_stride;
      w.offset = reinterpret_cast<const float*>(at(l.offset));
      w.quant_map = reinterpret_cast<const float*>(at(l.quant_map));
      w.nested_map = reinterpret_cast<const float*>(at(l.nested_map));
      break;
  }
  return w;
}

// What core/quant counts for one matrix (QuantizedWeight::stored_bytes), so
// that a model's weight bytes are the same figure on every backend.
size_t core_stored_bytes(WeightFormat f, int64_t rows, int64_t cols) {
  const auto numel = static_cast<size_t>(rows * cols);
  switch (f) {
    case WeightFormat::kF32: return numel * 4;
    case WeightFormat::kBF16:
    case WeightFormat::kF16: return numel * 2;
    case WeightFormat::kInt8Rowwise: return numel + static_cast<size_t>(rows) * 4;
    case WeightFormat::kNF4: {
      const size_t blocks = (numel + 63) / 64;
      return (numel + 1) / 2 + blocks + (blocks + 255) / 256 * 4 + 16 * 4 + 256 * 4;
    }
  }
  return 0;
}

std::string matrix_name(const HostWeight& w, const std::string& name, int64_t m) {
  return w.stack > 1 ? fmt::format("{}[{}]", name, m) : name;
}

}  // namespace

struct WeightUploader::Impl {
  cudaStream_t stream;
  CountersPtr counters;
  // Pinned host buffers the mmapped bytes go through, two so that the CPU
  // fills one while the GPU copies the other.
  void* pinned[2] = {nullptr, nullptr};
  cudaEvent_t copied[2] = {nullptr, nullptr};
  std::shared_ptr<DeviceBlock> staging;  // source bytes of a group of matrices
  std::shared_ptr<DeviceBlock> scratch;  // NF4 block absmax values
  std::shared_ptr<DeviceBlock> problems_block;
  std::shared_ptr<DeviceBlock> maps;     // NF4 code map [16] and nested map [256]
  bool maps_ready = false;

  Status ensure_pinned() {
    for (int i = 0; i < 2; ++i) {
      if (!pinned[i]) QL_CUDA_TRY(cudaHostAlloc(&pinned[i], kPinnedChunk, cudaHostAllocDefault), "pinned staging");
      if (!copied[i]) QL_CUDA_TRY(cudaEventCreateWithFlags(&copied[i], cudaEventDisableTiming), "staging event");
    }
    return {};
  }

  Status ensure_block(std::shared_ptr<DeviceBlock>& b, size_t bytes, const char* what) {
    if (b && b->size() >= bytes) return {};
    b.reset();
    b = DeviceBlock::allocate(bytes, MemoryUse::kWorkspace, counters);
    if (!b) return err("out of GPU memory: {} of {:.1f} MiB", what, static_cast<double>(bytes) / (1 << 20));
    return {};
  }

  Status ensure_maps() {
    if (maps_ready) return {};
    QL_TRY(ensure_block(maps, 2 * kAlign + 272 * 4, "NF4 code maps"));
    std::vector<float> host(16 + 256);
    std::copy(quant::kNf4Levels.begin(), quant::kNf4Levels.end(), host.begin());
    const auto& nested = quant::signed_dynamic_map();
    std::copy(nested.begin(), nested.end(), host.begin() + 16);
    QL_CUDA_TRY(cudaMemcpy(maps->data(), host.data(), host.size() * 4, cudaMemcpyHostToDevice), "NF4 maps");
    maps_ready = true;
    return {};
  }

  const float* quant_map_device() const { return static_cast<const float*>(maps->data()); }
  const float* nested_map_device() const { return static_cast<const float*>(maps->data()) + 16; }

  // Host bytes [src, src + bytes) into device memory at dst, through the two
  // pinned buffers: the memcpy of piece i + 1 overlaps the copy of piece i.
  Status stream_host_bytes(void* dst, const void* src, size_t bytes) {
    QL_TRY(ensure_pinned());
    const char* from = static_cast<const char*>(src);
    char* to = static_cast<char*>(dst);
    int i = 0;
    while (bytes > 0) {
      const size_t piece = std::min(bytes, kPinnedChunk);
      QL_CUDA_TRY(cudaEventSynchronize(copied[i]), "staging");
      std::memcpy(pinned[i], from, piece);
      QL_CUDA_TRY(cudaMemcpyAsync(to, pinned[i], piece, cudaMemcpyHostToDevice, stream), "copying weights");
      QL_CUDA_TRY(cudaEventRecord(copied[i], stream), "staging");
      from += piece;
      to += piece;
      bytes -= piece;
      i ^= 1;
    }
    return {};
  }

  Result<std::shared_ptr<CudaWeight>> from_source(const HostWeight& w, const std::string& name,
                                                  quant::Dense16Report* losses);
  Result<std::shared_ptr<CudaWeight>> from_quantized(const HostWeight& w, const std::string& name);
};

WeightUploader::WeightUploader(cudaStream_t stream, CountersPtr counters) : impl_(std::make_unique<Impl>()) {
  impl_->stream = stream;
  impl_->counters = std::move(counters);
}

WeightUploader::~WeightUploader() {
  cudaStreamSynchronize(impl_->stream);
  for (int i = 0; i < 2; ++i) {
    if (impl_->pinned[i]) cudaFreeHost(impl_->pinned[i]);
    if (impl_->copied[i]) cudaEventDestroy(impl_->copied[i]);
  }
}

void WeightUploader::release_staging() {
  cudaStreamSynchronize(impl_->stream);
  impl_->staging.reset();
  impl_->scratch.reset();
}

Result<std::shared_ptr<CudaWeight>> WeightUploader::upload(const HostWeight& w, quant::Dense16Report* fp16_losses) {
  const std::string name = w.name.empty() ? std::string("(unnamed weight)") : w.name;
  if (w.rows <= 0 || w.cols <= 0 || w.stack <= 0)
    return err("{}: shape [{}, {}] x {} must be positive", name, w.rows, w.cols, w.stack);
  if (w.rows > std::numeric_limits<int32_t>::max() || w.cols > std::numeric_limits<int32_t>::max() ||
      w.rows * w.cols > (int64_t{1} << 40) / w.stack)
    return err("{}: shape [{}, {}] x {} is too large", name, w.rows, w.cols, w.stack);
  if (!w.quantized.empty()) {
    if (w.data != nullptr || w.synthetic) return err("{}: give either source data or quantized weights, not both", name);
    return impl_->from_quantized(w, name);
  }
  if (!backend::is_dense_format(w.source))
    return err("{}: source format {} is not a dense float format", name, backend::weight_format_name(w.source));
  if (w.data == nullptr && !w.synthetic) return err("{}: no data", name);
  if (w.synthetic && w.source != WeightFormat::kBF16) return err("{}: synthetic weights are bf16", name);
  return impl_->from_source(w, name, fp16_losses);
}

Result<std::shared_ptr<CudaWeight>> WeightUploader::Impl::from_source(const HostWeight& w, const std::string& name,
                                                                      quant::Dense16Report* losses) {
  const WeightFormat target = w.target;
  const Layout layout = layout_for(target, w.rows, w.cols, w.stack);
  auto block = DeviceBlock::allocate(layout.total, MemoryUse::kWeights, counters);
  if (!block)
    return err("out of GPU memory loading {}: {:.1f} MiB for its {} storage", name,
               static_cast<double>(layout.total) / (1 << 20), backend::weight_format_name(target));
  const DeviceWeight dw = device_weight(target, layout, block->data(), w.rows, w.cols, w.stack);
  if (target == WeightFormat::kNF4) {
    QL_TRY(ensure_maps());
    QL_CUDA_TRY(cudaMemcpyAsync(const_cast<float*>(dw.quant_map), quant_map_device(), 16 * 4,
                                cudaMemcpyDeviceToDevice, stream),
                name);
    QL_CUDA_TRY(cudaMemcpyAsync(const_cast<float*>(dw.nested_map), nested_map_device(), 256 * 4,
                                cudaMemcpyDeviceToDevice, stream),
                name);
  }

  const int64_t numel = w.rows * w.cols;
  const size_t src_esize = dense_bytes(w.source);
  const size_t matrix_bytes = static_cast<size_t>(numel) * src_esize;
  // A copy without conversion: the bytes go straight into the weight.
  const bool plain_copy = target == w.source && !w.transposed && !w.synthetic;
  if (plain_copy) {
    QL_TRY(stream_host_bytes(block->data(), w.data, matrix_bytes * static_cast<size_t>(w.stack)));
    QL_CUDA_TRY(cudaStreamSynchronize(stream), name);
    return std::make_shared<CudaWeight>(dw, target, std::move(block),
                                        core_stored_bytes(target, w.rows, w.cols) * static_cast<size_t>(w.stack), name);
  }

  // Groups of whole matrices through the device staging buffer.
  QL_TRY(ensure_block(staging, std::max(kStagingFloor, matrix_bytes), "weight staging"));
  const int64_t group = std::max<int64_t>(1, static_cast<int64_t>(staging->size() / matrix_bytes));
  QL_TRY(ensure_block(problems_block, sizeof(QuantizeProblems), "quantizer state"));
  auto* problems = static_cast<QuantizeProblems*>(problems_block->data());
  QL_CUDA_TRY(reset_quantize_problems(problems, stream), name);
  if (target == WeightFormat::kNF4) {
    const int64_t g = std::min(group, w.stack);
    QL_TRY(ensure_block(scratch, nf4_scratch_bytes(w.rows, w.cols, g), "NF4 scratch"));
  }

  for (int64_t m0 = 0; m0 < w.stack; m0 += group) {
    const int64_t count = std::min(group, w.stack - m0);
    if (w.synthetic) {
      const uint64_t first = w.synthetic->first_index + static_cast<uint64_t>(m0 * numel);
      QL_CUDA_TRY(launch_synthetic_bf16(w.synthetic->seed, first, count * numel, w.synthetic->offset,
                                        w.synthetic->scale, staging->data(), stream),
                  name);
    } else {
      QL_TRY(stream_host_bytes(staging->data(), static_cast<const char*>(w.data) + static_cast<size_t>(m0) * matrix_bytes,
                               matrix_bytes * static_cast<size_t>(count)));
    }
    SourceMatrices src{staging->data(), source_type(w.source), w.rows, w.cols, count, w.transposed};
    cudaError_t e = cudaSuccess;
    switch (target) {
      case WeightFormat::kF32:
      case WeightFormat::kBF16:
      case WeightFormat::kF16:
        e = launch_convert_dense(src, dense_target_code(target),
                                 static_cast<char*>(const_cast<void*>(dw.data)) +
                                     static_cast<size_t>(m0 * numel) * dense_bytes(target),
                                 problems, stream);
        break;
      case WeightFormat::kInt8Rowwise:
        e = launch_quantize_int8(src, const_cast<int8_t*>(dw.codes) + m0 * numel,
                                 const_cast<float*>(dw.scb) + m0 * w.rows, problems, stream);
        break;
      case WeightFormat::kNF4:
        e = launch_quantize_nf4(src, nested_map_device(), const_cast<uint8_t*>(dw.packed) + m0 * dw.packed_stride,
                                const_cast<uint8_t*>(dw.absmax_codes) + m0 * dw.absmax_stride,
                                const_cast<float*>(dw.nested_absmax) + m0 * dw.nested_stride,
                                const_cast<float*>(dw.offset) + m0, scratch->data(), problems, stream);
        break;
    }
    QL_TRY(cuda_status(e, "quantizing " + name));
    // Problems of this group, in the group's own element numbering.
    QuantizeProblems found{};
    QL_CUDA_TRY(cudaMemcpyAsync(&found, problems, sizeof found, cudaMemcpyDeviceToHost, stream), name);
    QL_CUDA_TRY(cudaStreamSynchronize(stream), name);
    const bool as_stored = target == w.source;  // a transposed copy checks nothing (as the CPU borrows)
    if (!as_stored && found.first_nonfinite != kNoProblem) {
      const auto i = static_cast<int64_t>(found.first_nonfinite);
      const int64_t m = m0 + i / numel, within = i % numel;
      return err("{}: element {} (stored order) is not finite (NaN or infinity); it cannot be converted to {}",
                 matrix_name(w, name, m), within, backend::weight_format_name(target));
    }
    if (target == WeightFormat::kInt8Rowwise && found.first_beyond_f16 != kNoProblem) {
      const auto i = static_cast<int64_t>(found.first_beyond_f16);
      const int64_t m = m0 + i / numel, within = i % numel;
      return err("{}: element {} (row {}, col {}) is beyond fp16's range (65504); LLM.int8 casts weights to fp16 "
                 "before quantizing",
                 matrix_name(w, name, m), within, within / w.cols, within % w.cols);
    }
    if (target == WeightFormat::kF16 && losses) {
      losses->overflowed_to_inf += static_cast<int64_t>(found.overflowed_to_inf);
      losses->flushed_to_zero += static_cast<int64_t>(found.flushed_to_zero);
      losses->became_subnormal += static_cast<int64_t>(found.became_subnormal);
    }
    QL_CUDA_TRY(reset_quantize_problems(problems, stream), name);
  }
  return std::make_shared<CudaWeight>(dw, target, std::move(block),
                                      core_stored_bytes(target, w.rows, w.cols) * static_cast<size_t>(w.stack), name);
}

Result<std::shared_ptr<CudaWeight>> WeightUploader::Impl::from_quantized(const HostWeight& w, const std::string& name) {
  if (static_cast<int64_t>(w.quantized.size()) != w.stack)
    return err("{}: {} quantized matrices for a stack of {}", name, w.quantized.size(), w.stack);
  if (w.transposed) return err("{}: a quantized weight is already [rows, cols]; transposed must be false", name);
  const WeightFormat target = w.target;
  for (int64_t m = 0; m < w.stack; ++m) {
    const auto& q = w.quantized[static_cast<size_t>(m)];
    if (!q) return err("{}: quantized matrix {} is missing", name, m);
    if (backend::weight_format_for(q->format()) != target)
      return err("{}: format {} does not match its quantized weight ({})", matrix_name(w, name, m),
                 backend::weight_format_name(target), backend::weight_format_name(backend::weight_format_for(q->format())));
    if (q->rows() != w.rows || q->cols() != w.cols)
      return err("{}: shape [{}, {}] does not match its quantized weight [{}, {}]", matrix_name(w, name, m), w.rows,
                 w.cols, q->rows(), q->cols());
  }
  const Layout layout = layout_for(target, w.rows, w.cols, w.stack);
  auto block = DeviceBlock::allocate(layout.total, MemoryUse::kWeights, counters);
  if (!block)
    return err("out of GPU memory loading {}: {:.1f} MiB", name, static_cast<double>(layout.total) / (1 << 20));
  const DeviceWeight dw = device_weight(target, layout, block->data(), w.rows, w.cols, w.stack);
  auto put = [&](const void* dst, const void* src, size_t bytes) {
    return cuda_status(cudaMemcpy(const_cast<void*>(dst), src, bytes, cudaMemcpyHostToDevice), "copying " + name);
  };
  const int64_t numel = w.rows * w.cols;
  for (int64_t m = 0; m < w.stack; ++m) {
    const quant::QuantizedWeight& q = *w.quantized[static_cast<size_t>(m)];
    if (const auto* d = quant::stored_as<quant::Dense16Weight>(q)) {
      QL_TRY(put(static_cast<const char*>(dw.data) + static_cast<size_t>(m * numel) * 2, d->bits.data(), d->bits.size() * 2));
    } else if (const auto* i8 = quant::stored_as<quant::Int8RowwiseWeight>(q)) {
      QL_TRY(put(dw.codes + m * numel, i8->codes.data(), i8->codes.size()));
      QL_TRY(put(dw.scb + m * w.rows, i8->scb.data(), i8->scb.size() * 4));
    } else if (const auto* n4 = quant::stored_as<quant::Nf4Weight>(q)) {
      QL_TRY(put(dw.packed + m * dw.packed_stride, n4->packed.data(), n4->packed.size()));
      QL_TRY(put(dw.absmax_codes + m * dw.absmax_stride, n4->absmax_codes.data(), n4->absmax_codes.size()));
      QL_TRY(put(dw.nested_absmax + m * dw.nested_stride, n4->nested_absmax.data(), n4->nested_absmax.size() * 4));
      QL_TRY(put(dw.offset + m, &n4->offset, 4));
      // The stored maps (a bitsandbytes file carries its own); every matrix
      // of one weight has the same ones.
      if (m == 0) {
        QL_TRY(put(dw.quant_map, n4->quant_map.data(), 16 * 4));
        QL_TRY(put(dw.nested_map, n4->nested_quant_map.data(), 256 * 4));
      }
    } else {
      return internal_err("{}: quantized weight of an unknown kind", name);
    }
  }
  return std::make_shared<CudaWeight>(dw, target, std::move(block),
                                      core_stored_bytes(target, w.rows, w.cols) * static_cast<size_t>(w.stack), name);
}

}  // namespace ql::gpu
