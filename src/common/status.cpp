#include "common/status.h"

namespace quarry {

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return 200;
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists: return 409;
    case ErrorCode::kFailedPrecondition: return 409;
    case ErrorCode::kMethodNotAllowed: return 405;
    case ErrorCode::kPayloadTooLarge: return 413;
    case ErrorCode::kHeadersTooLarge: return 431;
    case ErrorCode::kUnsupportedMediaType: return 415;
    case ErrorCode::kPreconditionFailed: return 412;
    case ErrorCode::kResourceExhausted: return 429;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

const char* TitleFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArgument: return "Bad Request";
    case ErrorCode::kUnauthenticated: return "Unauthorized";
    case ErrorCode::kPermissionDenied: return "Forbidden";
    case ErrorCode::kNotFound: return "Not Found";
    case ErrorCode::kAlreadyExists: return "Conflict";
    case ErrorCode::kFailedPrecondition: return "Conflict";
    case ErrorCode::kMethodNotAllowed: return "Method Not Allowed";
    case ErrorCode::kPayloadTooLarge: return "Content Too Large";
    case ErrorCode::kHeadersTooLarge: return "Request Header Fields Too Large";
    case ErrorCode::kUnsupportedMediaType: return "Unsupported Media Type";
    case ErrorCode::kPreconditionFailed: return "Precondition Failed";
    case ErrorCode::kResourceExhausted: return "Too Many Requests";
    case ErrorCode::kUnavailable: return "Service Unavailable";
    case ErrorCode::kInternal: return "Internal Server Error";
  }
  return "Internal Server Error";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return code_ + ": " + message_;
}

Status InvalidArgument(std::string code, std::string message) {
  return {ErrorCode::kInvalidArgument, std::move(code), std::move(message)};
}
Status NotFound(std::string code, std::string message) {
  return {ErrorCode::kNotFound, std::move(code), std::move(message)};
}
Status AlreadyExists(std::string code, std::string message) {
  return {ErrorCode::kAlreadyExists, std::move(code), std::move(message)};
}
Status PermissionDenied(std::string code, std::string message) {
  return {ErrorCode::kPermissionDenied, std::move(code), std::move(message)};
}
Status Unauthenticated(std::string code, std::string message) {
  return {ErrorCode::kUnauthenticated, std::move(code), std::move(message)};
}
Status FailedPrecondition(std::string code, std::string message) {
  return {ErrorCode::kFailedPrecondition, std::move(code), std::move(message)};
}
Status Unavailable(std::string code, std::string message) {
  return {ErrorCode::kUnavailable, std::move(code), std::move(message)};
}
Status Internal(std::string code, std::string message) {
  return {ErrorCode::kInternal, std::move(code), std::move(message)};
}

}  // namespace quarry
