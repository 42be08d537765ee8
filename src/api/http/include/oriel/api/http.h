// The HTTP layer under the REST API (no domain code): requests and
// responses, a router with {param} segments, and a Boost.Beast HTTP/1.1
// server. Connection I/O runs as coroutines on the caller's io_context;
// handlers are synchronous and run on a bounded worker pool, so a handler
// that waits for SQLite or QMP never stalls other connections.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "oriel/common/json.h"
#include "oriel/common/result.h"

namespace oriel::api {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // percent-decoded, without the query
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> params;   // {name} segments, filled by the router
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote_address;                  // the peer's IP, for audit
  std::string bearer_token() const;            // from "Authorization: Bearer X"; empty if none
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Response json(int status, const Json& body);
  static Response error(const Error& e);  // {"error":{"code","message"}} with the status of its code
  static Response bytes(int status, std::string content_type, std::string body);
};

// The one place error codes become HTTP statuses.
int http_status(ErrorCode code);

using Handler = std::function<Response(const Request&)>;

// Matches "/api/v1/desktops/{id}/actions/{action}"-style patterns segment by
// segment. One trailing slash in a request path is ignored. Thread-safe for
// dispatch once all routes are added.
class Router {
 public:
  void add(std::string_view method, std::string_view pattern, Handler handler);
  // 404 for an unknown path; 405 with an Allow header when the path exists
  // for other methods; a handler's exception becomes a logged 500.
  Response dispatch(Request& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct HttpLimits {
  size_t max_body_bytes = 1 << 20;                    // larger bodies get 413
  size_t max_header_bytes = 16 << 10;                 // larger headers get 431
  std::chrono::milliseconds read_timeout{30000};      // an idle or slow client is dropped
  size_t max_connections = 1024;                      // further connections are closed at once
};

// Percent-decodes a path or query component; '+' is a space only in queries.
// Malformed escapes and NUL bytes are errors.
Result<std::string> percent_decode(std::string_view in, bool query);

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, const Router& router, size_t worker_threads, HttpLimits limits = {});
  ~HttpServer();

  // Binds and starts accepting; port 0 picks a free port. Returns the port.
  Result<uint16_t> listen(std::string_view host, uint16_t port);
  // Stops accepting and waits for running handlers; open connections end
  // with the io_context. Safe to call more than once.
  void stop();

 private:
  class Session;
  void accept_loop();

  boost::asio::io_context& io_;
  const Router& router_;
  HttpLimits limits_;
  boost::asio::thread_pool workers_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<std::atomic<size_t>> connections_;
};

}  // namespace oriel::api
