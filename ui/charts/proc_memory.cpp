#include "ui/charts/proc_memory.h"

#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

namespace ql::ui {
namespace {

// The value of "Key:   <digits> kB" in a /proc text, in bytes; nullopt when
// the line is absent; an error when it is there but malformed.
Result<std::optional<uint64_t>> kib_field(std::string_view text, std::string_view key, std::string_view source) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') continue;
    std::string_view rest = line.substr(key.size() + 1);
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    uint64_t kib = 0;
    const auto [after, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kib);
    std::string_view unit(after, static_cast<size_t>(rest.data() + rest.size() - after));
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    while (!unit.empty() && (unit.back() == ' ' || unit.back() == '\r')) unit.remove_suffix(1);
    // Both files give kB (KiB, in fact); a figure above 2^54 KiB would overflow bytes.
    if (ec != std::errc{} || after == rest.data() || unit != "kB" || kib > (uint64_t{1} << 54)) {
      return err("{}: field {} is '{}', expected '<number> kB'", source, key, rest);
    }
    return std::optional<uint64_t>(kib * 1024);
  }
  return std::optional<uint64_t>();
}

Result<uint64_t> required_kib_field(std::string_view text, std::string_view key, std::string_view source) {
  auto value = kib_field(text, key, source);
  if (!value) return value.error();
  if (!value->has_value()) return err("{}: no {} field", source, key);
  return **value;
}

Result<std::string> read_small_file(const std::string& path) {
  // /proc files report size 0: read until the end rather than by size.
  std::ifstream in(path, std::ios::binary);
  if (!in) return err("{}: cannot be read", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<uint64_t> parse_vm_rss(std::string_view status_text, std::string_view source) {
  return required_kib_field(status_text, "VmRSS", source);
}

Result<MachineMemory> parse_meminfo(std::string_view meminfo_text, std::string_view source) {
  MachineMemory m;
  QL_ASSIGN_OR_RETURN(m.total_bytes, required_kib_field(meminfo_text, "MemTotal", source));
  QL_ASSIGN_OR_RETURN(m.available_bytes, required_kib_field(meminfo_text, "MemAvailable", source));
  if (m.available_bytes > m.total_bytes) {
    return err("{}: MemAvailable ({} bytes) exceeds MemTotal ({} bytes)", source, m.available_bytes, m.total_bytes);
  }
  return m;
}

Result<uint64_t> read_process_rss_bytes(const std::string& status_path) {
  QL_ASSIGN_OR_RETURN(const std::string text, read_small_file(status_path));
  return parse_vm_rss(text, status_path);
}

Result<MachineMemory> read_machine_memory(const std::string& meminfo_path) {
  QL_ASSIGN_OR_RETURN(const std::string text, read_small_file(meminfo_path));
  return parse_meminfo(text, meminfo_path);
}

}  // namespace ql::ui
