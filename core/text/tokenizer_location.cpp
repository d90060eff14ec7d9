#include "core/text/tokenizer_location.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace ql::text {

namespace {

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string describe_kind(std::filesystem::file_type t) {
  using std::filesystem::file_type;
  switch (t) {
    case file_type::directory: return "is a folder";
    case file_type::fifo: return "is a FIFO (named pipe)";
    case file_type::character: return "is a character device";
    case file_type::block: return "is a block device";
    case file_type::socket: return "is a socket";
    default: return "is not a regular file";
  }
}

bool is_folder(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

}  // namespace

Result<std::string> locate_tokenizer(const TokenizerSearch& search) {
  std::string looked;
  if (search.model_dir) {
    if (!is_folder(*search.model_dir)) return err("{}: model folder does not exist", *search.model_dir);
    const std::string candidate = (std::filesystem::path(*search.model_dir) / "tokenizer.json").string();
    if (is_file(candidate)) return candidate;
    // There but not a file (a folder, a FIFO, a dangling link): the model's
    // own tokenizer is broken, which the default one must not hide.
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(candidate, ec))) {
      std::error_code loop;
      const auto st = std::filesystem::status(candidate, loop);
      if (loop.value() == ELOOP)
        return err("{}: is a loop of symbolic links; the model's tokenizer must be a regular file", candidate);
      return err("{}: {}; the model's tokenizer must be a regular file", candidate,
                 std::filesystem::exists(st) ? describe_kind(st.type())
                                             : std::string("is a symbolic link to nothing (or a loop of links)"));
    }
    looked = candidate + ", ";
  }
  if (search.env_value && !search.env_value->empty()) {
    if (is_file(*search.env_value)) return *search.env_value;
    return err("{}={}: no such file", kTokenizerEnvVar, *search.env_value);
  }
  if (is_file(search.default_path)) return search.default_path;
  if (!search.installed_path.empty() && is_file(search.installed_path)) return search.installed_path;
  const std::string installed = search.installed_path.empty() ? "" : ", " + search.installed_path;
  return internal_err(
      "no tokenizer.json found (looked at {}${} (not set), {}{}); run scripts/install-deps.sh to "
      "install the default tokenizer",
      looked, kTokenizerEnvVar, search.default_path, installed);
}

Result<std::string> locate_tokenizer(const std::optional<std::string>& model_dir) {
  TokenizerSearch search;
  search.model_dir = model_dir;
  if (const char* env = std::getenv(kTokenizerEnvVar)) search.env_value = env;
  search.default_path = QL_DEFAULT_TOKENIZER;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) search.installed_path = (exe.parent_path().parent_path() / "share/quantlens/tokenizer.json").string();
  return locate_tokenizer(search);
}

}  // namespace ql::text
