#include "core/io/output_folder.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/io/free_space.h"

namespace ql::io {
namespace {

namespace fs = std::filesystem;

// Room for what the estimate cannot know: file system metadata, block
// rounding of each file.
constexpr uint64_t kFreeSpaceMargin = 16ull << 20;

// True when `inner` is `outer` or lies below it (both absolute and resolved).
bool is_same_or_inside(const fs::path& inner, const fs::path& outer) {
  auto o = outer.begin(), i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // a trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

// Empty but for the names in `ignored`.
Status check_empty(const fs::path& dir, const std::string& shown, const std::vector<std::string>& ignored = {}) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return err("{}: cannot list the output folder: {}", shown, ec.message());
  size_t count = 0;
  std::string first;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return err("{}: cannot list the output folder: {}", shown, ec.message());
    const std::string name = it->path().filename().string();
    if (std::find(ignored.begin(), ignored.end(), name) != ignored.end()) continue;
    if (count++ == 0) first = name;
  }
  if (count == 0) return {};
  return err("{}: the output folder is not empty (it holds \"{}\"{}); give an empty or a new folder", shown, first,
             count > 1 ? fmt::format(" and {} more", count - 1) : std::string());
}

}  // namespace

std::string describe_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= 1'000'000'000ull) return fmt::format("{:.2f} GB ({} bytes)", b / 1e9, bytes);
  if (bytes >= 1'000'000ull) return fmt::format("{:.2f} MB ({} bytes)", b / 1e6, bytes);
  return fmt::format("{} bytes", bytes);
}

Result<OutputFolder> check_output_folder(const std::string& model_dir, const std::string& out_dir,
                                         bool remove_interrupted) {
  if (out_dir.empty()) return err("no output folder given");
  std::error_code ec;
  const fs::path source = fs::canonical(model_dir, ec);
  if (ec) return err("{}: the model folder cannot be resolved: {}", model_dir, ec.message());
  OutputFolder f;
  f.path = out_dir;
  // weakly_canonical resolves links along the existing part of the path and
  // normalises the rest, so "src/../src", "link-to-src/x" all resolve.
  const fs::path resolved = fs::weakly_canonical(fs::absolute(out_dir, ec), ec);
  if (ec) return err("{}: the output folder cannot be resolved: {}", out_dir, ec.message());
  f.resolved = resolved.string();
  if (resolved == source)
    return err(
        "{}: the output folder is the model folder ({}); an export never writes into its source: give "
        "another folder",
        out_dir, source.string());
  if (is_same_or_inside(resolved, source))
    return err(
        "{}: the output folder lies inside the model folder ({}); an export never writes into its source: "
        "give a folder elsewhere",
        out_dir, source.string());

  const fs::file_status st = fs::status(resolved, ec);
  f.exists = fs::exists(st);
  if (f.exists) {
    if (!fs::is_directory(st)) return err("{}: exists and is not a folder", out_dir);
    QL_ASSIGN_OR_RETURN(std::optional<FolderClaimInfo> claim, read_folder_claim(f.resolved));
    std::vector<std::string> ignored;
    if (claim) {
      if (claim->live || !remove_interrupted) return err("{}", describe_claim(out_dir, *claim));
      ignored = claim->leftovers;
      ignored.push_back(kFolderClaimName);
      f.stale_claim = std::move(claim);
    }
    QL_TRY(check_empty(resolved, out_dir, ignored));
    f.nearest_existing = f.resolved;
  } else {
    fs::path p = resolved.parent_path();
    while (!p.empty() && !fs::exists(p, ec) && p != p.root_path()) p = p.parent_path();
    if (!fs::is_directory(p, ec))
      return err("{}: cannot create the output folder: {} is not a folder", out_dir, p.string());
    f.nearest_existing = p.string();
  }
  if (::access(f.nearest_existing.c_str(), W_OK | X_OK) != 0)
    return err("{}: cannot write the output folder there ({}): {}", out_dir, f.nearest_existing, std::strerror(errno));
  return f;
}

Status check_only_claim_left(const OutputFolder& folder) {
  return check_empty(folder.resolved, folder.path, {kFolderClaimName});
}

Status check_free_space(const OutputFolder& folder, uint64_t needed) {
  QL_ASSIGN_OR_RETURN(uint64_t available, free_space_bytes(folder.nearest_existing));
  if (available >= needed + kFreeSpaceMargin) return {};
  return err("{}: not enough free disk space: the export needs {} (and {} MB to spare), the file system of {} has {}",
             folder.path, describe_bytes(needed), kFreeSpaceMargin >> 20, folder.nearest_existing,
             describe_bytes(available));
}

Result<std::vector<std::string>> create_output_folder(const OutputFolder& folder) {
  std::vector<std::string> created;
  if (folder.exists) return created;
  std::vector<fs::path> missing;  // innermost first
  for (fs::path p = folder.resolved; p.string() != folder.nearest_existing && !p.empty(); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  std::reverse(missing.begin(), missing.end());
  for (const fs::path& p : missing) {
    std::error_code ec;
    if (!fs::create_directory(p, ec) || ec) {
      const std::string why = ec ? ec.message() : "it appeared meanwhile";
      remove_created_folders(created);
      return err("{}: cannot create the output folder ({}): {}", folder.path, p.string(), why);
    }
    created.push_back(p.string());
  }
  return created;
}

void remove_created_folders(const std::vector<std::string>& created) noexcept {
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    std::error_code ec;
    fs::remove(*it, ec);  // removes only an empty folder
  }
}

}  // namespace ql::io
