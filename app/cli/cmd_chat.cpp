// quantlens-cli chat --model DIR: a multi-turn chat in the terminal.
// Each input line is a user message; the answer streams as it is generated.
// Commands: /image PATH (attach to the next message), /system TEXT (empty
// clears it), /reset, /quit; EOF quits too; a line starting with "//" sends
// the text after the first "/". Ctrl+C during an answer stops that answer;
// at the prompt it quits. Works with stdin from a pipe (no prompt is shown).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "app/cli/stop_signals.h"
#include "app/cli/engine_cli.h"
#include "core/engine/engine.h"
#include "ui/imageio/image_decode.h"

namespace ql::cli {
namespace {

struct ChatOptions {
  EngineCliOptions engine;
  std::string system;
};

class ChatSession {
 public:
  ChatSession(engine::Engine& engine, const ChatOptions& o, bool interactive)
      : engine_(engine), options_(o), interactive_(interactive) {
    if (!o.system.empty()) system_ = o.system;
  }

  // Handles one input line; false when the chat should end.
  bool handle(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return true;
    if (line.rfind("//", 0) == 0) return answer(line.substr(1));
    if (line[0] == '/') return command(line);
    return answer(line);
  }

  int exit_code() const { return exit_code_; }

 private:
  void note(const std::string& s) const {
    if (interactive_) std::cerr << s << "\n";
  }
  void fail(const Error& e) {
    const int code = report(e);
    if (exit_code_ == kExitOk) exit_code_ = code;
  }

  bool command(const std::string& line) {
    const size_t space = line.find(' ');
    const std::string name = line.substr(0, space);
    const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
    if (name == "/quit" || name == "/exit") return false;
    if (name == "/reset") {
      history_.clear();
      pending_images_.clear();
      engine_.reset_cache();
      note("conversation cleared");
    } else if (name == "/system") {
      system_ = arg.empty() ? std::nullopt : std::optional<std::string>(arg);
      note(arg.empty() ? "system prompt cleared" : "system prompt set");
    } else if (name == "/image") {
      attach(arg);
    } else {
      fail(err("unknown command {} (commands: /image PATH, /system TEXT, /reset, /quit)", name));
    }
    return true;
  }

  // Decodes now: a bad file is reported at once, and later turns reuse the pixels.
  void attach(const std::string& path) {
    if (path.empty()) return fail(err("/image needs a file path"));
    auto pixels = imageio::decode_image_file(path);
    if (!pixels) return fail(pixels.error());
    note(fmt::format("attached {} ({}x{}) to the next message", path, pixels->width, pixels->height));
    pending_images_.push_back(engine::ImageInput::decoded(std::move(pixels).value(), path));
  }

  bool answer(const std::string& text) {
    engine::Message user = engine::Message::user(text, std::move(pending_images_));
    pending_images_.clear();
    engine::Conversation c;
    if (system_) c.messages.push_back(engine::Message::system(*system_));
    c.messages.insert(c.messages.end(), history_.begin(), history_.end());
    c.messages.push_back(user);
    engine::GenerationRequest request;
    request.prompt = std::move(c);
    request.sampling = sampling_options(options_.engine);
    request.max_new_tokens = options_.engine.max_new_tokens;
    request.ignore_eos = options_.engine.ignore_eos;
    request.on_prefill_progress = prefill_printer(options_.engine.verbose);

    Result<engine::GenerationResult> result = [&] {
      StopSignals ctrl_c(engine_, {SIGINT});  // Ctrl+C stops the answer, not the chat
      return engine_.generate(request, [](const engine::StreamedToken& t) { std::cout << t.text << std::flush; });
    }();
    std::cout << "\n" << std::flush;
    if (!result) {
      fail(result.error());
      // The history is sent again each turn: a long chat outgrows the context.
      if (!history_.empty() && result.message().find("longer than the context") != std::string::npos)
        std::cerr << "quantlens-cli: the conversation so far fills the context; /reset starts a new one\n";
      return true;
    }
    if (result->stop_reason == engine::StopReason::kStopped) note("[stopped]");
    if (result->stop_reason == engine::StopReason::kContextFull) {
      std::cerr << "quantlens-cli: the context is full; /reset starts a new conversation\n";
    }
    if (options_.engine.verbose) {
      const auto& m = result->metrics;
      std::cerr << fmt::format("[{} prompt tokens, {} from cache; {} generated; first token {:.0f} ms; {:.1f} tokens/s]\n",
                               m.prompt_tokens, result->reused_tokens, m.generated_tokens, m.ttft_ms,
                               m.decode_tokens_per_s);
    }
    history_.push_back(std::move(user));
    history_.push_back(engine::Message::assistant(result->text));
    return true;
  }

  engine::Engine& engine_;
  const ChatOptions& options_;
  bool interactive_;
  std::optional<std::string> system_;
  std::vector<engine::Message> history_;
  std::vector<engine::ImageInput> pending_images_;
  int exit_code_ = kExitOk;
};

int run_chat(const ChatOptions& o) {
  engine::Engine engine(&imageio::decode_image_file);
  if (Status st = load_engine(engine, o.engine); !st) return report(st.error());
  const bool interactive = isatty(STDIN_FILENO);
  if (interactive) {
    std::cerr << "Chatting with " << o.engine.model_dir
              << ". Commands: /image PATH, /system TEXT, /reset, /quit. Ctrl+C stops an answer.\n";
  }
  ChatSession session(engine, o, interactive);
  std::string line;
  while (true) {
    if (interactive) std::cout << "> " << std::flush;
    if (!std::getline(std::cin, line)) break;
    if (!session.handle(line)) break;
  }
  if (interactive) std::cout << "\n";
  return session.exit_code();
}

}  // namespace

void add_chat_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "Chat with a model in the terminal (text and images, multi-turn)");
  add_engine_options(cmd, o->engine);
  cmd->add_option("--system", o->system, "System prompt to start with");
  cmd->footer(
      "Commands: /image PATH  attach an image to the next message\n"
      "          /system TEXT set (or, empty, clear) the system prompt\n"
      "          /reset       start a new conversation\n"
      "          /quit        leave (EOF too)\n"
      "Ctrl+C stops the answer being generated; at the prompt it quits.\n"
      "Exit code: 0, or that of the first error reported (2 bad input, 1 other).");
  cmd->callback([o, &exit_code] { exit_code = run_chat(*o); });
}

}  // namespace ql::cli
