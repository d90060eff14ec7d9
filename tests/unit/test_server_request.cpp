// The OpenAI chat request parser (core/server/chat_completion_request.h):
// every field the API defines that the server implements is read, text and
// image parts in order; each bad value is refused with HTTP 400 and an
// error naming the field; unsupported features are refused, not ignored;
// images come as data URLs, or as local files only inside --allow-files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/server/base64.h"
#include "core/server/chat_completion_request.h"
#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::server;
using nlohmann::json;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

json base() { return {{"model", "qwen3-vl"}, {"messages", {{{"role", "user"}, {"content", "Hello"}}}}}; }

ChatCompletionRequest ok(const json& body, const RequestPolicy& policy = {}) {
  auto r = parse_chat_completion(body.dump(), policy);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << e->message;
  return std::holds_alternative<ChatCompletionRequest>(r) ? std::get<ChatCompletionRequest>(r) : ChatCompletionRequest{};
}

ApiError refused(const std::string& body, const RequestPolicy& policy = {}) {
  auto r = parse_chat_completion(body, policy);
  if (std::holds_alternative<ChatCompletionRequest>(r)) {
    ADD_FAILURE() << "accepted: " << body.substr(0, 200);
    return {};
  }
  return std::get<ApiError>(r);
}
ApiError refused(const json& body, const RequestPolicy& policy = {}) { return refused(body.dump(), policy); }

// "AQID" is the bytes 1, 2, 3.
const std::string kDataUrl = "data:image/png;base64,AQID";

TEST(ServerRequest, ReadsEveryImplementedField) {
  json b = base();
  b["messages"] = {{{"role", "system"}, {"content", "Be brief."}},
                   {{"role", "user"},
                    {"content",
                     {{{"type", "image_url"}, {"image_url", {{"url", kDataUrl}}}},
                      {{"type", "text"}, {"text", "What is this?"}},
                      {{"type", "image_url"}, {"image_url", {{"url", kDataUrl}, {"detail", "high"}}}}}}},
                   {{"role", "assistant"}, {"content", "A square."}},
                   {{"role", "developer"}, {"content", "Answer in French."}},
                   {{"role", "user"}, {"content", "And now?"}}};
  b["max_completion_tokens"] = 77;
  b["temperature"] = 0.5;
  b["top_p"] = 0.9;
  b["top_k"] = 40;
  b["min_p"] = 0.05;
  b["presence_penalty"] = 0.3;
  b["repetition_penalty"] = 1.1;
  b["seed"] = 18446744073709551615ull;
  b["stop"] = {"END", "\n\n"};
  b["stream"] = true;
  b["stream_options"] = {{"include_usage", true}};
  b["n"] = 1;
  b["user"] = "someone";  // a field the server has no use for: ignored
  const ChatCompletionRequest r = ok(b);
  EXPECT_EQ(r.model, "qwen3-vl");
  ASSERT_EQ(r.messages.size(), 5u);
  EXPECT_EQ(r.messages[0].role, ql::engine::Role::kSystem);
  EXPECT_EQ(r.messages[3].role, ql::engine::Role::kSystem);  // developer is OpenAI's newer name for system
  ASSERT_EQ(r.messages[1].parts.size(), 3u);
  const auto& image = std::get<ImagePart>(r.messages[1].parts[0]);
  EXPECT_EQ(image.bytes, std::string("\x01\x02\x03"));
  EXPECT_EQ(image.mime, "image/png");
  EXPECT_EQ(image.param, "messages[1].content[0]");
  EXPECT_EQ(std::get<std::string>(r.messages[1].parts[1]), "What is this?");
  EXPECT_TRUE(std::holds_alternative<ImagePart>(r.messages[1].parts[2]));
  EXPECT_EQ(r.max_tokens, 77);
  EXPECT_EQ(r.sampling.temperature, 0.5);
  EXPECT_EQ(r.sampling.top_p, 0.9);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.sampling.min_p, 0.05);
  EXPECT_EQ(r.sampling.presence_penalty, 0.3);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.1);
  EXPECT_EQ(r.sampling.seed, 18446744073709551615ull);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"END", "\n\n"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(ServerRequest, DefaultsLeaveTheModelsSettings) {
  const ChatCompletionRequest r = ok(base());
  EXPECT_FALSE(r.max_tokens);
  EXPECT_FALSE(r.sampling.temperature);
  EXPECT_FALSE(r.sampling.seed);
  EXPECT_FALSE(r.stream);
  json b = base();
  b["max_tokens"] = 5;  // the older name
  b["stop"] = "###";
  const ChatCompletionRequest old = ok(b);
  EXPECT_EQ(old.max_tokens, 5);
  EXPECT_EQ(old.stop, std::vector<std::string>{"###"});
}

struct BadCase {
  const char* what;
  std::function<void(json&)> edit;
  const char* param;
  const char* said;
};

TEST(ServerRequest, EachBadValueIsRefusedNamingItsField) {
  const BadCase cases[] = {
      {"no model", [](json& b) { b.erase("model"); }, "model", "is missing"},
      {"model a number", [](json& b) { b["model"] = 3; }, "model", "must be a string, not a number"},
      {"no messages", [](json& b) { b.erase("messages"); }, "messages", "is missing"},
      {"messages empty", [](json& b) { b["messages"] = json::array(); }, "messages", "is empty"},
      {"messages an object", [](json& b) { b["messages"] = json::object(); }, "messages", "must be an array"},
      {"a role unknown", [](json& b) { b["messages"][0]["role"] = "tool"; }, "messages[0].role", "\"tool\" is not supported"},
      {"content a number", [](json& b) { b["messages"][0]["content"] = 5; }, "messages[0].content", "must be a string or an array"},
      {"a part without type", [](json& b) { b["messages"][0]["content"] = {{{"text", "x"}}}; },
       "messages[0].content[0].type", "is missing"},
      {"a part of an unknown type", [](json& b) { b["messages"][0]["content"] = {{{"type", "input_audio"}}}; },
       "messages[0].content[0].type", "\"input_audio\" is not supported"},
      {"last message the assistant's",
       [](json& b) { b["messages"].push_back({{"role", "assistant"}, {"content", "Hi"}}); }, "messages",
       "the last message is the assistant's"},
      {"temperature too high", [](json& b) { b["temperature"] = 3; }, "temperature", "outside [0, 2]"},
      {"temperature a string", [](json& b) { b["temperature"] = "hot"; }, "temperature", "must be a number, not a string"},
      {"top_p zero", [](json& b) { b["top_p"] = 0; }, "top_p", "outside (0, 1]"},
      {"top_k negative", [](json& b) { b["top_k"] = -1; }, "top_k", "outside"},
      {"top_k fractional", [](json& b) { b["top_k"] = 2.5; }, "top_k", "must be an integer"},
      {"max_tokens zero", [](json& b) { b["max_tokens"] = 0; }, "max_tokens", "outside [1,"},
      {"max_completion_tokens huge", [](json& b) { b["max_completion_tokens"] = 1e12; }, "max_completion_tokens",
       "must be an integer"},
      {"seed negative", [](json& b) { b["seed"] = -1; }, "seed", "is negative"},
      {"five stops", [](json& b) { b["stop"] = {"a", "b", "c", "d", "e"}; }, "stop", "at most 4"},
      {"an empty stop", [](json& b) { b["stop"] = {"a", ""}; }, "stop[1]", "is empty"},
      {"stream a string", [](json& b) { b["stream"] = "yes"; }, "stream", "must be true or false"},
      {"stream_options without stream", [](json& b) { b["stream_options"] = {{"include_usage", true}}; },
       "stream_options", "only when stream is true"},
      {"n of 2", [](json& b) { b["n"] = 2; }, "n", "only one choice"},
      {"tools", [](json& b) { b["tools"] = {{{"type", "function"}}}; }, "tools", "not supported"},
      {"frequency_penalty", [](json& b) { b["frequency_penalty"] = 0.5; }, "frequency_penalty", "not supported"},
      {"logprobs", [](json& b) { b["logprobs"] = true; }, "logprobs", "not returned"},
      {"json mode", [](json& b) { b["response_format"] = {{"type", "json_object"}}; }, "response_format",
       "only {\"type\": \"text\"}"},
      {"an image in a system message",
       [](json& b) {
         b["messages"] = {{{"role", "system"}, {"content", {{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AQID"}}}}}}},
                          {{"role", "user"}, {"content", "hi"}}};
       },
       "messages[0].content[0]", "only user messages may hold images"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    json b = base();
    c.edit(b);
    const ApiError e = refused(b);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, c.param);
    EXPECT_TRUE(contains(e.message, c.param)) << e.message;
    EXPECT_TRUE(contains(e.message, c.said)) << e.message;
    // The error object as OpenAI's clients read it.
    const json j = e.to_json();
    EXPECT_EQ(j["error"]["param"], c.param);
    EXPECT_EQ(j["error"]["message"], e.message);
  }
}

TEST(ServerRequest, MalformedBodiesAreRefusedNotCrashedOn) {
  EXPECT_TRUE(contains(refused(std::string("{\"model\": ")).message, "not valid JSON"));
  EXPECT_TRUE(contains(refused(std::string("[1, 2]")).message, "must be a JSON object"));
  EXPECT_TRUE(contains(refused(std::string("")).message, "not valid JSON"));
  // Deep nesting: parsed and freed without recursion (a stack overflow would end the server).
  const std::string deep = "{\"model\": \"m\", \"messages\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  const ApiError e = refused(deep);
  EXPECT_EQ(e.param, "messages[0]");
  EXPECT_TRUE(contains(refused(std::string("{\"model\": \"m\", \"messages\": [], \"x\": \"\xff\xfe\"}")).message,
                       "not valid JSON"));
}

TEST(ServerRequest, ImageUrlsAreDataUrlsOrAllowedFilesNeverTheNetwork) {
  auto with_url = [](const std::string& url) {
    json b = base();
    b["messages"][0]["content"] = {{{"type", "image_url"}, {"image_url", {{"url", url}}}}};
    return b;
  };
  const std::string p = "messages[0].content[0].image_url.url";
  struct Case {
    std::string url;
    const char* said;
  } cases[] = {{"https://example.com/cat.png", "fetches nothing from the network"},
               {"http://localhost/cat.png", "fetches nothing from the network"},
               {"data:text/plain;base64,AQID", "is not an image"},
               {"data:image/png,AQID", "only base64 data URLs"},
               {"data:image/png;base64", "needs a ','"},
               {"data:image/png;base64,AQ?D", "not valid base64: character 2"},
               {"data:image/png;base64,AQI", "not a multiple of 4"},
               {"data:image/png;base64,", "is empty"},
               {"/etc/passwd", "--allow-files"},
               {"file:///etc/passwd", "--allow-files"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.url);
    const ApiError e = refused(with_url(c.url));
    EXPECT_EQ(e.param, p);
    EXPECT_TRUE(contains(e.message, c.said)) << e.message;
  }

  ql::engine::testing::ScratchDir scratch;
  fs::create_directories(scratch.file("allowed/sub"));
  std::ofstream(scratch.file("allowed/sub/a.png")) << "x";
  std::ofstream(scratch.file("secret.png")) << "x";
  RequestPolicy policy;
  policy.allow_files_dir = scratch.file("allowed");
  const auto r = ok(with_url("file://" + scratch.file("allowed/sub/a.png")), policy);
  EXPECT_EQ(std::get<ImagePart>(r.messages[0].parts[0]).file, fs::weakly_canonical(scratch.file("allowed/sub/a.png")).string());
  const auto rel = ok(with_url("sub/a.png"), policy);  // relative to the allowed folder
  EXPECT_EQ(std::get<ImagePart>(rel.messages[0].parts[0]).file, std::get<ImagePart>(r.messages[0].parts[0]).file);
  for (const std::string& outside : {scratch.file("secret.png"), scratch.file("allowed/../secret.png"),
                                     std::string("../secret.png"), std::string("/etc/passwd")}) {
    SCOPED_TRACE(outside);
    const ApiError e = refused(with_url(outside), policy);
    EXPECT_TRUE(contains(e.message, "outside the folder the server may read")) << e.message;
  }
  fs::create_symlink(scratch.file("secret.png"), scratch.file("allowed/link.png"));
  EXPECT_TRUE(contains(refused(with_url("link.png"), policy).message, "outside the folder")) << "a link led out";
}

TEST(ServerRequest, TooManyImagesAreRefused) {
  json b = base();
  json parts = json::array();
  for (int i = 0; i < 3; ++i) parts.push_back({{"type", "image_url"}, {"image_url", {{"url", kDataUrl}}}});
  b["messages"][0]["content"] = parts;
  RequestPolicy policy;
  policy.max_images = 2;
  const ApiError e = refused(b, policy);
  EXPECT_EQ(e.param, "messages[0].content[2]");
  EXPECT_TRUE(contains(e.message, "more than 2 images")) << e.message;
}

TEST(Base64, DecodesTheRfcExamplesAndRefusesTheRest) {
  std::string why;
  const std::pair<const char*, const char*> rfc[] = {{"", ""},         {"Zg==", "f"},     {"Zm8=", "fo"},
                                                     {"Zm9v", "foo"},  {"Zm9vYg==", "foob"}, {"Zm9vYmE=", "fooba"},
                                                     {"Zm9vYmFy", "foobar"}};
  for (auto [in, out] : rfc) EXPECT_EQ(decode_base64(in, &why), std::string(out)) << in;
  for (const char* bad : {"Zg=", "Z===", "Zg=a", "Zm9v!A==", "=Zm9"}) EXPECT_FALSE(decode_base64(bad, &why)) << bad;
}

}  // namespace
