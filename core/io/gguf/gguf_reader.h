#pragma once
// Reads a GGUF file back (docs/formats.md §2): header, typed KV pairs and tensor
// infos are parsed and checked completely when the file is opened (every
// length against the file size, every type id, offsets aligned and inside the
// data section, no duplicate names); tensor data is memory-mapped, not copied.
// Used by the tests to check exported files and by `info`.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/mapped_file.h"
#include "core/common/result.h"
#include "core/io/gguf/gguf_container.h"
#include "core/io/gguf/gguf_value.h"

namespace ql::io::gguf {

struct GgufContents {
  uint32_t version = 0;
  uint32_t alignment = kGgufDefaultAlignment;
  std::vector<GgufKv> kvs;               // in file order
  std::vector<GgufTensorInfo> tensors;   // in file order
  uint64_t data_start = 0;               // absolute offset of the data section
};

// Parses bytes[0, size) (a whole file); `label` starts every error message.
Result<GgufContents> parse_gguf(const uint8_t* bytes, size_t size, const std::string& label);

class GgufFile {
 public:
  static Result<GgufFile> open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const GgufContents& contents() const { return contents_; }
  const std::vector<GgufKv>& kvs() const { return contents_.kvs; }
  const std::vector<GgufTensorInfo>& tensors() const { return contents_.tensors; }
  const GgufValue* find(std::string_view key) const { return find_kv(contents_.kvs, key); }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  std::span<const uint8_t> data(const GgufTensorInfo& t) const;
  // The tensor's values as fp32 (row after row), for the types
  // block_quants.h decodes; errors name the tensor and the type.
  Result<std::vector<float>> dequantize(const GgufTensorInfo& t) const;

 private:
  MappedFile file_;
  GgufContents contents_;
};

}  // namespace ql::io::gguf
