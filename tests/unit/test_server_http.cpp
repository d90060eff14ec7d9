// The local server over HTTP on loopback (server/local_server.h) with the demo
// model on the CPU: /health while loading and when ready, /v1/models, whole
// and streamed answers that agree, usage, stop sequences, pictures as data
// URLs, OpenAI's error object for every refusal (400, 401, 404, 413, 429,
// 503), a client that disconnects cancelling its answer, and a stop that
// lets a running answer finish.
#include <gtest/gtest.h>

#include <httplib.h>

#include <QFile>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/engine/engine.h"
#include "server/local_server.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql;
using namespace ql::engine::testing;
using nlohmann::json;

struct ServerFixture {
  engine::Engine engine{&imageio::decode_image_file};
  std::unique_ptr<server::LocalServer> srv;

  explicit ServerFixture(server::ServerOptions o = {}, int64_t context = 0, bool ready = true) {
    engine::LoadOptions lo;
    lo.backend = backend::BackendChoice::kCpu;
    lo.context_tokens = context;
    lo.parallel = o.parallel;
    EXPECT_TRUE(engine.load(demo_model_dir(), lo).ok());
    o.port = 0;
    if (o.model_name.empty()) o.model_name = "demo-model";
    srv = std::make_unique<server::LocalServer>(engine, &imageio::decode_image_bytes, o);
    EXPECT_TRUE(srv->start().ok());
    if (ready) srv->set_ready();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", srv->port());
    c.set_read_timeout(60, 0);
    return c;
  }
};

json chat(const std::string& text, int max_tokens, bool stream = false) {
  json j = {{"model", "demo-model"},
            {"messages", json::array({{{"role", "user"}, {"content", text}}})},
            {"max_tokens", max_tokens},
            {"temperature", 0}};
  if (stream) {
    j["stream"] = true;
    j["stream_options"] = {{"include_usage", true}};
  }
  return j;
}

// The "data:" payloads of a server-sent event stream, in order.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    out.push_back(body.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

struct Streamed {
  std::string text, finish;
  json usage;
  bool done = false, first_is_role = false;
};

Streamed parse_stream(const std::string& body) {
  Streamed s;
  const auto events = sse_data(body);
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i] == "[DONE]") {
      s.done = i + 1 == events.size();
      continue;
    }
    const json j = json::parse(events[i]);
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    if (j.contains("usage") && j["choices"].empty()) {
      s.usage = j["usage"];
      continue;
    }
    const json& delta = j["choices"][0]["delta"];
    if (i == 0) s.first_is_role = delta.value("role", "") == "assistant";
    if (delta.contains("content")) s.text += delta["content"].get<std::string>();
    if (!j["choices"][0]["finish_reason"].is_null()) s.finish = j["choices"][0]["finish_reason"];
  }
  return s;
}

json post(httplib::Client& c, const json& body, int* status) {
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  if (!r) {
    *status = -1;
    return {};
  }
  *status = r->status;
  return json::parse(r->body, nullptr, false);
}

std::string data_url(const std::string& path) {
  QFile f(QString::fromStdString(path));
  EXPECT_TRUE(f.open(QIODevice::ReadOnly)) << path;
  return "data:image/png;base64," + f.readAll().toBase64().toStdString();
}

TEST(ServerHttp, HealthSaysLoadingThenReadyAndModelsListTheName) {
  ServerFixture f({}, 0, /*ready=*/false);
  auto c = f.client();
  f.srv->set_loading(0.25, "reading weights");
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  const json hj = json::parse(h->body);
  EXPECT_EQ(hj["status"], "loading");
  EXPECT_DOUBLE_EQ(hj["progress"].get<double>(), 0.25);
  int status = 0;
  const json refused = post(c, chat("Hello", 2), &status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(refused["error"]["code"], "model_loading");
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("25%"), std::string::npos);

  f.srv->set_ready();
  h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ready");
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  const json mj = json::parse(m->body);
  EXPECT_EQ(mj["object"], "list");
  ASSERT_EQ(mj["data"].size(), 1u);
  EXPECT_EQ(mj["data"][0]["id"], "demo-model");
  auto one = c.Get("/v1/models/demo-model");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  auto other = c.Get("/v1/models/gpt-4o");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST(ServerHttp, WholeAndStreamedAnswersAgreeWithUsage) {
  ServerFixture f;
  auto c = f.client();
  int status = 0;
  const json whole = post(c, chat("Describe a red circle.", 7), &status);
  ASSERT_EQ(status, 200) << whole.dump();
  EXPECT_EQ(whole["object"], "chat.completion");
  EXPECT_EQ(whole["model"], "demo-model");
  EXPECT_EQ(whole["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(whole["usage"]["completion_tokens"], 7);
  EXPECT_GT(whole["usage"]["prompt_tokens"].get<int>(), 5);
  EXPECT_EQ(whole["usage"]["total_tokens"].get<int>(),
            whole["usage"]["prompt_tokens"].get<int>() + whole["usage"]["completion_tokens"].get<int>());
  const std::string text = whole["choices"][0]["message"]["content"];
  EXPECT_FALSE(text.empty());

  auto r = c.Post("/v1/chat/completions", chat("Describe a red circle.", 7, true).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  const Streamed s = parse_stream(r->body);
  EXPECT_TRUE(s.first_is_role);
  EXPECT_TRUE(s.done) << "the stream ends with data: [DONE]";
  EXPECT_EQ(s.text, text) << "greedy: the same answer streamed";
  EXPECT_EQ(s.finish, "length");
  EXPECT_EQ(s.usage["completion_tokens"], 7);
  // The second request's prompt is the first's: it comes from the KV cache.
  EXPECT_GT(s.usage["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
}

TEST(ServerHttp, StopSequenceEndsTheAnswerBeforeIt) {
  ServerFixture f;
  auto c = f.client();
  int status = 0;
  const json whole = post(c, chat("Count.", 12), &status);
  ASSERT_EQ(status, 200);
  const std::string text = whole["choices"][0]["message"]["content"];
  ASSERT_GE(text.size(), 6u);
  // A stop string from the middle of the answer (whole UTF-8 characters).
  size_t cut = text.size() / 2;
  while (cut > 1 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  size_t end = cut + 1;
  while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
  const std::string stop = text.substr(cut, end - cut);
  const std::string expected = text.substr(0, text.find(stop));
  json body = chat("Count.", 12);
  body["stop"] = stop;
  const json stopped = post(c, body, &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(stopped["choices"][0]["message"]["content"], expected);
  EXPECT_EQ(stopped["choices"][0]["finish_reason"], "stop");
  body["stream"] = true;
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  const Streamed s = parse_stream(r->body);
  EXPECT_EQ(s.text, expected);
  EXPECT_EQ(s.finish, "stop");
}

TEST(ServerHttp, PicturesAsDataUrls) {
  ServerFixture f;
  auto c = f.client();
  auto with_images = [](std::vector<std::string> urls) {
    json parts = json::array();
    for (const auto& u : urls) parts.push_back({{"type", "image_url"}, {"image_url", {{"url", u}}}});
    parts.push_back({{"type", "text"}, {"text", "What is in the picture?"}});
    return json{{"model", "demo-model"},
                {"messages", json::array({{{"role", "user"}, {"content", parts}}})},
                {"max_tokens", 3},
                {"temperature", 0}};
  };
  int status = 0;
  const std::string a = data_url(engine_image("img_a_64x64.png")), b = data_url(engine_image("img_b_48x80.png"));
  const json one = post(c, with_images({a}), &status);
  ASSERT_EQ(status, 200) << one.dump();
  const json two = post(c, with_images({a, b}), &status);
  ASSERT_EQ(status, 200) << two.dump();
  // Each picture adds its tokens to the prompt.
  EXPECT_GT(two["usage"]["prompt_tokens"].get<int>(), one["usage"]["prompt_tokens"].get<int>() + 10);
  const json remote = post(c, with_images({"https://example.com/cat.png"}), &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(remote["error"]["param"], "messages[0].content[0].image_url.url");
  const json broken = post(c, with_images({"data:image/png;base64,iVBORw0KGgo="}), &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(broken["error"]["message"].get<std::string>().find("messages[0].content[0]"), std::string::npos);
}

TEST(ServerHttp, RefusalsCarryOpenAIsErrorObject) {
  server::ServerOptions o;
  o.api_key = "sekrit-key";
  o.max_body_bytes = 8192;
  ServerFixture f(o, /*context=*/64);
  auto c = f.client();
  const httplib::Headers auth = {{"Authorization", "Bearer sekrit-key"}};
  auto expect_error = [&](const httplib::Result& r, int status, const std::string& code) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    const json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.contains("error")) << r->body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    EXPECT_TRUE(j["error"].contains("type") && j["error"].contains("param"));
    if (!code.empty()) {
      EXPECT_EQ(j["error"]["code"], code) << r->body;
    }
  };
  const std::string good = chat("Hi", 2).dump();
  expect_error(c.Post("/v1/chat/completions", good, "application/json"), 401, "invalid_api_key");
  expect_error(c.Post("/v1/chat/completions", {{"Authorization", "Bearer sekrit-kez"}}, good, "application/json"), 401,
               "invalid_api_key");
  auto ok = c.Post("/v1/chat/completions", auth, good, "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto health = c.Get("/health");  // no key needed
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  expect_error(c.Get("/v1/models"), 401, "invalid_api_key");

  expect_error(c.Post("/v1/chat/completions", auth, "{\"model\": ", "application/json"), 400, "");
  json wrong = chat("Hi", 2);
  wrong["max_tokens"] = "many";
  auto r = c.Post("/v1/chat/completions", auth, wrong.dump(), "application/json");
  expect_error(r, 400, "");
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "max_tokens");
  json other = chat("Hi", 2);
  other["model"] = "gpt-4o";
  r = c.Post("/v1/chat/completions", auth, other.dump(), "application/json");
  expect_error(r, 404, "model_not_found");
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "model");
  expect_error(c.Get("/v1/embeddings", auth), 404, "unknown_endpoint");
  expect_error(c.Post("/v1/chat/completions", auth, chat(std::string(9000, 'x'), 2).dump(), "application/json"), 413,
               "request_too_large");
  // 64 tokens of context: a longer prompt is refused before it runs.
  std::string long_text;
  for (int i = 0; i < 60; ++i) long_text += "word" + std::to_string(i) + " ";
  r = c.Post("/v1/chat/completions", auth, chat(long_text, 2).dump(), "application/json");
  expect_error(r, 400, "context_length_exceeded");
  EXPECT_NE(json::parse(r->body)["error"]["message"].get<std::string>().find("64 tokens"), std::string::npos);
}

// A stream the client abandons: its generation stops and frees the engine;
// while it ran, a request beyond the queue limit got 429.
TEST(ServerHttp, DisconnectCancelsAndAFullQueueRefuses) {
  server::ServerOptions o;
  o.parallel = 1;
  o.max_queued = 0;
  ServerFixture f(o);
  std::atomic<int> chunks{0};
  std::thread abandoning([&] {
    auto c = f.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = chat("Tell a long story.", 3000, true).dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    (void)c.send(req);  // returns once the receiver said stop: the connection is closed
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (chunks < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int status = 0;
  auto c = f.client();
  const json refused = post(c, chat("Hi", 2), &status);
  EXPECT_EQ(status, 429) << refused.dump();
  EXPECT_EQ(refused["error"]["code"], "queue_full");
  EXPECT_EQ(refused["error"]["type"], "rate_limit_error");
  abandoning.join();
  while (f.srv->stats().cancelled < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto s = f.srv->stats();
  EXPECT_EQ(s.cancelled, 1) << "the abandoned answer was cancelled";
  EXPECT_LT(s.completion_tokens, 3000);
  EXPECT_GE(s.rejected, 1);
  // The engine is free again.
  const json after = post(c, chat("Hi", 2), &status);
  EXPECT_EQ(status, 200) << after.dump();
}

// stop() lets an answer that is running finish, and refuses new ones.
TEST(ServerHttp, StopDrainsRunningAnswers) {
  ServerFixture f;
  std::string body;
  std::atomic<bool> started{false};
  std::thread streaming([&] {
    auto c = f.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = chat("Tell a story.", 40, true).dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      body.append(d, n);
      started = true;
      return true;
    };
    (void)c.send(req);
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  f.srv->stop(std::chrono::seconds(20));
  streaming.join();
  const Streamed s = parse_stream(body);
  EXPECT_TRUE(s.done) << body;
  // Drained, not cut: the answer ended by itself, at its end of text or at max_tokens.
  ASSERT_TRUE(s.finish == "length" || s.finish == "stop") << s.finish;
  if (s.finish == "length") EXPECT_EQ(s.usage["completion_tokens"], 40);
  else EXPECT_LT(s.usage["completion_tokens"].get<int>(), 40);
  auto c = f.client();
  EXPECT_FALSE(c.Get("/health")) << "the socket is closed after stop";
}

}  // namespace
