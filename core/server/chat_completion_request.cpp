#include "core/server/chat_completion_request.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "core/server/base64.h"

namespace ql::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Thrown inside the parser only, caught at its top: a field check three
// levels down can then stop the parse in one line.
struct Refusal {
  ApiError error;
};

[[noreturn]] void refuse(const std::string& param, const std::string& message, const std::string& code = {}) {
  throw Refusal{invalid_field(param, fmt::format("{}: {}", param, message), code)};
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::discarded: return "invalid";
    default: return "a number";
  }
}

double number_in(const json& j, const std::string& param, double lo, double hi, bool lo_open = false) {
  if (!j.is_number()) refuse(param, fmt::format("must be a number, not {}", type_name(j)), "invalid_type");
  const double v = j.get<double>();
  if (!std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo))
    refuse(param, fmt::format("{} is outside {}{}, {}]", v, lo_open ? "(" : "[", lo, hi), "invalid_value");
  return v;
}

int64_t integer_in(const json& j, const std::string& param, int64_t lo, int64_t hi) {
  if (!j.is_number_integer()) refuse(param, fmt::format("must be an integer, not {}", type_name(j)), "invalid_type");
  if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(hi))
    refuse(param, fmt::format("{} is more than {}", j.get<uint64_t>(), hi), "invalid_value");
  const int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) refuse(param, fmt::format("{} is outside [{}, {}]", v, lo, hi), "invalid_value");
  return v;
}

bool boolean(const json& j, const std::string& param) {
  if (!j.is_boolean()) refuse(param, fmt::format("must be true or false, not {}", type_name(j)), "invalid_type");
  return j.get<bool>();
}

const std::string& string_of(const json& j, const std::string& param) {
  if (!j.is_string()) refuse(param, fmt::format("must be a string, not {}", type_name(j)), "invalid_type");
  return j.get_ref<const std::string&>();
}

engine::Role role_of(const json& j, const std::string& param) {
  const std::string& r = string_of(j, param);
  if (r == "system" || r == "developer") return engine::Role::kSystem;
  if (r == "user") return engine::Role::kUser;
  if (r == "assistant") return engine::Role::kAssistant;
  refuse(param, fmt::format("role \"{}\" is not supported (system, developer, user or assistant)", r),
         "unsupported_role");
}

bool inside(const fs::path& p, const fs::path& dir) {
  auto d = dir.begin(), q = p.begin();
  for (; d != dir.end(); ++d, ++q) {
    if (d->empty()) continue;
    if (q == p.end() || *q != *d) return false;
  }
  return true;
}

ImagePart image_of(const json& part, const std::string& param, const RequestPolicy& policy) {
  const std::string p = param + ".image_url";
  if (!part.contains("image_url")) refuse(p, "is missing", "missing_field");
  const json& iu = part["image_url"];
  // {"url": ...} per the API; a bare string is accepted as some clients send it.
  const json& url_json = iu.is_object() ? (iu.contains("url") ? iu["url"] : json()) : iu;
  const std::string& url = string_of(url_json, p + ".url");
  ImagePart im;
  im.param = param;
  if (url.rfind("data:", 0) == 0) {
    const size_t comma = url.find(',');
    if (comma == std::string::npos) refuse(p + ".url", "a data URL needs a ',' before its data", "invalid_image");
    const std::string head = url.substr(5, comma - 5);  // "image/png;base64"
    const size_t semi = head.find(';');
    im.mime = head.substr(0, semi);
    if (im.mime.rfind("image/", 0) != 0)
      refuse(p + ".url", fmt::format("a data URL of type \"{}\" is not an image", im.mime), "invalid_image");
    if (semi == std::string::npos || head.substr(semi + 1) != "base64")
      refuse(p + ".url", "only base64 data URLs are read (data:image/png;base64,...)", "invalid_image");
    std::string why;
    auto bytes = decode_base64(std::string_view(url).substr(comma + 1), &why);
    if (!bytes) refuse(p + ".url", "the image data is not valid base64: " + why, "invalid_image");
    if (bytes->empty()) refuse(p + ".url", "the image data is empty", "invalid_image");
    im.bytes = std::move(*bytes);
    return im;
  }
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0)
    refuse(p + ".url",
           "the server fetches nothing from the network; send the image as a data URL (data:image/png;base64,...)",
           "unsupported_image_url");
  // A local file: file:///abs/path or a plain path.
  std::string path = url.rfind("file://", 0) == 0 ? url.substr(7) : url;
  if (policy.allow_files_dir.empty())
    refuse(p + ".url", "local image files are read only when the server was started with --allow-files DIR",
           "files_not_allowed");
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(policy.allow_files_dir, ec);
  fs::path file = fs::path(path).is_absolute() ? fs::path(path) : dir / path;
  file = fs::weakly_canonical(file, ec);
  if (ec || !inside(file, dir))
    refuse(p + ".url", fmt::format("{} is outside the folder the server may read ({})", path, dir.string()),
           "file_not_allowed");
  im.file = file.string();
  return im;
}

std::vector<ContentPart> content_of(const json& c, const std::string& param, const RequestPolicy& policy,
                                    size_t& images) {
  std::vector<ContentPart> parts;
  if (c.is_string()) {
    parts.emplace_back(c.get<std::string>());
    return parts;
  }
  if (c.is_null()) return parts;  // an assistant turn without text
  if (!c.is_array())
    refuse(param, fmt::format("must be a string or an array of parts, not {}", type_name(c)), "invalid_type");
  for (size_t i = 0; i < c.size(); ++i) {
    const std::string p = fmt::format("{}[{}]", param, i);
    const json& part = c[i];
    if (!part.is_object()) refuse(p, fmt::format("must be an object, not {}", type_name(part)), "invalid_type");
    if (!part.contains("type")) refuse(p + ".type", "is missing", "missing_field");
    const std::string& type = string_of(part["type"], p + ".type");
    if (type == "text") {
      if (!part.contains("text")) refuse(p + ".text", "is missing", "missing_field");
      parts.emplace_back(string_of(part["text"], p + ".text"));
    } else if (type == "image_url") {
      if (++images > policy.max_images)
        refuse(p, fmt::format("more than {} images in one request", policy.max_images), "too_many_images");
      parts.emplace_back(image_of(part, p, policy));
    } else {
      refuse(p + ".type", fmt::format("part type \"{}\" is not supported (text or image_url)", type),
             "unsupported_content");
    }
  }
  return parts;
}

// Fields of the API this server does not implement: refused when set to
// anything but their "off" value, so a client never silently gets less
// than it asked for.
void refuse_unsupported(const json& body) {
  if (body.contains("n") && integer_in(body["n"], "n", 1, std::numeric_limits<int32_t>::max()) != 1)
    refuse("n", "only one choice per request is generated (n = 1)", "unsupported_value");
  if (body.contains("frequency_penalty") && number_in(body["frequency_penalty"], "frequency_penalty", -2, 2) != 0)
    refuse("frequency_penalty", "is not supported; use presence_penalty or repetition_penalty", "unsupported_value");
  if (body.contains("logprobs") && !body["logprobs"].is_null() && boolean(body["logprobs"], "logprobs"))
    refuse("logprobs", "log probabilities are not returned", "unsupported_value");
  for (const char* f : {"tools", "functions"})
    if (body.contains(f) && !body[f].is_null() && !(body[f].is_array() && body[f].empty()))
      refuse(f, "tool and function calling is not supported", "unsupported_value");
  if (body.contains("response_format") && !body["response_format"].is_null()) {
    const json& rf = body["response_format"];
    if (!rf.is_object() || !rf.contains("type") || rf["type"] != "text")
      refuse("response_format", "only {\"type\": \"text\"} is supported", "unsupported_value");
  }
}

ChatCompletionRequest parse(const json& body, const RequestPolicy& policy) {
  if (!body.is_object()) refuse("body", fmt::format("must be a JSON object, not {}", type_name(body)), "invalid_type");
  ChatCompletionRequest r;
  if (!body.contains("model")) refuse("model", "is missing", "missing_field");
  r.model = string_of(body["model"], "model");
  if (!body.contains("messages")) refuse("messages", "is missing", "missing_field");
  const json& messages = body["messages"];
  if (!messages.is_array()) refuse("messages", fmt::format("must be an array, not {}", type_name(messages)), "invalid_type");
  if (messages.empty()) refuse("messages", "is empty: give at least one message", "invalid_value");
  size_t images = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string p = fmt::format("messages[{}]", i);
    const json& m = messages[i];
    if (!m.is_object()) refuse(p, fmt::format("must be an object, not {}", type_name(m)), "invalid_type");
    if (!m.contains("role")) refuse(p + ".role", "is missing", "missing_field");
    ChatMessageIn in;
    in.role = role_of(m["role"], p + ".role");
    if (!m.contains("content")) refuse(p + ".content", "is missing", "missing_field");
    in.parts = content_of(m["content"], p + ".content", policy, images);
    if (in.role != engine::Role::kUser)
      for (size_t k = 0; k < in.parts.size(); ++k)
        if (std::holds_alternative<ImagePart>(in.parts[k]))
          refuse(fmt::format("{}.content[{}]", p, k), "only user messages may hold images", "invalid_value");
    r.messages.push_back(std::move(in));
  }
  if (r.messages.back().role == engine::Role::kAssistant)
    refuse("messages", "the last message is the assistant's; end with a user message to answer", "invalid_value");

  refuse_unsupported(body);
  // max_completion_tokens is the current name; max_tokens the older one.
  for (const char* f : {"max_tokens", "max_completion_tokens"})
    if (body.contains(f) && !body[f].is_null()) r.max_tokens = integer_in(body[f], f, 1, 1 << 24);
  auto opt = [&](const char* f) -> const json* { return body.contains(f) && !body[f].is_null() ? &body[f] : nullptr; };
  if (auto* v = opt("temperature")) r.sampling.temperature = number_in(*v, "temperature", 0, 2);
  if (auto* v = opt("top_p")) r.sampling.top_p = number_in(*v, "top_p", 0, 1, /*lo_open=*/true);
  if (auto* v = opt("top_k")) r.sampling.top_k = integer_in(*v, "top_k", 0, 1 << 20);
  if (auto* v = opt("min_p")) r.sampling.min_p = number_in(*v, "min_p", 0, 1);
  if (auto* v = opt("presence_penalty")) r.sampling.presence_penalty = number_in(*v, "presence_penalty", -2, 2);
  if (auto* v = opt("repetition_penalty"))
    r.sampling.repetition_penalty = number_in(*v, "repetition_penalty", 0, 10, /*lo_open=*/true);
  if (auto* v = opt("seed")) {
    if (!v->is_number_integer()) refuse("seed", fmt::format("must be an integer, not {}", type_name(*v)), "invalid_type");
    if (v->is_number_unsigned()) {
      r.sampling.seed = v->get<uint64_t>();
    } else {
      const int64_t s = v->get<int64_t>();
      if (s < 0) refuse("seed", fmt::format("{} is negative; give 0 to 18446744073709551615", s), "invalid_value");
      r.sampling.seed = static_cast<uint64_t>(s);
    }
  }
  if (auto* v = opt("stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > 4) refuse("stop", fmt::format("{} stop sequences; at most 4", v->size()), "invalid_value");
      for (size_t i = 0; i < v->size(); ++i) r.stop.push_back(string_of((*v)[i], fmt::format("stop[{}]", i)));
    } else {
      refuse("stop", fmt::format("must be a string or an array of strings, not {}", type_name(*v)), "invalid_type");
    }
    for (size_t i = 0; i < r.stop.size(); ++i)
      if (r.stop[i].empty()) refuse(fmt::format("stop[{}]", i), "is empty", "invalid_value");
  }
  if (auto* v = opt("stream")) r.stream = boolean(*v, "stream");
  if (auto* v = opt("stream_options")) {
    if (!v->is_object()) refuse("stream_options", fmt::format("must be an object, not {}", type_name(*v)), "invalid_type");
    if (!r.stream) refuse("stream_options", "applies only when stream is true", "invalid_value");
    if (v->contains("include_usage")) r.include_usage = boolean((*v)["include_usage"], "stream_options.include_usage");
  }
  return r;
}

}  // namespace

std::variant<ChatCompletionRequest, ApiError> parse_chat_completion(std::string_view body,
                                                                     const RequestPolicy& policy) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_field("body", "the request body is not valid JSON", "invalid_json");
  try {
    return parse(j, policy);
  } catch (const Refusal& r) {
    return r.error;
  } catch (const std::bad_alloc&) {
    ApiError e;
    e.status = 413;
    e.message = "the request is too large to hold in memory";
    return e;
  }
}

}  // namespace ql::server
