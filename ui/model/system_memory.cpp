#include "ui/model/system_memory.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace ql::ui {

std::optional<double> parse_meminfo_total_gib(std::string_view meminfo) {
  constexpr std::string_view kKey = "MemTotal:";
  const size_t at = meminfo.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = meminfo.substr(at + kKey.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  unsigned long long kib = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kib);
  if (ec != std::errc() || kib == 0) return std::nullopt;
  // The kernel writes "kB" but means KiB.
  if (std::string_view(end, rest.data() + rest.size() - end).substr(0, 3) != " kB") return std::nullopt;
  return static_cast<double>(kib) / (1024.0 * 1024.0);
}

std::optional<double> machine_ram_gib() {
  std::ifstream in("/proc/meminfo");
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_meminfo_total_gib(ss.str());
}

}  // namespace ql::ui
