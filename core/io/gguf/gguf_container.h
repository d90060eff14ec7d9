#pragma once
// The GGUF v3 container layout (docs/formats.md §2.1): magic, version, counts,
// typed KV pairs, tensor infos, zero padding to the alignment, then the tensor
// data, each tensor padded to the alignment. Sizes follow from the types
// alone, so the whole header is encoded before any tensor is produced and
// the data can be streamed one tensor at a time.
#include <cstdint>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/io/gguf/ggml_types.h"
#include "core/io/gguf/gguf_value.h"

namespace ql::io::gguf {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufVersion = 3;
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr size_t kGgufMaxNameBytes = 63;  // ggml's GGML_MAX_NAME (64) less the terminator
inline constexpr int kGgufMaxDims = 4;

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] first: the row length
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;      // from the start of the data section
  uint64_t nbytes = 0;      // without padding
};

inline uint64_t gguf_pad(uint64_t x, uint64_t alignment) { return (x + alignment - 1) / alignment * alignment; }

// Bytes of a tensor of this type and shape; errors name the shape and type.
Result<uint64_t> gguf_tensor_bytes(GgmlType type, const std::vector<int64_t>& ne);

struct GgufHeader {
  std::string bytes;       // magic .. the padding before the data section
  uint32_t alignment = kGgufDefaultAlignment;
  uint64_t data_bytes = 0; // the data section, padding included
  uint64_t file_bytes() const { return bytes.size() + data_bytes; }
};

// Encodes the header and assigns each tensor its offset and size (in order,
// as gguf-py and gguf.cpp do). The alignment is general.alignment when that
// key is present, else 32. Errors: a bad name (empty, too long, duplicated),
// a shape of 0 or more than 4 dims, a row that is not whole blocks.
Result<GgufHeader> encode_gguf_header(const std::vector<GgufKv>& kvs, std::vector<GgufTensorInfo>& tensors);

// Appends one value (without its type tag) in GGUF's encoding.
void append_gguf_value(std::string& out, const GgufValue& value);

}  // namespace ql::io::gguf
