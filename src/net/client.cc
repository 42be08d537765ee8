// The REST client: HTTP/1.1 (RFC 9112) over one keep-alive connection.
//
// Beast's tcp_stream enforces timeouts only on asynchronous operations, so
// each step (connect, write, read) is started asynchronously and the private
// io_context is run until it completes: synchronous to the caller, bounded
// by the timeout.
#include "oriel/net/client.h"

#include "oriel/net/tls.h"  // first of the Asio users: it includes <utility> before Asio

#include <poll.h>

#include <algorithm>
#include <array>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "oriel/common/log_context.h"

namespace oriel::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr uint64_t kMaxBodyBytes = uint64_t{256} << 20;

// RFC 9110 §5.6.2 token characters, for the method.
bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Result<void> check_request_line(std::string_view method, std::string_view path, std::string_view token) {
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar)) {
    return Error::InvalidArgument(fmt::format("'{}' is not an HTTP method", method));
  }
  if (path.empty() || path.front() != '/' || !is_visible_ascii(path)) {
    return Error::InvalidArgument("request path must start with '/' and contain no spaces or control characters");
  }
  if (!is_visible_ascii(token)) return Error::InvalidArgument("the token contains characters not allowed in HTTP");
  return Ok();
}

// Requests that may be sent twice without changing the outcome (RFC 9110 §9.2.2).
bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS";
}

std::string seconds_text(std::chrono::milliseconds t) { return fmt::format("{:g} s", t.count() / 1000.0); }

std::string string_field(const Json& obj, std::string_view name) {
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The start of a body for an error message: one line of printable text.
std::string snippet(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 160)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// An answer outside 2xx as an Error: the API's {"error":{"code","message"}}
// when it is there, otherwise the HTTP status and the start of the body.
Error error_from_response(const RawResponse& res) {
  auto parsed = parse_json(res.body);
  if (parsed.ok() && parsed->is_object()) {
    auto it = parsed->find("error");
    if (it != parsed->end() && it->is_object()) {
      std::string message = string_field(*it, "message");
      if (message.empty()) message = fmt::format("HTTP {} from orield", res.status);
      return {parse_error_code(string_field(*it, "code"), res.status), message};
    }
  }
  std::string text = snippet(res.body);
  return {parse_error_code("", res.status),
          fmt::format("HTTP {} from orield{}{}", res.status, text.empty() ? "" : ": ", text)};
}

}  // namespace

ErrorCode parse_error_code(std::string_view code, int status) {
  static constexpr std::array<ErrorCode, 10> kAll = {
      ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied, ErrorCode::kNotFound,
      ErrorCode::kConflict,        ErrorCode::kUnprocessable,   ErrorCode::kUnavailable,      ErrorCode::kTimeout,
      ErrorCode::kRateLimited,     ErrorCode::kInternal};
  for (ErrorCode c : kAll) {
    if (!code.empty() && error_code_name(c) == code) return c;
  }
  switch (status) {
    case 400:
    case 405:
    case 413:
    case 414:
    case 415:
    case 431: return ErrorCode::kInvalidArgument;
    case 401: return ErrorCode::kUnauthenticated;
    case 403: return ErrorCode::kPermissionDenied;
    case 404:
    case 410: return ErrorCode::kNotFound;
    case 409: return ErrorCode::kConflict;
    case 422: return ErrorCode::kUnprocessable;
    case 429: return ErrorCode::kRateLimited;
    case 502:
    case 503: return ErrorCode::kUnavailable;
    case 408:
    case 504: return ErrorCode::kTimeout;
    default: return ErrorCode::kInternal;
  }
}

// The TCP connection and the buffer of bytes read past the last answer.
struct ApiClient::Connection {
  using Parser = http::response_parser<http::string_body>;

  asio::io_context io;
  Stream stream{io.get_executor()};
  beast::flat_buffer buffer;
  bool open = false;
  int opened = 0;
  // When the last answer arrived, and how long the server keeps an idle
  // connection (its Keep-Alive timeout; zero when it did not say).
  std::chrono::steady_clock::time_point last_answer;
  std::chrono::milliseconds server_idle_limit{0};

  // Starts one asynchronous operation and runs the io_context until it ends.
  template <typename Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = asio::error::operation_aborted;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  // An idle connection with something to read has been closed by the server
  // (or holds bytes nobody asked for): either way it must not be reused.
  bool usable() {
    if (!open || buffer.size() > 0) return false;
    // Near the server's idle limit its close may cross our request on the
    // wire, and a POST cannot be retried safely: reconnect instead.
    if (server_idle_limit.count() > 0 &&
        std::chrono::steady_clock::now() - last_answer >= server_idle_limit - server_idle_limit / 4) {
      return false;
    }
    pollfd p{stream.next_layer().socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  // Keeps the time of an answer and the server's "Keep-Alive: timeout=N".
  void note_answer(beast::string_view keep_alive) {
    last_answer = std::chrono::steady_clock::now();
    server_idle_limit = std::chrono::milliseconds(0);
    auto at = keep_alive.find("timeout=");
    if (at == beast::string_view::npos) return;
    int seconds = 0;
    for (size_t i = at + 8; i < keep_alive.size() && std::isdigit(static_cast<unsigned char>(keep_alive[i])); ++i) {
      seconds = std::min(seconds * 10 + (keep_alive[i] - '0'), 86400);
    }
    server_idle_limit = std::chrono::seconds(seconds);
  }

  void close() {
    beast::error_code ignored;
    stream.next_layer().socket().close(ignored);
    buffer.clear();
    open = false;
  }

  // TCP, then TLS when `tls` is set.
  Result<void> connect(const ServerUrl& url, const TlsClient* tls, std::chrono::milliseconds timeout) {
    close();
    beast::error_code ec;
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
    beast::tcp_stream tcp(io);
    if (!ec) {
      tcp.expires_after(timeout);
      ec = run([&](auto handler) { tcp.async_connect(endpoints, std::move(handler)); });
    }
    auto failed = [&](std::string_view why) {
      return Error::Unavailable(fmt::format("cannot reach orield at {}: {}", url.to_string(), why));
    };
    if (ec) return failed(ec == beast::error::timeout ? "no answer within " + seconds_text(timeout) : ec.message());
    tcp.socket().set_option(tcp::no_delay(true), ec);
    if (tls == nullptr) {
      stream = Stream(std::move(tcp));
    } else {
      stream = TRY(tls->wrap(std::move(tcp), url.host));
      stream.next_layer().expires_after(timeout);
      ec = run([&](auto handler) { stream.tls()->async_handshake(ssl::stream_base::client, std::move(handler)); });
      if (ec) {
        std::string why = TlsClient::describe_failure(stream, ec, url.host, url.port);
        stream.next_layer().socket().close(ec);
        return failed(why);
      }
    }
    open = true;
    ++opened;
    return Ok();
  }

  beast::error_code round_trip(http::request<http::string_body>& req, Parser& parser,
                               std::chrono::milliseconds timeout) {
    stream.next_layer().expires_after(timeout);
    auto ec = run([&](auto handler) { http::async_write(stream, req, std::move(handler)); });
    if (ec) return ec;
    stream.next_layer().expires_after(timeout);
    return run([&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
  }
};

ApiClient::ApiClient(ServerUrl server) : server_(std::move(server)), conn_(std::make_unique<Connection>()) {}
ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;
ApiClient::~ApiClient() = default;

Result<ApiClient> ApiClient::create(std::string_view base_url, std::string token,
                                    std::shared_ptr<const TlsClient> tls) {
  ApiClient client(TRY(parse_server_url(base_url)));
  client.token_ = std::move(token);
  if (client.server_.tls) {
    if (!tls) tls = TRY(TlsClient::create({}));
    client.tls_ = std::move(tls);
  }
  return client;
}

int ApiClient::connections_opened() const { return conn_ ? conn_->opened : 0; }

Result<RawResponse> ApiClient::request(std::string_view method, std::string_view path, std::string_view body,
                                       std::string_view content_type) {
  TRY(check_request_line(method, path, token_));
  http::request<http::string_body> req;
  req.method_string(beast::string_view(method.data(), method.size()));
  req.target(server_.path_prefix + std::string(path));
  req.version(11);
  req.set(http::field::host, server_.authority());
  req.set(http::field::user_agent, "oriel-cli");
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  // A call made on behalf of a request (the controller calling an agent)
  // carries its id, so the agent's log lines name it too.
  if (const auto& id = current_request_id(); !id.empty()) req.set("X-Request-Id", id);
  if (!body.empty()) req.set(http::field::content_type, std::string(content_type));
  req.body() = std::string(body);
  req.keep_alive(true);
  req.prepare_payload();
  for (int attempt = 0;; ++attempt) {
    bool reused = conn_->usable();
    if (!reused) TRY(conn_->connect(server_, tls_.get(), timeout_));
    Connection::Parser parser;
    parser.body_limit(kMaxBodyBytes);
    auto ec = conn_->round_trip(req, parser, timeout_);
    if (!ec) {
      auto res = parser.release();
      conn_->note_answer(res[http::field::keep_alive]);
      if (!res.keep_alive()) conn_->close();
      return RawResponse{static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
                         std::move(res.body())};
    }
    conn_->close();
    // A reused connection may have been closed by the server just as we sent.
    if (reused && attempt == 0 && is_idempotent(method) && ec != beast::error::timeout) continue;
    if (ec == beast::error::timeout) {
      return Error::Timeout(fmt::format("orield at {} did not answer within {}", base_url(), seconds_text(timeout_)));
    }
    if (ec == http::error::body_limit) return Error::Internal("the answer from orield is larger than 256 MiB");
    return Error::Unavailable(fmt::format("lost the connection to orield at {}: {}", base_url(), ec.message()));
  }
}

Result<Json> ApiClient::call_json(std::string_view method, std::string_view path, const Json* body) {
  std::string text = body ? body->dump(-1, ' ', false, Json::error_handler_t::replace) : std::string();
  auto res = TRY(request(method, path, text));
  if (res.status < 200 || res.status >= 300) return error_from_response(res);
  if (res.body.empty()) return Json::object();
  auto parsed = parse_json(res.body);
  if (!parsed.ok())
    return Error::Internal(fmt::format("orield answered HTTP {} with a body that is not JSON", res.status));
  return std::move(parsed).value();
}

Result<Json> ApiClient::get(std::string_view path) { return call_json("GET", path, nullptr); }
Result<Json> ApiClient::post(std::string_view path, const Json& body) { return call_json("POST", path, &body); }
Result<Json> ApiClient::patch(std::string_view path, const Json& body) { return call_json("PATCH", path, &body); }
Result<Json> ApiClient::del(std::string_view path) { return call_json("DELETE", path, nullptr); }

Result<std::string> ApiClient::get_bytes(std::string_view path, std::string* content_type) {
  auto res = TRY(request("GET", path, ""));
  if (res.status < 200 || res.status >= 300) return error_from_response(res);
  if (content_type) *content_type = res.content_type;
  return std::move(res.body);
}

Result<std::string> ApiClient::login(std::string_view username, std::string_view password) {
  Json body = {{"username", username}, {"password", password}};
  auto res = TRY(post("/api/v1/auth/login", body));
  std::string token = string_field(res, "token");
  if (token.empty()) return Error::Internal("orield's login answer has no token");
  token_ = std::move(token);
  return token_;
}

}  // namespace oriel::net
