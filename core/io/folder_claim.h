#pragma once
// An export's claim on its output folder (issue 12, points 1 and 4).
//
// Before writing, an export creates ".quantlens-export" in the folder with
// O_EXCL and holds an flock on it for as long as it runs. The file names the
// process and every file the export plans to write. This gives three things:
//  - a second export into the same folder is refused up front (the O_EXCL
//    create, or the lock, tells it another export owns the folder), so two
//    exports never write, or clean up, each other's files;
//  - an export removes on failure only files it planned while it held the
//    claim on a folder that was empty when claimed: what it created itself;
//  - a claim whose lock nobody holds is the trace of an export that was killed
//    (SIGKILL, a crash, power loss). The next export into that folder names it
//    and the files it left, and removes them only when asked (CLI --force,
//    the app's question), never silently.
// flock locks belong to an open file description, so the lock also tells two
// exports of one process apart, and the kernel drops it when a process dies.
#include <optional>
#include <string>
#include <vector>

#include "core/common/result.h"

namespace ql::io {

inline constexpr const char* kFolderClaimName = ".quantlens-export";

// What a claim found in a folder says.
struct FolderClaimInfo {
  bool live = false;        // its lock is held: an export is writing now
  long pid = 0;             // the process that wrote it (0 when unreadable)
  std::string started;      // when, as written ("2026-12-07 10:31:02 UTC")
  std::vector<std::string> files;  // the file names it planned (no folders)
  std::vector<std::string> leftovers;  // of those, what is in the folder now (finals and .partial temporaries)
};

// The claim in `folder`, if there is one. An unreadable claim is still a claim
// (pid 0, no files): it is reported, not ignored.
Result<std::optional<FolderClaimInfo>> read_folder_claim(const std::string& folder);

// Removes a stale claim's leftovers (each planned name and its temporary) and
// the claim itself; refuses a live one. Only names without a path separator
// are touched, so a forged claim cannot reach outside the folder.
Status remove_stale_claim(const std::string& folder, const FolderClaimInfo& info);

// The message for a folder someone else's claim holds: who, since when, and
// what to do (for a stale one: how to have it removed).
std::string describe_claim(const std::string& shown_folder, const FolderClaimInfo& info);

class FolderClaim {
 public:
  // Creates and locks the claim in `folder` (which must exist), listing the
  // planned file names. Fails, naming the folder, when another claim exists.
  static Result<FolderClaim> take(const std::string& folder, const std::string& shown_folder,
                                  const std::vector<std::string>& planned_files);

  FolderClaim(FolderClaim&& other) noexcept;
  FolderClaim& operator=(FolderClaim&& other) noexcept;
  FolderClaim(const FolderClaim&) = delete;
  FolderClaim& operator=(const FolderClaim&) = delete;
  ~FolderClaim();  // removes the claim file and drops the lock

 private:
  FolderClaim() = default;
  void release() noexcept;

  int fd_ = -1;
  std::string path_;
};

}  // namespace ql::io
