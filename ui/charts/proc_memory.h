#pragma once
// Memory figures of this process and of this machine, read from Linux's /proc
// for the live memory chart on the CPU backend: the process's resident set
// (VmRSS of /proc/self/status) and the machine's RAM (MemTotal and
// MemAvailable of /proc/meminfo). No Qt: the parsers take the files' text so
// that tests can feed them any content.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/common/result.h"

namespace ql::ui {

struct MachineMemory {
  uint64_t total_bytes = 0;
  uint64_t available_bytes = 0;  // what new allocations can get without swapping (the kernel's estimate)
  // "Used" as free(1) counts it: what is not available (page cache excluded).
  uint64_t used_bytes() const { return total_bytes > available_bytes ? total_bytes - available_bytes : 0; }
};

// The "VmRSS:  123456 kB" line of a /proc/<pid>/status text, in bytes.
// Errors name `source` and the field: missing, or not "<number> kB".
Result<uint64_t> parse_vm_rss(std::string_view status_text, std::string_view source);

// MemTotal and MemAvailable of a /proc/meminfo text, in bytes. Errors name
// `source` and the missing or malformed field.
Result<MachineMemory> parse_meminfo(std::string_view meminfo_text, std::string_view source);

// The files themselves (the paths are parameters for tests).
Result<uint64_t> read_process_rss_bytes(const std::string& status_path = "/proc/self/status");
Result<MachineMemory> read_machine_memory(const std::string& meminfo_path = "/proc/meminfo");

}  // namespace ql::ui
