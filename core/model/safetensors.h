#pragma once
// One safetensors file (docs/formats.md §1): an 8-byte header length, a JSON header,
// then the raw tensor bytes. The header is validated completely before any
// tensor is handed out; the file is memory-mapped, never copied.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/mapped_file.h"
#include "core/common/result.h"
#include "core/model/dtype.h"

namespace ql::model {

// The reference reader's limit (safetensors HeaderTooLarge).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;   // from the start of the file (not of the data buffer)
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// A tensor's bytes inside a mapped file. `data` may be unaligned when the writer
// did not pad the header to 8 bytes: read elements with memcpy.
struct TensorView {
  std::string_view name;
  DType dtype = DType::kF32;
  std::span<const int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;              // sorted by name
  std::map<std::string, std::string> metadata;  // __metadata__
  uint64_t data_start = 0;                      // 8 + header length
};

// Parses and validates the header of a whole safetensors file held in
// bytes[0, size). `label` (usually the path) starts every error message.
Result<SafetensorsHeader> parse_safetensors(const uint8_t* bytes, size_t size, const std::string& label);

class SafetensorsFile {
 public:
  static Result<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  Status unchanged() const { return file_.unchanged(); }  // mapped_file.h
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  std::optional<TensorView> find(std::string_view name) const;
  TensorView view(const TensorInfo& t) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
};

// "[2048, 1536]"
std::string format_shape(std::span<const int64_t> shape);

}  // namespace ql::model
