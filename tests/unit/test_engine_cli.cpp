// quantlens-cli generate and chat on the demo model (and a tiny checkpoint),
// held to transformers' reference tokens in tests/data/engine, and their
// answers to bad input: exit code 2 with a message naming the culprit.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/text/tokenizer.h"
#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::engine::testing;
using Ids = std::vector<int32_t>;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class EngineCli : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = read_cases("demo");
    ASSERT_FALSE(cases_.is_discarded());
    auto tok = ql::text::Tokenizer::load(QL_DEFAULT_TOKENIZER);
    ASSERT_TRUE(tok.ok()) << tok.message();
    tokenizer_ = std::move(*tok);
  }
  const nlohmann::json& ref(const std::string& name) { return *find_case(cases_, name); }
  // The reference's greedy tokens as text: what our answer must print.
  std::string reference_text(const std::string& name) {
    return tokenizer_->decode(ref(name)["greedy"].get<Ids>(), /*skip_special=*/true);
  }
  static std::vector<std::string> greedy_args(std::vector<std::string> args) {
    for (const char* a : {"--temperature", "0", "--max-new-tokens", "12", "--ignore-eos"}) args.push_back(a);
    return args;
  }
  nlohmann::json cases_;
  std::optional<ql::text::Tokenizer> tokenizer_;
};

TEST_F(EngineCli, GenerateJsonMatchesTheReference) {
  auto r = run_cli(greedy_args({"generate", "--model", demo_model_dir(), "--image", engine_image("img_a_64x64.png"),
                                "--prompt", "What is in this picture?", "--logits-rows", "4,-1", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& c = ref("one_image");
  EXPECT_EQ(j["prompt_tokens"], c["input_ids"].size());
  EXPECT_EQ(j["generated_ids"], c["greedy"]);
  EXPECT_EQ(j["position_ids"], c["position_ids"]);
  EXPECT_EQ(j["text"], reference_text("one_image"));
  EXPECT_GT(j["ttft_ms"].get<double>(), 0.0);
  EXPECT_GT(j["decode_tok_s"].get<double>(), 0.0);
  // -1 is the last prompt row.
  ASSERT_EQ(j["logits"].size(), 2u);
  for (const std::string row : {std::string("4"), std::to_string(case_prompt_tokens(c) - 1)}) {
    ASSERT_TRUE(j["logits"].contains(row)) << row;
    const auto& got = j["logits"][row];
    const auto& want = c["logits"][row];
    ASSERT_EQ(got.size(), 151936u);
    double max_diff = 0;
    for (size_t i = 0; i < want["columns"].size(); ++i) {
      max_diff = std::max(max_diff, std::abs(got[want["columns"][i].get<size_t>()].get<double>() -
                                             want["values"][i].get<double>()));
    }
    EXPECT_LE(max_diff, 1e-3) << "row " << row;
  }
}

TEST_F(EngineCli, GenerateStreamsTheTextWithoutJson) {
  auto r = run_cli(greedy_args({"generate", "--model", demo_model_dir(), "--system", "You describe images.", "--image",
                                engine_image("img_c_300x170.png"), "--prompt", "Describe it."}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, reference_text("image_needs_resizing") + "\n");
}

TEST_F(EngineCli, InputIdsRunWithoutATokenizerOnATinyCheckpoint) {
  const auto tiny = read_cases("tiny-b");
  const auto& c = *find_case(tiny, "two_images_text_between");
  ScratchDir dir;
  const std::string ids = dir.write("ids.json", c["input_ids"].dump());
  auto r = run_cli(greedy_args({"generate", "--model", data_path("engine/tiny-b"), "--input-ids", ids, "--image",
                                engine_image("img_a_64x64.png"), "--image", engine_image("img_b_48x80.png"), "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["generated_ids"], c["greedy"]);
  EXPECT_EQ(j["position_ids"], c["position_ids"]);
  EXPECT_EQ(j["text"], "");  // the Qwen tokenizer does not fit a 600-token vocabulary
}

TEST_F(EngineCli, MismatchedImageTokensInInputIdsNameTheImage) {
  Ids ids = ref("one_image")["input_ids"].get<Ids>();
  ids.erase(ids.begin() + 10);  // one <|image_pad|> fewer than the image needs
  const int64_t needs = case_image_tokens(ref("one_image"));
  ScratchDir dir;
  const std::string file = dir.write("ids.json", nlohmann::json(ids).dump());
  const std::string image = engine_image("img_a_64x64.png");
  auto r = run_cli(greedy_args({"generate", "--model", demo_model_dir(), "--input-ids", file, "--image", image}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, image)) << r.err;
  EXPECT_TRUE(contains(r.err, std::to_string(needs - 1) + " image tokens")) << r.err;
  EXPECT_TRUE(contains(r.err, "needs " + std::to_string(needs))) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(EngineCli, OverLongPromptNamesTheLimit) {
  auto r = run_cli(greedy_args({"generate", "--model", demo_model_dir(), "--context", "64", "--image",
                                engine_image("img_a_64x64.png"), "--prompt", "What is in this picture?"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, std::to_string(case_prompt_tokens(ref("one_image"))) + " tokens")) << r.err;
  EXPECT_TRUE(contains(r.err, "context of 64 tokens")) << r.err;
}

TEST_F(EngineCli, MissingImageFileIsNamed) {
  const std::string missing = engine_image("no-such-picture.png");
  auto r = run_cli(greedy_args({"generate", "--model", demo_model_dir(), "--image", missing, "--prompt", "Hi"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, missing)) << r.err;
}

TEST_F(EngineCli, BadArgumentsExitWith2) {
  ScratchDir dir;
  const std::string bad_json = dir.write("bad.json", "[1, 2.5]");
  const std::string good_json = dir.write("good.json", "[1, 2]");
  const std::string model = demo_model_dir();
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  const std::vector<Case> cases = {
      {{"generate", "--model", model}, "exactly one of --prompt"},
      {{"generate", "--model", model, "--prompt", "x", "--input-ids", good_json}, "exactly one of --prompt"},
      {{"generate", "--model", model, "--input-ids", good_json, "--system", "s"}, "--system"},
      {{"generate", "--model", model, "--prompt", "x", "--logits-rows", "1,x"}, "'x'"},
      {{"generate", "--model", model, "--input-ids", bad_json}, "element 1 (2.5)"},
      {{"generate", "--model", model, "--input-ids", dir.file("absent.json")}, "absent.json"},
      {{"generate", "--model", model, "--prompt", "x", "--max-new-tokens", "-1"}, "--max-new-tokens"},
      {{"generate", "--model", model, "--prompt", "x", "--top-p", "0"}, "top-p 0"},
      {{"generate", "--model", model, "--prompt", "x", "--logits-rows", "99"}, "row 99"},
      {{"generate", "--model", dir.file("nowhere"), "--prompt", "x"}, "nowhere"},
  };
  for (const Case& c : cases) {
    auto r = run_cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.says << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, c.says)) << r.err;
  }
}

TEST_F(EngineCli, ChatThroughAPipeAnswersEachTurn) {
  const std::string image = engine_image("img_a_64x64.png");
  const std::string input = "/image " + image + "\nWhat is in this picture?\n/reset\n/image " + image +
                            "\nWhat is in this picture?\n/quit\nnever read\n";
  auto r = run_cli(greedy_args({"chat", "--model", demo_model_dir()}), input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string answer = reference_text("one_image");
  EXPECT_EQ(r.out, answer + "\n" + answer + "\n");
}

TEST_F(EngineCli, ChatSystemPromptAndEndOfInput) {
  const std::string input = "/system You describe images.\n/image " + engine_image("img_c_300x170.png") +
                            "\nDescribe it.\n";  // no /quit: end of input ends the chat
  auto r = run_cli(greedy_args({"chat", "--model", demo_model_dir()}), input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, reference_text("image_needs_resizing") + "\n");
}

TEST_F(EngineCli, ChatSecondTurnSeesTheFirst) {
  // The second answer depends on the first turn: it differs from the answer
  // to the same question asked alone. (Engine tests hold multi-turn answers
  // to the reference; here the first answer is the model's own.)
  const std::string second = "/image " + engine_image("img_d_90x90.png") + "\nWhat color dominates?\n";
  auto hello = run_cli(greedy_args({"chat", "--model", demo_model_dir()}), "Hello!\n");
  auto both = run_cli(greedy_args({"chat", "--model", demo_model_dir()}), "Hello!\n" + second);
  auto alone = run_cli(greedy_args({"chat", "--model", demo_model_dir()}), second);
  ASSERT_EQ(hello.exit_code, 0) << hello.err;
  ASSERT_EQ(both.exit_code, 0) << both.err;
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  ASSERT_EQ(both.out.rfind(hello.out, 0), 0u) << "the first answer should come first";
  const std::string second_answer = both.out.substr(hello.out.size());
  EXPECT_FALSE(second_answer.empty());
  EXPECT_NE(second_answer, alone.out);
}

TEST_F(EngineCli, ChatReportsBadCommandsAndGoesOn) {
  const std::string missing = engine_image("missing.png");
  auto r = run_cli(greedy_args({"chat", "--model", demo_model_dir()}),
                   "/frobnicate\n/image " + missing + "\nWhat is in this picture?\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "/frobnicate")) << r.err;
  EXPECT_TRUE(contains(r.err, missing)) << r.err;
  // The question was still answered, without the image that failed to load.
  EXPECT_FALSE(r.out.empty());
}

// Runs the chat with pipes on stdin/stdout so the test can wait for output and send SIGINT.
class ChatProcess {
 public:
  explicit ChatProcess(const std::vector<std::string>& args) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      close(in[1]);
      close(out[0]);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(QL_CLI_PATH));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(QL_CLI_PATH, argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
  }
  ~ChatProcess() {
    if (to_child_ >= 0) close(to_child_);
    close(from_child_);
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void send(const std::string& s) { ASSERT_EQ(write(to_child_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  void close_input() {
    close(to_child_);
    to_child_ = -1;
  }
  // Reads until at least `n` bytes came or the timeout passed.
  std::string read_at_least(size_t n, int timeout_ms) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      pollfd p{from_child_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buf[4096];
        const ssize_t k = read(from_child_, buf, sizeof buf);
        if (k <= 0) break;
        got.append(buf, static_cast<size_t>(k));
      }
    }
    return got;
  }
  void interrupt() { kill(pid_, SIGINT); }
  // The exit status, or nullopt if the process is still running after the timeout.
  std::optional<int> wait(int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  bool exited_ = false;
};

TEST(EngineChatSignal, CtrlCStopsTheAnswerNotTheChat) {
  ChatProcess chat({"chat", "--model", demo_model_dir(), "--ignore-eos", "--max-new-tokens", "1000000"});
  chat.send("Tell me a long story.\n");
  const std::string started = chat.read_at_least(1, 20000);
  ASSERT_FALSE(started.empty()) << "no answer began";
  chat.interrupt();
  // The answer ends (a newline), then the chat takes the next line.
  chat.read_at_least(1, 200);
  chat.send("/quit\n");
  chat.close_input();
  const auto status = chat.wait(5000);
  ASSERT_TRUE(status.has_value()) << "the chat did not end after /quit";
  EXPECT_EQ(*status, 0);
}

}  // namespace
