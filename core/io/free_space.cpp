#include "core/io/free_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace ql::io {
namespace {

FreeSpaceProbe& probe_override() {
  static FreeSpaceProbe probe;
  return probe;
}

}  // namespace

Result<uint64_t> free_space_bytes(const std::string& folder) {
  if (const auto& probe = probe_override()) return probe(folder);
  struct statvfs st {};
  if (::statvfs(folder.c_str(), &st) != 0)
    return internal_err("{}: cannot read the free space of its file system: {}", folder, std::strerror(errno));
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

ScopedFreeSpaceProbe::ScopedFreeSpaceProbe(FreeSpaceProbe probe)
    : previous_(std::exchange(probe_override(), std::move(probe))) {}

ScopedFreeSpaceProbe::~ScopedFreeSpaceProbe() { probe_override() = std::move(previous_); }

}  // namespace ql::io
