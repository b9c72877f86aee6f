// Status and Result<T>: how every expected failure travels in Quarry.
//
// Contract: functions that can fail for reasons a caller or user can act on return Status or
// Result<T>; exceptions are reserved for programming errors and are caught at the process and
// request boundaries (see docs/architecture.md, "Error policy"). A Status carries
//   - an ErrorCode (the category; the HTTP layer maps it to a status code),
//   - a stable machine-readable `code` string (part of the public API, never renamed),
//   - a human message that says what was wrong and how to fix it,
//   - optional details (string key/value pairs, safe to show to the caller).
// Thread-safety: value types, no shared state.
#pragma once

#include <cassert>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace quarry {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,     // 400: the request is malformed or a value is out of range
  kUnauthenticated,     // 401: no valid credentials
  kPermissionDenied,    // 403: authenticated but not allowed
  kNotFound,            // 404: does not exist, or exists in a tenant the caller cannot see
  kAlreadyExists,       // 409: a unique name is taken
  kFailedPrecondition,  // 409: the object is in the wrong state for this operation
  kMethodNotAllowed,    // 405
  kPayloadTooLarge,     // 413
  kHeadersTooLarge,     // 431
  kUnsupportedMediaType,  // 415: the body's Content-Type is not one this route takes
  kPreconditionFailed,    // 412: a protocol precondition header (e.g. Tus-Resumable) is wrong
  kResourceExhausted,   // 429: a quota or rate limit
  kUnavailable,         // 503: a dependency (store, disk) is not reachable right now
  kInternal,            // 500: a bug or an unexpected environment failure
};

// Default HTTP status for an error category.
int HttpStatusFor(ErrorCode code);
// Short stable title for an error category ("Not Found", ...), used in problem+json.
const char* TitleFor(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode category, std::string code, std::string message,
         std::map<std::string, std::string> details = {})
      : category_(category), code_(std::move(code)), message_(std::move(message)),
        details_(std::move(details)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return category_ == ErrorCode::kOk; }
  ErrorCode category() const { return category_; }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::map<std::string, std::string>& details() const { return details_; }

  Status& WithDetail(std::string key, std::string value) & {
    details_[std::move(key)] = std::move(value);
    return *this;
  }
  Status&& WithDetail(std::string key, std::string value) && {
    details_[std::move(key)] = std::move(value);
    return std::move(*this);
  }

  // "code: message" for logs.
  std::string ToString() const;

 private:
  ErrorCode category_ = ErrorCode::kOk;
  std::string code_;
  std::string message_;
  std::map<std::string, std::string> details_;
};

// Convenience constructors; `code` is the stable machine code.
Status InvalidArgument(std::string code, std::string message);
Status NotFound(std::string code, std::string message);
Status AlreadyExists(std::string code, std::string message);
Status PermissionDenied(std::string code, std::string message);
Status Unauthenticated(std::string code, std::string message);
Status FailedPrecondition(std::string code, std::string message);
Status Unavailable(std::string code, std::string message);
Status Internal(std::string code, std::string message);

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : value_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(value_).ok() && "Result constructed from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return ok(); }

  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace quarry

// Early-return helpers: keep call sites flat.
#define QUARRY_RETURN_IF_ERROR(expr)           \
  do {                                         \
    ::quarry::Status quarry_status_ = (expr);  \
    if (!quarry_status_.ok()) return quarry_status_; \
  } while (0)

#define QUARRY_CONCAT_INNER(a, b) a##b
#define QUARRY_CONCAT(a, b) QUARRY_CONCAT_INNER(a, b)
#define QUARRY_ASSIGN_OR_RETURN(lhs, expr) \
  QUARRY_ASSIGN_OR_RETURN_IMPL(QUARRY_CONCAT(quarry_result_, __LINE__), lhs, expr)
#define QUARRY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
