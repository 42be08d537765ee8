#include "oriel/api/http.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "oriel/common/log.h"

namespace oriel::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

// Request line + headers → Request; the target's path and query are decoded.
Result<Request> to_request(const http::request<http::string_body>& msg, const std::string& remote) {
  Request req;
  req.method = std::string(msg.method_string());
  std::string_view target(msg.target().data(), msg.target().size());
  if (target.empty() || target[0] != '/') return Error::InvalidArgument("request target must be an absolute path");
  auto q = target.find('?');
  req.path = TRY(percent_decode(target.substr(0, q), false));
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      auto eq = pair.find('=');
      std::string key = TRY(percent_decode(pair.substr(0, eq), true));
      std::string value = eq == std::string_view::npos ? "" : TRY(percent_decode(pair.substr(eq + 1), true));
      if (!key.empty()) req.query[key] = value;
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
  }
  for (const auto& field : msg) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    req.headers[name] = std::string(field.value());
  }
  req.body = msg.body();
  req.remote_address = remote;
  return req;
}

http::response<http::string_body> to_message(const Response& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "orield");
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

Response parse_failure(const beast::error_code& ec) {
  if (ec == http::error::body_limit) {
    return Response::json(413, {{"error", {{"code", "too_large"}, {"message", "request body is too large"}}}});
  }
  if (ec == http::error::header_limit) {
    return Response::json(431, {{"error", {{"code", "too_large"}, {"message", "request headers are too large"}}}});
  }
  return Response::error(Error::InvalidArgument(fmt::format("malformed HTTP request: {}", ec.message())));
}

}  // namespace

// One connection: read, dispatch on the worker pool, write, until close.
class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer& server) : stream_(std::move(socket)), server_(server) {}

  asio::awaitable<void> run() {
    beast::error_code ec;
    std::string remote = stream_.socket().remote_endpoint(ec).address().to_string();
    beast::flat_buffer buffer;
    while (true) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(server_.limits_.max_body_bytes);
      parser.header_limit(static_cast<std::uint32_t>(server_.limits_.max_header_bytes));
      stream_.expires_after(server_.limits_.read_timeout);
      co_await http::async_read(stream_, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
        break;
      }
      if (ec) {  // malformed or oversize: answer, then close
        co_await write(parse_failure(ec), 11, false);
        break;
      }
      auto msg = parser.release();
      bool keep_alive = msg.keep_alive();
      auto started = std::chrono::steady_clock::now();
      Response res = co_await handle(msg, remote);
      spdlog::debug("{} {} {} {:.1f}ms", std::string(msg.method_string()), std::string(msg.target()), res.status,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
      if (!co_await write(res, msg.version(), keep_alive) || !keep_alive) break;
    }
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

 private:
  // Runs the handler on the worker pool and resumes here when it is done.
  // (A plain lambda and a timer as the wake-up: GCC 12 miscompiles coroutine
  // lambdas that capture non-trivial values.)
  asio::awaitable<Response> handle(const http::request<http::string_body>& msg, const std::string& remote) {
    auto req = to_request(msg, remote);
    if (!req.ok()) co_return Response::error(req.error());
    Response res;
    asio::steady_timer done(stream_.get_executor(), asio::steady_timer::time_point::max());
    asio::post(server_.workers_, [&] {
      res = server_.router_.dispatch(*req);
      asio::post(done.get_executor(), [&done] { done.cancel(); });
    });
    beast::error_code ec;
    co_await done.async_wait(asio::redirect_error(use_awaitable, ec));
    co_return res;
  }

  asio::awaitable<bool> write(const Response& r, unsigned version, bool keep_alive) {
    beast::error_code ec;
    auto msg = to_message(r, version, keep_alive);
    stream_.expires_after(server_.limits_.read_timeout);
    co_await http::async_write(stream_, msg, asio::redirect_error(use_awaitable, ec));
    co_return !ec;
  }

  beast::tcp_stream stream_;
  HttpServer& server_;
};

HttpServer::HttpServer(asio::io_context& io, const Router& router, size_t worker_threads, HttpLimits limits)
    : io_(io),
      router_(router),
      limits_(limits),
      workers_(worker_threads),
      acceptor_(io),
      connections_(std::make_shared<std::atomic<size_t>>(0)) {}

HttpServer::~HttpServer() { stop(); }

Result<uint16_t> HttpServer::listen(std::string_view host, uint16_t port) {
  beast::error_code ec;
  auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return Error::InvalidArgument(fmt::format("'{}' is not an IP address", host));
  tcp::endpoint endpoint(address, port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error::Unavailable(fmt::format("cannot listen on {}:{}: {}", host, port, ec.message()));
  accept_loop();
  return acceptor_.local_endpoint().port();
}

void HttpServer::accept_loop() {
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        while (acceptor_.is_open()) {
          beast::error_code ec;
          tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
          if (ec) {
            if (!acceptor_.is_open()) co_return;
            continue;
          }
          if (connections_->load() >= limits_.max_connections) continue;  // socket closes here
          auto session = std::make_shared<Session>(std::move(socket), *this);
          auto counter = connections_;
          ++*counter;
          // The lambda owns the session for the coroutine's whole life.
          asio::co_spawn(io_, [session]() { return session->run(); }, [counter](std::exception_ptr) { --*counter; });
        }
      },
      asio::detached);
}

void HttpServer::stop() {
  beast::error_code ec;
  acceptor_.close(ec);
  workers_.join();
}

}  // namespace oriel::api
