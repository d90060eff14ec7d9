#pragma once
// Result<T>: a value or an Error whose message names the file, tensor, field
// or value at fault. Core never lets an exception cross its API
// (docs/architecture.md §7); functions that can fail on user input return Result.
#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace ql {

// kInput: the user's file, argument or data is at fault (CLI exit code 2).
// kInternal: anything else, e.g. out of memory or an I/O failure (exit 1).
enum class ErrorKind { kInput, kInternal };

// What went wrong, for the few callers that act on it (the server's error
// codes); most errors say it only in their message.
enum class ErrorReason { kUnspecified, kPromptTooLong };

struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::kInput;
  ErrorReason reason = ErrorReason::kUnspecified;
};

// Formats an Error in one call: return err("{}: truncated", path);
template <typename... Args>
Error err(fmt::format_string<Args...> f, Args&&... args) {
  return Error{fmt::format(f, std::forward<Args>(args)...), ErrorKind::kInput};
}

template <typename... Args>
Error internal_err(fmt::format_string<Args...> f, Args&&... args) {
  return Error{fmt::format(f, std::forward<Args>(args)...), ErrorKind::kInternal};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  const std::string& message() const { return error().message; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return e_; }
  const std::string& message() const { return e_.message; }

 private:
  Error e_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace ql

// Propagates an error from an expression returning Result/Status.
#define QL_TRY(expr)                          \
  do {                                        \
    auto&& ql_try_r_ = (expr);                \
    if (!ql_try_r_.ok()) return ql_try_r_.error(); \
  } while (0)

// Evaluates a Result-returning expression: returns its Error from the calling
// function, else assigns the value to lhs (which may be a declaration).
#define QL_ASSIGN_CONCAT_INNER_(a, b) a##b
#define QL_ASSIGN_CONCAT_(a, b) QL_ASSIGN_CONCAT_INNER_(a, b)
#define QL_ASSIGN_OR_RETURN(lhs, expr) \
  QL_ASSIGN_OR_RETURN_IMPL_(QL_ASSIGN_CONCAT_(ql_assign_r_, __LINE__), lhs, expr)
#define QL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.error();              \
  lhs = std::move(tmp).value()
