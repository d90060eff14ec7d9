#include "server/local_server.h"

#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <ctime>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "core/model/synthetic_models.h"
#include "core/server/chat_completion_response.h"
#include "server/answer_channel.h"
#include "server/bearer_auth.h"
#include "server/prometheus_text.h"

namespace ql::server {
namespace {

using nlohmann::json;
constexpr auto kKeepAlive = std::chrono::seconds(1);  // a write this often shows whether the client is still there

ApiError api_error(int status, std::string type, std::string message, std::string code = {}) {
  ApiError e;
  e.status = status;
  e.type = std::move(type);
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

void send(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(e.to_json().dump(), "application/json");
}

std::string completion_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("chatcmpl-{:016x}{:08x}", rng(), static_cast<uint32_t>(rng()));
}

std::string mib(size_t bytes) { return fmt::format("{:.0f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

}  // namespace

std::string served_model_name(const std::string& dir) {
  if (model::is_synthetic_model(dir)) return dir;
  std::filesystem::path p(dir);
  if (!p.has_filename()) p = p.parent_path();
  return p.filename().string();
}

struct LocalServer::Impl {
  engine::Engine& engine;
  ImageBytesDecoder decode;
  ServerOptions options;
  httplib::Server http;
  std::thread listener;
  std::unique_ptr<engine::Scheduler> scheduler;

  mutable std::mutex mutex;  // guards the fields below and `scheduler`'s lifetime
  ModelState state = ModelState::kLoading;
  double load_fraction = 0;
  std::string load_stage, failure;
  std::map<int, int64_t> by_status;
  bool stopping = false;
  std::optional<engine::SchedulerStats> final_stats;  // once stopped
  RequestLog requests;

  Impl(engine::Engine& e, ImageBytesDecoder d, ServerOptions o)
      : engine(e), decode(std::move(d)), options(std::move(o)) {}

  // ---- checks every /v1 request passes ----------------------------------------
  bool authorised(const httplib::Request& req, httplib::Response& res) const {
    if (bearer_matches(req.get_header_value("Authorization"), options.api_key)) return true;
    send(res, api_error(401, "invalid_request_error",
                        "the API key is missing or wrong: send the header \"Authorization: Bearer KEY\" with the "
                        "key the server was started with",
                        "invalid_api_key"));
    return false;
  }

  // The model answers only once loaded; 503 before (and after a failed load).
  bool ready(httplib::Response& res) const {
    std::lock_guard lock(mutex);
    if (stopping) {
      send(res, api_error(503, "server_error", "the server is shutting down", "shutting_down"));
      return false;
    }
    if (state == ModelState::kReady) return true;
    if (state == ModelState::kLoading) {
      send(res, api_error(503, "server_error",
                          fmt::format("the model is still loading ({:.0f}%, {}); GET /health says when it is ready",
                                      100 * load_fraction, load_stage),
                          "model_loading"));
    } else {
      send(res, api_error(503, "server_error", "the model could not be loaded: " + failure, "model_failed"));
    }
    return false;
  }

  // ---- routes ---------------------------------------------------------------------
  void health(const httplib::Request&, httplib::Response& res) const {
    std::lock_guard lock(mutex);
    json j;
    switch (state) {
      case ModelState::kReady:
        j = {{"status", "ready"}, {"model", options.model_name}};
        res.status = 200;
        break;
      case ModelState::kLoading:
        j = {{"status", "loading"}, {"progress", load_fraction}, {"stage", load_stage}};
        res.status = 503;
        break;
      case ModelState::kFailed:
        j = {{"status", "failed"}, {"error", failure}};
        res.status = 500;
        break;
    }
    res.set_content(j.dump(), "application/json");
  }

  void models(const httplib::Request& req, httplib::Response& res) const {
    if (!authorised(req, res)) return;
    const json model = {{"id", options.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "quantlens"}};
    if (req.matches.size() > 1) {  // GET /v1/models/{id}
      if (req.matches[1].str() != options.model_name) return send(res, unknown_model(req.matches[1].str(), ""));
      return res.set_content(model.dump(), "application/json");
    }
    res.set_content(json{{"object", "list"}, {"data", json::array({model})}}.dump(), "application/json");
  }

  ApiError unknown_model(const std::string& name, const std::string& param) const {
    ApiError e = api_error(404, "invalid_request_error",
                           fmt::format("{}the model \"{}\" is not served here; this server has \"{}\"",
                                       param.empty() ? "" : param + ": ", name, options.model_name),
                           "model_not_found");
    e.param = param;
    return e;
  }

  void metrics(const httplib::Request& req, httplib::Response& res) const {
    if (!authorised(req, res)) return;
    res.set_content(prometheus_text(stats(), responses(), engine.metrics()), "text/plain; version=0.0.4");
  }

  void chat_completions(const httplib::Request& req, httplib::Response& res) {
    if (!authorised(req, res) || !ready(res)) return;
    auto parsed = parse_chat_completion(req.body, options.policy);
    if (auto* e = std::get_if<ApiError>(&parsed)) return send(res, *e);
    const ChatCompletionRequest& chat = std::get<ChatCompletionRequest>(parsed);
    if (chat.model != options.model_name) return send(res, unknown_model(chat.model, "model"));
    auto made = generation_from_request(chat, decode, options.default_max_tokens);
    if (auto* e = std::get_if<ApiError>(&made)) return send(res, *e);

    auto channel = std::make_shared<AnswerChannel>(chat.stop);
    engine::SequenceJob job;
    job.request = std::move(std::get<engine::GenerationRequest>(made));
    RequestLog* log = &requests;
    const uint64_t log_id = log->add(req.remote_addr, chat.stream);
    job.on_prepared = [channel, log, log_id](const Result<engine::PreparedPrompt>& p) {
      channel->prepared(p);
      if (p.ok()) log->running(log_id, static_cast<int64_t>(p->ids.size()));
      else log->end(log_id, RequestState::kFailed, p.message());
    };
    // A stop sequence ends the generation.
    job.on_token = [channel, log, log_id](const engine::StreamedToken& t) {
      if (t.id != engine::kFlushTokenId) log->token(log_id);
      return !channel->token(t);
    };
    const auto cancel = job.cancel;
    job.on_done = [channel, log, log_id, cancel](const Result<engine::GenerationResult>& r) {
      channel->finished(r);
      if (!r.ok()) return log->end(log_id, RequestState::kFailed, r.message());
      const bool hit = channel->stop_hit();
      const bool cancelled = !hit && cancel->load() && r->stop_reason == engine::StopReason::kStopped;
      log->end(log_id, cancelled ? RequestState::kCancelled : RequestState::kDone,
               cancelled ? "cancelled" : finish_reason(r->stop_reason, hit),
               static_cast<int64_t>(r->generated_ids.size()));
    };

    engine::TicketPtr ticket;
    {
      std::lock_guard lock(mutex);
      if (!scheduler) return send(res, api_error(503, "server_error", "the server is shutting down", "shutting_down"));
      auto submitted = scheduler->submit(std::move(job));
      if (auto* refused = std::get_if<engine::SubmitRefusal>(&submitted)) {
        const bool full = refused->kind == engine::SubmitRefusal::Kind::kQueueFull;
        requests.end(log_id, RequestState::kFailed, full ? "queue full" : "shutting down", 0);
        return send(res, api_error(full ? 429 : 503, full ? "rate_limit_error" : "server_error", refused->message,
                                   full ? "queue_full" : "shutting_down"));
      }
      ticket = std::get<engine::TicketPtr>(submitted);
    }

    // Wait for the prompt to be prepared: until then an error can still be a
    // 400 (too long for the context, a picture the model cannot take).
    AnswerUpdate first;
    do first = channel->take(std::chrono::milliseconds(200));
    while (!first.prepared && !first.done);
    // Nothing but a shutdown cancels a job before its answer began.
    if (!first.prepared && ticket->cancelled())
      return send(res, api_error(503, "server_error", "the server is shutting down", "shutting_down"));
    if (first.refusal) return send(res, *first.refusal);

    const CompletionIds ids{completion_id(), options.model_name, static_cast<int64_t>(std::time(nullptr))};
    // The client gone (the answer not fully written): its generation stops.
    auto releaser = [ticket](bool success) {
      if (!success) ticket->cancel();
    };
    res.status = 200;
    if (chat.stream) {
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [channel, ticket, ids, usage = chat.include_usage, first](size_t, httplib::DataSink& sink) mutable {
            auto write = [&](const std::string& s) {
              if (sink.write(s.data(), s.size())) return true;
              ticket->cancel();
              return false;
            };
            if (!write(sse_event(chunk_json(ids, std::string("assistant"), std::string(), std::nullopt)))) return false;
            AnswerUpdate u = std::move(first);
            for (;;) {
              if (!u.text.empty() && !write(sse_event(chunk_json(ids, std::nullopt, u.text, std::nullopt))))
                return false;
              if (u.done) break;
              u = channel->take(kKeepAlive);
              // Nothing new for a while (a long prompt): an SSE comment, which clients skip.
              if (u.text.empty() && !u.done && !write(": keep-alive\n\n")) return false;
            }
            if (u.failure) {
              if (!write(sse_event(u.failure->to_json()))) return false;
            } else {
              if (!write(sse_event(chunk_json(ids, std::nullopt, std::nullopt, u.finish_reason)))) return false;
              if (usage && !write(sse_event(usage_chunk_json(ids, u.usage)))) return false;
            }
            if (!write(kSseDone)) return false;
            sink.done();
            return true;
          },
          releaser);
      return;
    }
    res.set_chunked_content_provider(
        "application/json",
        [channel, ticket, ids, first](size_t, httplib::DataSink& sink) mutable {
          std::string text = first.text;
          AnswerUpdate u = std::move(first);
          while (!u.done) {
            u = channel->take(kKeepAlive);
            text += u.text;
            // JSON allows whitespace before the value: a space now and then
            // finds a client that left while its answer was being made.
            if (u.text.empty() && !u.done && !sink.write(" ", 1)) {
              ticket->cancel();
              return false;
            }
          }
          const json body = u.failure ? u.failure->to_json() : completion_json(ids, text, u.finish_reason, u.usage);
          const std::string s = body.dump();
          if (!sink.write(s.data(), s.size())) return false;
          sink.done();
          return true;
        },
        releaser);
  }

  engine::SchedulerStats stats() const {
    std::lock_guard lock(mutex);
    if (scheduler) return scheduler->stats();
    if (final_stats) return *final_stats;
    engine::SchedulerStats s;
    s.max_batch = options.parallel;
    s.max_queued = options.max_queued;
    return s;
  }

  std::map<int, int64_t> responses() const {
    std::lock_guard lock(mutex);
    return by_status;
  }

  void route() {
    http.Get("/health", [this](const httplib::Request& q, httplib::Response& r) { health(q, r); });
    http.Get("/v1/models", [this](const httplib::Request& q, httplib::Response& r) { models(q, r); });
    http.Get(R"(/v1/models/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) { models(q, r); });
    http.Get("/metrics", [this](const httplib::Request& q, httplib::Response& r) { metrics(q, r); });
    http.Post("/v1/chat/completions",
              [this](const httplib::Request& q, httplib::Response& r) { chat_completions(q, r); });
    // What the routes did not answer (an unknown path, a body over the limit) gets OpenAI's error object too.
    http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& q,
                                                                      httplib::Response& r) {
      if (!r.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      if (r.status == 413) {
        send(r, api_error(413, "invalid_request_error",
                          fmt::format("the request body is larger than the server's limit of {}",
                                      mib(options.max_body_bytes)),
                          "request_too_large"));
      } else if (r.status == 404) {
        send(r, api_error(404, "invalid_request_error",
                          fmt::format("no such endpoint: {} {} (this server has POST /v1/chat/completions, GET "
                                      "/v1/models, /health, /metrics)",
                                      q.method, q.path),
                          "unknown_endpoint"));
      } else {
        send(r, api_error(r.status, r.status >= 500 ? "server_error" : "invalid_request_error",
                          fmt::format("{} {} could not be answered (HTTP {})", q.method, q.path, r.status)));
      }
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& r, std::exception_ptr ep) {
      std::string what = "unknown error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send(r, api_error(500, "server_error", "internal error: " + what));
    });
    http.set_logger([this](const httplib::Request&, const httplib::Response& r) {
      std::lock_guard lock(mutex);
      ++by_status[r.status];
    });
  }
};

LocalServer::LocalServer(engine::Engine& engine, ImageBytesDecoder decode, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(decode), options)), options_(std::move(options)) {}

LocalServer::~LocalServer() { stop(std::chrono::milliseconds(0)); }

Status LocalServer::start() {
  auto& h = impl_->http;
  impl_->route();
  h.set_payload_max_length(options_.max_body_bytes);
  // Every waiting or running request holds a thread, and the limits are
  // checked by the handlers: enough threads for all of them plus a few
  // for /health and /metrics.
  const int threads = std::max(1, options_.parallel) + std::max(0, options_.max_queued) + 8;
  h.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  if (options_.port == 0) {
    port_ = h.bind_to_any_port(options_.host);
    if (port_ <= 0) return err("cannot listen on {} (any port): the address is not this machine's", options_.host);
  } else {
    if (!h.bind_to_port(options_.host, options_.port))
      return err("cannot listen on {}:{}: the port is in use or the address is not this machine's", options_.host,
                 options_.port);
    port_ = options_.port;
  }
  impl_->listener = std::thread([this] { impl_->http.listen_after_bind(); });
  // httplib's stop() does nothing before the accept loop runs (the loop would
  // then run on forever): wait for it, so a stop() right after start() ends it.
  for (int i = 0; i < 5000 && !impl_->http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!impl_->http.is_running()) return err("{}:{}: the server did not start listening", options_.host, port_);
  return {};
}

void LocalServer::set_loading(double fraction, const std::string& stage) {
  std::lock_guard lock(impl_->mutex);
  impl_->state = ModelState::kLoading;
  impl_->load_fraction = fraction;
  impl_->load_stage = stage;
}

void LocalServer::set_ready() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->stopping) return;
  engine::Scheduler::Options o;
  o.max_queued = options_.max_queued;
  impl_->scheduler = std::make_unique<engine::Scheduler>(impl_->engine, o);
  impl_->state = ModelState::kReady;
}

void LocalServer::set_failed(const std::string& message) {
  std::lock_guard lock(impl_->mutex);
  impl_->state = ModelState::kFailed;
  impl_->failure = message;
}

void LocalServer::stop(std::chrono::milliseconds grace) {
  std::unique_ptr<engine::Scheduler> scheduler;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    scheduler = std::move(impl_->scheduler);
  }
  // Running answers finish (or are cancelled after the grace), and their
  // handlers write the last events, before the socket closes.
  if (scheduler) scheduler->drain(grace);
  if (impl_->listener.joinable()) {
    impl_->http.stop();
    impl_->listener.join();
  }
  if (scheduler) {
    std::lock_guard lock(impl_->mutex);
    impl_->final_stats = scheduler->stats();
  }
  scheduler.reset();
}

engine::SchedulerStats LocalServer::stats() const { return impl_->stats(); }

std::map<int, int64_t> LocalServer::responses_by_status() const { return impl_->responses(); }

std::vector<RequestRecord> LocalServer::recent_requests() const { return impl_->requests.snapshot(); }

}  // namespace ql::server
