#pragma once
// The rules an export's output folder must pass before anything is written
// (issue 6): it is neither the source folder nor inside it (compared after
// resolving symbolic links and "..", so another spelling of the same place is
// caught), it is empty or does not exist yet, the place is writable, and its
// file system has room for the whole export. The folder is created only after
// every check passed, and removed again if the export fails.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/io/folder_claim.h"

namespace ql::io {

struct OutputFolder {
  std::string path;      // as the user gave it
  std::string resolved;  // absolute, links resolved as far as it exists
  bool exists = false;
  std::string nearest_existing;  // the folder itself, or its deepest existing ancestor
  // The claim of an interrupted export found there, to be removed before this
  // one claims the folder (only when the request allowed it).
  std::optional<FolderClaimInfo> stale_claim;
};


// Checks everything but free space. Errors name the folder and the rule. A
// folder another export claims is refused; one holding only what an
// interrupted export left (folder_claim.h) is refused unless
// `remove_interrupted`, when it counts as empty.
Result<OutputFolder> check_output_folder(const std::string& model_dir, const std::string& out_dir,
                                         bool remove_interrupted = false);

// After this export took its claim: the folder must hold nothing but the
// claim (closes the window between the first check and the claim).
Status check_only_claim_left(const OutputFolder& folder);

// Refuses when the file system holds less than `needed` bytes (plus a small
// margin for file system metadata), with both figures in the message.
Status check_free_space(const OutputFolder& folder, uint64_t needed);

// Creates the folder (and missing parents). Returns the folders it created,
// outermost first (empty when it existed), for remove_created_folders.
Result<std::vector<std::string>> create_output_folder(const OutputFolder& folder);

// Removes the created folders, innermost first, each only if it is empty.
void remove_created_folders(const std::vector<std::string>& created) noexcept;

// "61.2 GB (61234567890 bytes)"
std::string describe_bytes(uint64_t bytes);

}  // namespace ql::io
