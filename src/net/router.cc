// Route matching: segment by segment, literal before {param}.
#include <algorithm>
#include <set>
#include <stdexcept>

#include "oriel/common/log.h"
#include "oriel/common/log_context.h"
#include "oriel/common/metrics.h"
#include "oriel/net/http.h"

namespace oriel::net {
namespace {

// "/a/b/" → {"a", "b"}: one trailing slash is dropped; "/" → {""}.
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = std::min(path.find('/', start), path.size());
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  if (out.size() > 1 && out.back().empty()) out.pop_back();
  return out;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& path) {
  if (pattern.size() != path.size()) return false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (is_param(pattern[i]) ? path[i].empty() : pattern[i] != path[i]) return false;
  }
  return true;
}

// True if a is more specific than b: at the first position where one has a
// literal and the other a parameter, a has the literal.
void fill_params(Request& request, const std::vector<std::string>& pattern, const std::vector<std::string>& path) {
  request.params.clear();
  for (size_t i = 0; i < path.size(); ++i) {
    if (is_param(pattern[i])) request.params[pattern[i].substr(1, pattern[i].size() - 2)] = path[i];
  }
}

bool more_specific(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (is_param(a[i]) != is_param(b[i])) return !is_param(a[i]);
  }
  return false;
}

bool same_shape(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (is_param(a[i]) != is_param(b[i]) || (!is_param(a[i]) && a[i] != b[i])) return false;
  }
  return true;
}

Response method_not_allowed(const Request& request, const std::vector<std::string>& allowed) {
  std::set<std::string> methods(allowed.begin(), allowed.end());
  if (methods.count("GET")) methods.insert("HEAD");
  std::string allow;
  for (const auto& m : methods) allow += (allow.empty() ? "" : ", ") + m;
  auto r = http_error(405, "method_not_allowed",
                      fmt::format("{} is not allowed on {}; use {}", request.method, request.path, allow));
  r.headers.emplace_back("Allow", allow);
  return r;
}

std::string pattern_of(const std::vector<std::string>& segments) {
  std::string p;
  for (const auto& s : segments) p += "/" + s;
  return p.empty() ? std::string("/") : p;
}

// Requests by route (the pattern, never the path: ids would make a series
// each), method and status, and their time in the handler.
void count(const Request& request, const std::string& route, int status, std::chrono::steady_clock::time_point start) {
  static auto& requests = metrics::counter("oriel_http_requests_total", "HTTP requests answered, by route and status");
  static auto& seconds = metrics::histogram("oriel_http_request_duration_seconds", "Time in the handler, by route");
  static const std::set<std::string, std::less<>> kMethods = {"GET",   "HEAD",   "POST",   "PUT",
                                                              "PATCH", "DELETE", "OPTIONS"};
  std::string method = kMethods.contains(request.method) ? request.method : "other";  // the client's to choose
  requests.Add({{"method", method}, {"route", route}, {"status", std::to_string(status)}}).Increment();
  seconds.Add({{"method", method}, {"route", route}}, metrics::seconds_buckets())
      .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace

void Router::add(std::string_view method, std::string_view pattern, Handler handler, Lane lane) {
  if (method.empty() || pattern.empty() || pattern[0] != '/') {
    throw std::invalid_argument(fmt::format("bad route '{} {}'", method, pattern));
  }
  auto segments = split_path(pattern);
  std::string canonical = pattern_of(segments);
  Route route{std::string(method), std::move(segments), std::move(canonical), std::move(handler), lane};
  for (const auto& other : routes_) {
    if (other.method == route.method && same_shape(other.segments, route.segments)) {
      throw std::invalid_argument(fmt::format("route '{} {}' is registered twice", method, pattern));
    }
  }
  routes_.push_back(std::move(route));
}

std::vector<Router::RouteInfo> Router::routes() const {
  std::vector<RouteInfo> out;
  for (const auto& r : routes_) out.push_back({r.method, r.pattern});
  for (const auto& r : websocket_routes_) out.push_back({"GET", pattern_of(r.segments), true});
  return out;
}

const Router::Route* Router::find(const Request& request, const std::vector<std::string>& path,
                                  std::vector<std::string>& allowed) const {
  const Route* best = nullptr;
  const Route* get_for_head = nullptr;
  for (const auto& route : routes_) {
    if (!matches(route.segments, path)) continue;
    if (route.method == request.method) {
      if (!best || more_specific(route.segments, best->segments)) best = &route;
    } else if (request.method == "HEAD" && route.method == "GET") {
      if (!get_for_head || more_specific(route.segments, get_for_head->segments)) get_for_head = &route;
    } else {
      allowed.push_back(route.method);
    }
  }
  return best ? best : get_for_head;
}

Lane Router::lane_for(const Request& request) const {
  std::vector<std::string> allowed;
  const Route* route = find(request, split_path(request.path), allowed);
  return route == nullptr ? Lane::kWorkers : route->lane;
}

Response Router::dispatch(Request& request) const {
  // The request's id: the client's (a proxy's) when it is usable, else a
  // new one. Every log line of its handling carries it, and the answer says it.
  auto given = request.headers.find("x-request-id");
  std::string id = given != request.headers.end() && valid_request_id(given->second) ? given->second : new_request_id();
  RequestIdScope scope(id);
  Response answer = [&]() -> Response {
    auto start = std::chrono::steady_clock::now();
    auto path = split_path(request.path);
    std::vector<std::string> allowed;
    const Route* route = find(request, path, allowed);
    if (route == nullptr) {
      Response r = allowed.empty() ? Response::error(Error::NotFound("route", request.path))
                                   : method_not_allowed(request, allowed);
      count(request, "unmatched", r.status, start);
      return r;
    }
    fill_params(request, route->segments, path);
    try {
      Response r = route->handler(request);
      count(request, route->pattern, r.status, start);
      return r;
    } catch (const std::exception& e) {
      spdlog::error("{} {}: the handler threw: {}", request.method, request.path, e.what());
    } catch (...) {
      spdlog::error("{} {}: the handler threw a non-standard exception", request.method, request.path);
    }
    Response failed = Response::error(Error::Internal("internal error; see the server log"));
    count(request, route->pattern, failed.status, start);
    return failed;
  }();
  answer.headers.emplace_back("X-Request-Id", std::move(id));
  return answer;
}

void Router::add_websocket(std::string_view pattern, WebSocketHandler handler) {
  if (pattern.empty() || pattern[0] != '/') throw std::invalid_argument(fmt::format("bad route '{}'", pattern));
  auto segments = split_path(pattern);
  for (const auto& other : websocket_routes_) {
    if (same_shape(other.segments, segments)) {
      throw std::invalid_argument(fmt::format("WebSocket route '{}' is registered twice", pattern));
    }
  }
  websocket_routes_.push_back({std::move(segments), std::move(handler)});
}

const WebSocketHandler* Router::websocket_for(Request& request) const {
  auto path = split_path(request.path);
  const WebSocketRoute* best = nullptr;
  for (const auto& route : websocket_routes_) {
    if (matches(route.segments, path) && (!best || more_specific(route.segments, best->segments))) best = &route;
  }
  if (!best) return nullptr;
  fill_params(request, best->segments, path);
  return &best->handler;
}

}  // namespace oriel::net
