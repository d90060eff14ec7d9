#pragma once
// The machine's memory, the default memory budget of the CPU backend (which
// has no GPU: the model lives in RAM). Read from /proc/meminfo's MemTotal.
#include <optional>
#include <string_view>

namespace ql::ui {

// MemTotal of /proc/meminfo text, in GiB; nullopt when the line is missing or malformed.
std::optional<double> parse_meminfo_total_gib(std::string_view meminfo);

// This machine's RAM in GiB; nullopt where /proc/meminfo cannot be read.
std::optional<double> machine_ram_gib();

}  // namespace ql::ui
