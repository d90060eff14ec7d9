#include "core/text/tokenizer_location.h"

#include "core/common/small_file.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace ql::text {

namespace {

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
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
    // Something there that is not a readable file (a folder, a FIFO, a
    // dangling or looping link): the model's own tokenizer is broken, which
    // the default one must not hide.
    if (something_at(candidate)) {
      if (Status regular = check_regular_file(candidate); !regular.ok())
        return err("{}; the model's tokenizer must be a regular file", regular.message());
      return candidate;
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
