#pragma once
// The local OpenAI-compatible HTTP server (docs/server.md): POST
// /v1/chat/completions (whole answers and server-sent event streams),
// GET /v1/models, /health and /metrics, in front of one Engine through the
// Scheduler. It listens on its own threads (cpp-httplib's pool); the engine
// runs on the scheduler's. The CLI's `serve` and the app's "Local server"
// panel both run one.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/common/result.h"
#include "core/engine/engine.h"
#include "core/engine/scheduler.h"
#include "core/server/chat_completion_request.h"
#include "core/server/generation_from_request.h"
#include "server/request_log.h"

namespace ql::server {

inline constexpr size_t kDefaultMaxBodyBytes = size_t{64} << 20;

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port (see LocalServer::port)
  std::string api_key;             // empty: no key asked for
  int parallel = 1;                // requests decoded together: the engine's LoadOptions::parallel
  int max_queued = 64;             // requests that may wait beyond those; more get 429
  size_t max_body_bytes = kDefaultMaxBodyBytes;  // larger bodies get 413
  std::string model_name;          // what /v1/models lists and requests must name
  RequestPolicy policy;            // local files, images per request
  int64_t default_max_tokens = kDefaultMaxTokens;
};

// What clients name a model loaded from `dir`: the folder's name, or
// synthetic:NAME as given.
std::string served_model_name(const std::string& dir);

// Where the served model stands: /health reports it, and requests wait for
// kReady (503 before).
enum class ModelState { kLoading, kReady, kFailed };

class LocalServer {
 public:
  // `decode` turns an image's bytes into pixels (the app's decoder).
  LocalServer(engine::Engine& engine, ImageBytesDecoder decode, ServerOptions options);
  ~LocalServer();  // stop(0) if running
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  // Binds host:port and starts answering (while the model is still loading:
  // /health then says how far it is). Errors name the address.
  Status start();
  int port() const { return port_; }
  const ServerOptions& options() const { return options_; }

  void set_loading(double fraction, const std::string& stage);
  // The engine holds the model now (loaded with LoadOptions::parallel =
  // options().parallel): requests run from here on.
  void set_ready();
  void set_failed(const std::string& message);

  // Stops taking requests, lets running ones finish for up to `grace`
  // (cancelling them after), then closes the listening socket.
  void stop(std::chrono::milliseconds grace);

  engine::SchedulerStats stats() const;
  // Answers sent, by HTTP status.
  std::map<int, int64_t> responses_by_status() const;
  // The requests that reached the scheduler, oldest first (the last RequestLog::kKept).
  std::vector<RequestRecord> recent_requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ServerOptions options_;
  int port_ = 0;
};

}  // namespace ql::server
