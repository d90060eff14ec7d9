#pragma once
// Reading a small file whole (a JSON config, an index, a tokenizer, a chat
// template) safely against what a careless or hostile folder holds in its
// place (issue 12, point 6): only a regular file is read, never followed
// into a FIFO (which would wait forever) or a device such as /dev/zero (which
// never ends), and never more than a size limit. Errors name the path and say
// what it is instead: "is a folder", "is a FIFO", "is 2.1 GB, more than ...".
#include <cstdint>
#include <string>

#include "core/common/result.h"

namespace ql {

// The largest JSON file a model folder has is tokenizer.json (~11 MB for
// Qwen3); 256 MiB leaves room for any real one and stops a runaway read.
inline constexpr uint64_t kMaxSmallFileBytes = 256ull << 20;

// The file's bytes. A missing file is "not found"; a symbolic link loop says
// so; anything but a regular file names its kind.
Result<std::string> read_small_file(const std::string& path, uint64_t max_bytes = kMaxSmallFileBytes);

// Ok when `path` is a regular file that can be opened for reading; else the
// error read_small_file would give ("is a FIFO (named pipe), not a regular
// file", "cannot open: a loop of symbolic links ..."). For files read by
// other means (a mapped tokenizer.json).
Status check_regular_file(const std::string& path);

// True when anything is at `path`: a file, a folder, a FIFO, a device, even a
// dangling or looping link. An optional file counts as absent only when
// nothing is there; what is there but unreadable is an error, never "absent".
bool something_at(const std::string& path);

// "a folder", "a FIFO (named pipe)", "a character device", ... for st_mode.
const char* file_kind_name(unsigned mode);

}  // namespace ql
