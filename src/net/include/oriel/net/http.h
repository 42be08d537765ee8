// The HTTP layer under the REST API, free of domain code: requests and
// responses, a router with {param} segments, and an HTTP/1.1 server on
// Boost.Beast. Connection I/O runs as coroutines on the caller's io_context;
// handlers are synchronous and run on a bounded worker pool, so a handler that
// waits for SQLite or a QMP reply never stalls other connections, and a slow
// client only ever costs a socket, never a worker.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/common/json.h"
#include "oriel/common/result.h"
#include "oriel/net/stream.h"

namespace oriel::net {

struct Request {
  std::string method;                          // "GET", "POST", ... as sent (methods are case-sensitive)
  std::string path;                            // percent-decoded, without the query
  std::map<std::string, std::string> query;    // decoded query parameters; a repeated key keeps its last value
  std::map<std::string, std::string> params;   // {name} segments, filled by the router
  std::map<std::string, std::string> headers;  // lower-case names; repeated fields joined with ", "
  std::string body;
  std::string remote_address;  // the peer's IP, for audit
  bool secure = false;         // arrived over TLS
  // A client certificate that the listener's client CA verified (mutual
  // TLS); empty common_name when there was none.
  struct Certificate {
    std::string common_name;
    std::string fingerprint;  // certificate_fingerprint()
  } client_certificate;
  // The token of "Authorization: Bearer X" (scheme case-insensitive, RFC 6750
  // §2.1); empty if there is none.
  std::string bearer_token() const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra fields, sent as given. Content-Type comes from content_type and
  // Content-Length is computed; a field with CR, LF or NUL makes the reply a 500.
  std::vector<std::pair<std::string, std::string>> headers;
  // The handler verified the caller's credentials. A connection earns the
  // long keep-alive idle time only by such a request; until then it has the
  // short HttpLimits::header_timeout to send each request.
  bool authenticated = false;

  static Response json(int status, const Json& body);
  // {"error":{"code":"not_found","message":...}} with the status of its code.
  static Response error(const Error& e);
  static Response bytes(int status, std::string content_type, std::string body);
};

// The one place error codes become HTTP statuses: InvalidArgument 400,
// Unauthenticated 401, PermissionDenied 403, NotFound 404, Conflict 409,
// Unprocessable 422, Unavailable 503, Timeout 504, Internal 500.
int http_status(ErrorCode code);

// An error body for a failure that has no ErrorCode (405, 413, 431):
// {"error":{"code": code, "message": message}} with the given status.
Response http_error(int status, std::string_view code, std::string_view message);

using Handler = std::function<Response(const Request&)>;

// Where a route's handler runs. kWorkers: the server's worker pool, shared by
// every route. kBounded: a small pool of its own with a bounded queue, for
// routes that anyone may call and that cost much (a login's argon2id): when
// that queue is full the server answers 429 at once, so a flood of them never
// takes a worker from the other routes. A kBounded route's body is also held
// to HttpLimits::max_unauthenticated_body_bytes.
enum class Lane { kWorkers, kBounded };

// An accepted WebSocket (RFC 6455) over the connection's stream, TLS or not.
using WebSocket = boost::beast::websocket::stream<Stream>;
// Takes over a connection once the server has completed the WebSocket
// handshake. Called on the io_context's thread; it must not block: it owns
// the socket from then on (its own coroutines, its own shutdown), and the
// HTTP server forgets the connection.
using WebSocketHandler = std::function<void(const Request&, WebSocket&&)>;

// Maps (method, path) to a handler. Patterns are literal segments and {name}
// segments ("/api/v1/desktops/{id}/actions/{action}"); a {name} matches one
// non-empty decoded segment and lands in Request::params. At one position a
// literal beats a {name}, whatever the order of add(). One trailing slash in a
// request path is tolerated ("/api/v1/hosts/" is "/api/v1/hosts"); empty
// segments elsewhere ("//") match nothing. HEAD is served by the GET handler
// unless a HEAD route exists (the server drops the body).
//
// Thread-safety: add() all routes first, then dispatch() from any threads.
class Router {
 public:
  // pattern starts with '/'. A second route with the same method and shape
  // is a programming error: std::invalid_argument.
  void add(std::string_view method, std::string_view pattern, Handler handler, Lane lane = Lane::kWorkers);
  // The lane of the route that would serve the request (kWorkers when none).
  Lane lane_for(const Request& request) const;

  // 404 JSON for an unknown path; 405 JSON with an Allow header when the path
  // exists for other methods. A handler that throws becomes a logged 500.
  Response dispatch(Request& request) const;

  // A WebSocket endpoint: a GET with "Upgrade: websocket" on a matching path
  // is handed to `handler` after the handshake. Other requests on the path
  // are routed as usual (404 unless add() has a route for them).
  void add_websocket(std::string_view pattern, WebSocketHandler handler);
  // The WebSocket handler for the request's path, with its {params} filled
  // in; null when there is none.
  const WebSocketHandler* websocket_for(Request& request) const;

  // What is registered, in order: for documentation and its tests.
  struct RouteInfo {
    std::string method;   // "GET" for a WebSocket
    std::string pattern;  // as given to add()
    bool websocket = false;
  };
  std::vector<RouteInfo> routes() const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{id}" kept verbatim for parameters
    std::string pattern;                // as registered: the metrics' route label
    Handler handler;
    Lane lane = Lane::kWorkers;
  };
  const Route* find(const Request& request, const std::vector<std::string>& path,
                    std::vector<std::string>& allowed) const;

  struct WebSocketRoute {
    std::vector<std::string> segments;
    WebSocketHandler handler;
  };

  std::vector<Route> routes_;
  std::vector<WebSocketRoute> websocket_routes_;
};

// A request target split and decoded (RFC 3986 §2.1 percent-encoding; '+' is
// a space only in the query). Origin-form "/p?q" and absolute-form
// "http://host/p?q" (RFC 7230 §5.3) are accepted. Malformed escapes, NUL bytes,
// decoded bytes that are not UTF-8, and an encoded '/' ("%2F", which would make
// a segment boundary ambiguous) are InvalidArgument errors (400).
struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};
Result<Target> parse_target(std::string_view target);

struct HttpLimits {
  size_t max_body_bytes = 1 << 20;     // larger bodies get 413
  size_t max_header_bytes = 16 << 10;  // request line + fields; larger get 431
  // A larger body is read only once its header's credentials are accepted
  // (HttpServer::check_credentials); a kBounded route's body may not be larger.
  size_t max_unauthenticated_body_bytes = 16 << 10;
  // Until a request on the connection has been authenticated: the time to
  // send a request's header, counted from the end of the previous answer (or
  // the connection's start).
  std::chrono::milliseconds header_timeout{5'000};
  std::chrono::milliseconds read_timeout{30'000};      // a body; the header and keep-alive idle time once authenticated
  std::chrono::milliseconds write_timeout{30'000};     // a client that does not read its reply is dropped
  std::chrono::milliseconds handshake_timeout{5'000};  // a TLS handshake
  // Open connections, WebSockets included, in all and from one client
  // address (an IPv6 client's /64). Beyond them a new connection is closed
  // at once. Trusted proxies (HttpServer::trust_proxies) have no per-address limit.
  size_t max_connections = 8192;
  size_t max_connections_per_address = 256;
  // The kBounded lane: its threads, and the requests that may wait for them.
  size_t bounded_threads = 2;
  size_t bounded_queue = 16;
};

class TlsServer;

// An HTTP/1.1 server with keep-alive. Each connection is a coroutine on the
// io_context: read a header, then the body, run the handler on the worker
// pool, write the reply. A malformed request gets a 400 JSON reply (413 for a
// large body, 431 for a large header) and the connection is closed after a
// short lingering drain, so the client can still read the reply.
//
// Ownership: the router must outlive the server; the server must be destroyed
// before the io_context. Threading: meant for an io_context run on one
// thread. listen(), stop() and the destructor must be called on that thread
// or while the io_context is not running (like any Asio I/O object); handlers
// run on the workers.
class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, const Router& router, size_t worker_threads, HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves HTTPS and WSS with the certificate `tls` holds now, whatever it
  // holds when each connection starts (TlsServer::reload). Call before
  // listen(). Every answer then carries Strict-Transport-Security.
  void use_tls(std::shared_ptr<TlsServer> tls);
  // Reverse proxies (CIDRs or addresses) whose X-Forwarded-For names the
  // client (Request::remote_address) and whose X-Forwarded-Proto says
  // whether it came over TLS (Request::secure). Call before listen().
  Result<void> trust_proxies(const std::vector<std::string>& networks);
  // Browsers' cross-origin calls. A request or WebSocket upgrade with an
  // Origin header is served only when the origin is the server's own (the
  // scheme and the Host it was reached at) or one of `origins`
  // ("https://oriel.example.com"); others get 403, so a page elsewhere can
  // neither call the API nor drive a user's WebSockets. Call before listen().
  void allow_origins(std::vector<std::string> origins);
  // Whether a request's header carries credentials the server accepts. When
  // set, a body larger than HttpLimits::max_unauthenticated_body_bytes is read
  // only after `check` (run on the workers) accepts its header; otherwise the
  // request gets 401 and its body is never read. Call before listen().
  void check_credentials(std::function<bool(const Request&)> check);

  // Binds host (an IP address) and starts accepting; port 0 picks a free
  // port. Returns the bound port.
  Result<uint16_t> listen(std::string_view host, uint16_t port);

  // Stops accepting, closes every connection and waits for handlers already
  // running (their replies are dropped). Idempotent; a stopped server does
  // not start again.
  void stop();

  // Open connections now, upgraded WebSockets included; thread-safe.
  size_t connection_count() const;

 private:
  struct State;
  class Session;

  boost::asio::io_context& io_;
  boost::asio::thread_pool workers_;
  boost::asio::thread_pool bounded_;  // Lane::kBounded
  // The acceptor, the limits and the live sessions: shared with the
  // coroutines, which may outlive the server inside a stopped io_context.
  std::shared_ptr<State> state_;
};

}  // namespace oriel::net
