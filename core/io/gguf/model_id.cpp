#include "core/io/gguf/model_id.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <regex>
#include <set>
#include <vector>

namespace ql::io::gguf {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

// Python's str.islower(): some cased character and none upper case.
bool py_islower(const std::string& s) {
  bool cased = false;
  for (char c : s) {
    if (is_upper(c)) return false;
    if (is_lower(c)) cased = true;
  }
  return cased;
}

// Python's str.title(): a letter after a non-letter is upper-cased, others lower.
std::string py_title(const std::string& s) {
  std::string out = s;
  bool prev_cased = false;
  for (char& c : out) {
    if (is_alpha(c)) {
      c = static_cast<char>(prev_cased ? std::tolower(static_cast<unsigned char>(c))
                                       : std::toupper(static_cast<unsigned char>(c)));
      prev_cased = true;
    } else {
      prev_cased = false;
    }
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

bool full_match(const std::string& s, const char* pattern) {
  const std::regex re(pattern, std::regex::icase);
  return std::regex_match(s, re);
}

// Python float() of what the size regex leaves: plain decimals only here.
std::optional<double> parse_float(const std::string& s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string id_to_title(const std::string& id) {
  std::string spaced = id;
  std::replace(spaced.begin(), spaced.end(), '-', ' ');
  std::vector<std::string> words;
  for (const std::string& w : split(spaced, ' '))
    if (!w.empty()) words.push_back(w);
  static const std::regex kVersionLike(R"(^(v\d+(?:\.\d+)*|\d.*)$)");
  for (std::string& w : words)
    if (py_islower(w) && !std::regex_match(w, kVersionLike)) w = py_title(w);
  return join(words, " ");
}

ModelIdParts model_id_parts(const std::string& model_id, int64_t total_params) {
  ModelIdParts p;
  if (model_id.find(' ') != std::string::npos) {  // a sentence, not an id
    p.name = model_id;
    return p;
  }
  std::string full = model_id;
  if (const size_t slash = model_id.find('/'); slash != std::string::npos) {
    p.organization = model_id.substr(0, slash);
    full = model_id.substr(slash + 1);
    if (!p.organization.empty() && p.organization[0] == '.') p.organization.clear();
  }
  p.name = full;

  std::vector<std::string> parts;
  for (const std::string& s : split(full, '-'))
    if (!s.empty()) parts.push_back(s);
  std::vector<std::set<std::string>> types(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string part = parts[i];
    if (full_match(part, R"((v|iter)?\d+([.]\d+)*)")) {
      types[i].insert("version");
    } else if (full_match(part, R"(i?q\d(_\w)*|b?fp?(16|32))")) {
      types[i].insert("type");
      parts[i] = upper(part);
    } else if (i > 0 && full_match(part, R"((([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl))")) {
      std::replace(part.begin(), part.end(), '_', '.');
      if (is_digit(part.back()))  // bloom-7b1 -> 7.1B
        part = part.substr(0, part.size() - 2) + "." + part.back() + part[part.size() - 2];
      if (part.size() > 1 && is_digit(part[part.size() - 2]) && std::string("kmbt").find(part.back()) != std::string::npos)
        part.back() = static_cast<char>(std::toupper(static_cast<unsigned char>(part.back())));
      if (total_params != 0) {
        if (auto v = parse_float(part.substr(0, part.size() - 1))) {
          const int64_t power = static_cast<int64_t>(std::string(" KMBT").find(part.back()));
          const double label_params = *v * std::pow(1000.0, power == static_cast<int64_t>(std::string::npos)
                                                                   ? -1.0
                                                                   : static_cast<double>(power));
          // A label far from the real size is likely a context length ("128k").
          if (total_params > 0 && std::fabs(label_params - static_cast<double>(total_params)) >
                                      static_cast<double>(7 * total_params / 8)) {
            types[i].insert("finetune");
            part.back() = static_cast<char>(std::tolower(static_cast<unsigned char>(part.back())));
          }
        }
      }
      if (types[i].empty()) types[i].insert("size_label");
      parts[i] = part;
    } else if (i > 0 && full_match(part, "chat|instruct|vision|lora")) {
      types[i].insert("finetune");
    }
  }
  // Word sizes ("small") give way to a numeric one.
  bool numeric_size = false;
  for (size_t i = 0; i < parts.size(); ++i)
    if (types[i].count("size_label") && std::any_of(parts[i].begin(), parts[i].end(), is_digit)) numeric_size = true;
  if (numeric_size)
    for (size_t i = 0; i < parts.size(); ++i)
      if (types[i].count("size_label") && std::all_of(parts[i].begin(), parts[i].end(), is_alpha))
        types[i].erase("size_label");

  bool at_start = true;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (at_start && ((types[i].empty() && is_alpha(parts[i][0])) || types[i].count("version"))) {
      types[i].insert("basename");
    } else {
      at_start = false;
      if (types[i].empty()) types[i].insert("finetune");
    }
  }
  for (size_t i = parts.size(); i-- > 0;) {  // a trailing version is not part of the basename
    if (types[i].count("basename") && types[i].size() > 1) types[i].erase("basename");
    else break;
  }
  std::vector<std::string> basename, sizes, finetune, version;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (types[i].count("basename")) basename.push_back(parts[i]);
    if (types[i].count("size_label") && std::find(sizes.begin(), sizes.end(), parts[i]) == sizes.end())
      sizes.push_back(parts[i]);
    if (types[i].count("finetune")) finetune.push_back(parts[i]);
    if (types[i].count("version") && !types[i].count("basename")) version.push_back(parts[i]);
  }
  p.basename = join(basename, "-");
  p.size_label = join(sizes, "-");
  p.finetune = join(finetune, "-");
  p.version = join(version, "-");
  if (p.size_label.empty() && p.finetune.empty() && p.version.empty()) p.basename.clear();  // too ambiguous
  return p;
}

}  // namespace ql::io::gguf
