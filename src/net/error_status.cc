// Error codes to HTTP statuses: the one place the mapping lives.
#include "oriel/net/http.h"

namespace oriel::net {

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kUnprocessable: return 422;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kTimeout: return 504;
    case ErrorCode::kRateLimited: return 429;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

Response Response::error(const Error& e) {
  Response r = http_error(http_status(e.code()), e.code_name(), e.message());
  if (e.retry_after().count() > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after().count()));
  return r;
}

Response http_error(int status, std::string_view code, std::string_view message) {
  return Response::json(status, {{"error", {{"code", code}, {"message", message}}}});
}

}  // namespace oriel::net
