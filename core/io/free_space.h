#pragma once
// Free bytes on the file system of a folder (statvfs), checked before an
// export writes anything. Tests replace the probe to stand for a nearly full
// disk without filling one.
#include <cstdint>
#include <functional>
#include <string>

#include "core/common/result.h"

namespace ql::io {

using FreeSpaceProbe = std::function<Result<uint64_t>(const std::string& folder)>;

// Bytes an unprivileged writer may still use on the folder's file system
// (f_bavail: root's reserved blocks are not counted), or the test probe's answer.
Result<uint64_t> free_space_bytes(const std::string& folder);

// Replaces the probe for its lifetime (tests only; not thread-safe against
// exports running meanwhile).
class ScopedFreeSpaceProbe {
 public:
  explicit ScopedFreeSpaceProbe(FreeSpaceProbe probe);
  ~ScopedFreeSpaceProbe();
  ScopedFreeSpaceProbe(const ScopedFreeSpaceProbe&) = delete;
  ScopedFreeSpaceProbe& operator=(const ScopedFreeSpaceProbe&) = delete;

 private:
  FreeSpaceProbe previous_;
};

}  // namespace ql::io
