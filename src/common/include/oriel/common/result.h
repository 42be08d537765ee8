// Errors as values at module boundaries: Result<T> holds a value or an Error.
// Codes map to HTTP statuses in exactly one place (src/api/error_status.cc).
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace oriel {

enum class ErrorCode {
  kInvalidArgument,   // malformed input (400)
  kUnauthenticated,   // no or bad credentials (401)
  kPermissionDenied,  // authenticated but not allowed (403)
  kNotFound,          // no such object (404)
  kConflict,          // state forbids it now (409)
  kUnprocessable,     // well-formed but impossible (422)
  kUnavailable,       // no capacity or dependency down (503)
  kTimeout,           // a deadline passed (504)
  kRateLimited,       // too many requests from this client or for this account; retry later (429)
  kInternal,          // a broken invariant or an unexpected failure (500)
};

std::string_view error_code_name(ErrorCode code);

class [[nodiscard]] Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Error InvalidArgument(std::string message) { return {ErrorCode::kInvalidArgument, std::move(message)}; }
  static Error Unauthenticated(std::string message) { return {ErrorCode::kUnauthenticated, std::move(message)}; }
  static Error PermissionDenied(std::string message) { return {ErrorCode::kPermissionDenied, std::move(message)}; }
  static Error NotFound(std::string_view kind, std::string_view id) {
    return {ErrorCode::kNotFound, fmt::format("{} '{}' not found", kind, id)};
  }
  static Error Conflict(std::string message) { return {ErrorCode::kConflict, std::move(message)}; }
  static Error Unprocessable(std::string message) { return {ErrorCode::kUnprocessable, std::move(message)}; }
  static Error Unavailable(std::string message) { return {ErrorCode::kUnavailable, std::move(message)}; }
  static Error Timeout(std::string message) { return {ErrorCode::kTimeout, std::move(message)}; }
  static Error Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }
  // Refused for now: the client may try again after `retry_after`.
  static Error RateLimited(std::string message, std::chrono::seconds retry_after) {
    Error e{ErrorCode::kRateLimited, std::move(message)};
    e.retry_after_ = retry_after;
    return e;
  }

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string_view code_name() const { return error_code_name(code_); }
  // When a rate-limited request may be repeated (HTTP's Retry-After); zero otherwise.
  std::chrono::seconds retry_after() const { return retry_after_; }

  // Returns the same error with context prepended: "importing image: <message>".
  Error context(std::string_view what) const {
    Error e{code_, fmt::format("{}: {}", what, message_)};
    e.retry_after_ = retry_after_;
    return e;
  }

 private:
  ErrorCode code_;
  std::string message_;
  std::chrono::seconds retry_after_{0};
};

// Thrown by value() on a Result that holds an error: a caller that skipped
// ok() is a bug, and the message says which error it skipped.
class BadResultAccess : public std::logic_error {
 public:
  explicit BadResultAccess(const Error& e)
      : std::logic_error(fmt::format("value() of a failed result: {}: {}", e.code_name(), e.message())) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return expect_value(), std::get<0>(v_); }
  const T& value() const& { return expect_value(), std::get<0>(v_); }
  T&& value() && { return expect_value(), std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  void expect_value() const {
    if (!ok()) throw BadResultAccess(error());
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  void value() const {}
  const Error& error() const { return *error_; }
  Error&& take_error() { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

inline Result<void> Ok() { return {}; }

}  // namespace oriel

// Propagates an error: `auto x = TRY(f());` (GCC statement expression).
#define TRY(expr)                            \
  ({                                         \
    auto _oriel_try_result = (expr);         \
    if (!_oriel_try_result.ok()) {           \
      return _oriel_try_result.take_error(); \
    }                                        \
    std::move(_oriel_try_result).value();    \
  })

// Same for coroutines returning asio::awaitable<Result<T>>.
#define CO_TRY(expr)                            \
  ({                                            \
    auto _oriel_try_result = (expr);            \
    if (!_oriel_try_result.ok()) {              \
      co_return _oriel_try_result.take_error(); \
    }                                           \
    std::move(_oriel_try_result).value();       \
  })
