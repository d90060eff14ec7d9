// quantlens-cli tokenize / detokenize: the tokenizer from the command line.
//   tokenize [--model DIR] [--json] TEXT     -> ids, space separated
//   detokenize [--model DIR] [--json] ID...  -> the text
#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/cli/cli_common.h"
#include "core/text/tokenizer.h"
#include "core/text/tokenizer_location.h"

namespace ql::cli {

namespace {

struct TokenizerOptions {
  std::string model_dir;  // empty: not given
  bool json = false;
};

void add_common_options(CLI::App* cmd, TokenizerOptions& o) {
  cmd->add_option("--model", o.model_dir,
                  "Model folder; its tokenizer.json is used if it has one (else $QUANTLENS_TOKENIZER, "
                  "else the installed default)");
  cmd->add_flag("--json", o.json, "Print JSON instead of plain text");
}

Result<text::Tokenizer> open_tokenizer(const TokenizerOptions& o) {
  auto path = text::locate_tokenizer(o.model_dir.empty() ? std::nullopt
                                                         : std::optional<std::string>(o.model_dir));
  if (!path) return path.error();
  return text::Tokenizer::load(*path);
}

int run_tokenize(const TokenizerOptions& o, const std::string& input) {
  auto tok = open_tokenizer(o);
  if (!tok) return report(tok.error());
  const std::vector<int32_t> ids = tok->encode(input);
  if (o.json) {
    print_json(nlohmann::json{{"ids", ids}});
    return kExitOk;
  }
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) line += ' ';
    line += std::to_string(ids[i]);
  }
  std::cout << line << "\n";
  return kExitOk;
}

// A token id argument: a decimal integer that names a token.
Result<int32_t> parse_id(const std::string& arg, const text::Tokenizer& tok) {
  int64_t value = 0;
  const char* end = arg.data() + arg.size();
  const auto [ptr, ec] = std::from_chars(arg.data(), end, value);
  if (arg.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return err("bad token id {}: not an integer", nlohmann::json(arg).dump(-1, ' ', false,
                                                                          nlohmann::json::error_handler_t::replace));
  }
  if (ec == std::errc::result_out_of_range || value < 0 || value >= static_cast<int64_t>(tok.vocab_size())) {
    return err("bad token id {}: out of range 0..{}", arg, tok.vocab_size() - 1);
  }
  if (!tok.is_valid_id(static_cast<int32_t>(value))) return err("bad token id {}: no such token", arg);
  return static_cast<int32_t>(value);
}

int run_detokenize(const TokenizerOptions& o, const std::vector<std::string>& args) {
  auto tok = open_tokenizer(o);
  if (!tok) return report(tok.error());
  std::vector<int32_t> ids;
  ids.reserve(args.size());
  for (const std::string& a : args) {
    auto id = parse_id(a, *tok);
    if (!id) return report(id.error());
    ids.push_back(*id);
  }
  auto text = tok->decode_checked(ids);
  if (!text) return report(text.error());
  if (o.json) {
    print_json(nlohmann::json{{"text", *text}});
  } else {
    std::cout << *text << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_tokenize_commands(CLI::App& app, int& exit_code) {
  auto tokenize_opts = std::make_shared<TokenizerOptions>();
  auto input = std::make_shared<std::string>();
  auto* tokenize = app.add_subcommand("tokenize", "Print the token ids of TEXT");
  add_common_options(tokenize, *tokenize_opts);
  tokenize->add_option("text", *input, "Text to tokenize (special tokens such as <|im_start|> are recognised)")
      ->required();
  tokenize->callback([tokenize_opts, input, &exit_code] { exit_code = run_tokenize(*tokenize_opts, *input); });

  auto detokenize_opts = std::make_shared<TokenizerOptions>();
  auto id_args = std::make_shared<std::vector<std::string>>();
  auto* detokenize = app.add_subcommand("detokenize", "Print the text of token ids");
  add_common_options(detokenize, *detokenize_opts);
  detokenize->add_option("ids", *id_args, "Token ids")->required();
  detokenize->callback(
      [detokenize_opts, id_args, &exit_code] { exit_code = run_detokenize(*detokenize_opts, *id_args); });
}

}  // namespace ql::cli
