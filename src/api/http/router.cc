#include <sstream>

#include "oriel/api/http.h"
#include "oriel/common/log.h"

namespace oriel::api {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (out.size() > 1 && out.back().empty()) out.pop_back();  // one trailing slash
  return out;
}

bool match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
           std::map<std::string, std::string>& params) {
  if (pattern.size() != path.size()) return false;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const auto& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      if (path[i].empty()) return false;
      found[p.substr(1, p.size() - 2)] = path[i];
    } else if (p != path[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

}  // namespace

std::string Request::bearer_token() const {
  auto it = headers.find("authorization");
  if (it == headers.end()) return {};
  constexpr std::string_view kPrefix = "Bearer ";
  if (it->second.size() <= kPrefix.size() || it->second.compare(0, kPrefix.size(), kPrefix) != 0) return {};
  return it->second.substr(kPrefix.size());
}

Response Response::json(int status, const Json& body) {
  return {status, "application/json", body.dump(-1, ' ', false, Json::error_handler_t::replace), {}};
}

Response Response::error(const Error& e) {
  return json(http_status(e.code()), {{"error", {{"code", e.code_name()}, {"message", e.message()}}}});
}

Response Response::bytes(int status, std::string content_type, std::string body) {
  return {status, std::move(content_type), std::move(body), {}};
}

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
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

Result<std::string> percent_decode(std::string_view in, bool query) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+' && query) {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
        return Error::InvalidArgument("malformed percent-encoding in the URL");
      }
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  if (out.find('\0') != std::string::npos) return Error::InvalidArgument("NUL byte in the URL");
  return out;
}

void Router::add(std::string_view method, std::string_view pattern, Handler handler) {
  routes_.push_back({std::string(method), split_path(pattern), std::move(handler)});
}

Response Router::dispatch(Request& request) const {
  auto path = split_path(request.path);
  std::vector<std::string> allowed;
  for (const auto& route : routes_) {
    std::map<std::string, std::string> params;
    if (!match(route.segments, path, params)) continue;
    if (route.method != request.method) {
      allowed.push_back(route.method);
      continue;
    }
    request.params = std::move(params);
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: handler threw: {}", request.method, request.path, e.what());
      return Response::error(Error::Internal("internal error; see the orield log"));
    }
  }
  if (allowed.empty()) return Response::error(Error::NotFound("route", request.path));
  std::string allow;
  for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
  auto r = Response::json(405, {{"error", {{"code", "method_not_allowed"},
                                           {"message", fmt::format("{} is not allowed here; use {}", request.method, allow)}}}});
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace oriel::api
