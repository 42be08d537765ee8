// The WebSocket connection class, the client handshake and the byte pump.
#include "oriel/net/websocket.h"  // first: http.h includes <utility> before Asio

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <array>

#include "oriel/common/log.h"

namespace oriel::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

websocket::close_reason make_close_reason(std::uint16_t code, std::string reason) {
  websocket::close_reason r;
  r.code = code;
  r.reason = fit_close_reason(std::move(reason));
  return r;
}

}  // namespace

std::string fit_close_reason(std::string reason) {
  if (reason.size() > 123) {
    reason.resize(120);
    while (!reason.empty() && (static_cast<unsigned char>(reason.back()) & 0xC0) == 0x80) reason.pop_back();
    if (!reason.empty()) reason.pop_back();
    reason += "...";
  }
  return reason;
}

WebSocketConnection::WebSocketConnection(WebSocket&& ws, WebSocketOptions options)
    : ws_(std::move(ws)), options_(options), close_timer_(ws_.get_executor()) {
  ws_.binary(options_.binary);
  // A message goes as one frame: Beast would cut it into 4 KiB frames, each
  // its own write (and TLS record), which halved throughput (tls_bench).
  ws_.auto_fragment(false);
  // Beast's own limit fails the connection at once, which can reset it
  // before the peer reads the close frame; up to four times the limit we read
  // the message and close cleanly with 1009 ourselves.
  ws_.read_message_max(4 * options_.max_message_bytes);
  auto t = websocket::stream_base::timeout::suggested(beast::role_type::server);
  t.idle_timeout = options_.idle_timeout;
  t.keep_alive_pings = true;
  ws_.set_option(t);
}

void WebSocketConnection::start_reading() {
  asio::co_spawn(ws_.get_executor(), read_loop(shared_from_this()), asio::detached);
}

void WebSocketConnection::send(std::string message) {
  asio::post(ws_.get_executor(),
             [self = shared_from_this(), m = std::move(message)]() mutable { self->queue(std::move(m)); });
}

void WebSocketConnection::close(std::uint16_t code, std::string reason) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), code, r = std::move(reason)]() mutable {
    self->begin_close(code, std::move(r));
  });
}

void WebSocketConnection::queue(std::string message) {
  if (closing_) return;
  queued_bytes_ += message.size();
  outbox_.push_back(std::move(message));
  if (options_.max_queued_bytes != 0 && queued_bytes_ > options_.max_queued_bytes) {
    return begin_close(options_.overflow_code, "the messages are not being read");
  }
  if (!writing_) start_writer();
}

void WebSocketConnection::begin_close(std::uint16_t code, std::string reason) {
  if (closing_) return;
  closing_ = true;
  close_code_ = code;
  close_text_ = std::move(reason);
  outbox_.clear();  // what was not sent is stale now
  queued_bytes_ = 0;
  if (!writing_) start_writer();
  // A peer that does not read cannot take the close frame either.
  close_timer_.expires_after(options_.close_grace);
  close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->cut();
  });
}

void WebSocketConnection::start_writer() {
  writing_ = true;
  asio::co_spawn(ws_.get_executor(), write_loop(shared_from_this()), asio::detached);
}

void WebSocketConnection::cut() {
  beast::error_code ec;
  beast::get_lowest_layer(ws_).socket().close(ec);
}

asio::awaitable<void> WebSocketConnection::write_loop(std::shared_ptr<WebSocketConnection> self) {
  beast::error_code ec;
  while (!self->outbox_.empty()) {
    std::string message = std::move(self->outbox_.front());
    self->outbox_.pop_front();
    self->queued_bytes_ -= message.size();
    co_await self->ws_.async_write(asio::buffer(message), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
  }
  if (!ec && self->closing_) {
    co_await self->ws_.async_close(make_close_reason(self->close_code_, self->close_text_),
                                   asio::redirect_error(use_awaitable, ec));
    self->close_timer_.cancel();
  }
  self->writing_ = false;
  if (ec) self->cut();
}

asio::awaitable<void> WebSocketConnection::read_loop(std::shared_ptr<WebSocketConnection> self) {
  const size_t limit = self->options_.max_message_bytes;
  beast::flat_buffer buffer;
  for (;;) {
    beast::error_code ec;
    co_await self->ws_.async_read(buffer, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == websocket::error::message_too_big) spdlog::info("websocket: a message over {} bytes; cut", 4 * limit);
      break;
    }
    if (buffer.size() > limit) {
      self->begin_close(1009, fmt::format("a message of more than {} bytes", limit));
    } else if (!self->closing_) {
      auto data = buffer.cdata();
      self->received(std::string_view(static_cast<const char*>(data.data()), data.size()), self->ws_.got_binary());
    }
    buffer.consume(buffer.size());
  }
  self->finished_ = true;
  self->close_timer_.cancel();
  self->ended();
}

void refuse_websocket(WebSocket&& ws, std::uint16_t code, std::string reason) {
  auto refused = std::make_shared<WebSocket>(std::move(ws));
  refused->async_close(make_close_reason(code, std::move(reason)), [refused](beast::error_code) {});
}

namespace {

struct WsUrl {
  bool tls = false;
  std::string host, port, target;
};

Result<WsUrl> parse_ws_url(const std::string& url) {
  WsUrl u;
  std::string rest;
  if (url.starts_with("wss://")) {
    u.tls = true;
    rest = url.substr(6);
  } else if (url.starts_with("ws://")) {
    rest = url.substr(5);
  } else {
    return Error::InvalidArgument(fmt::format("'{}' is not a ws:// or wss:// URL", url));
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  // [v6]:port or host:port
  auto colon = authority.rfind(':');
  bool v6 = !authority.empty() && authority.front() == '[';
  if (colon == std::string::npos || (v6 && colon < authority.find(']'))) {
    return Error::InvalidArgument(fmt::format("'{}' has no port", url));
  }
  u.host = authority.substr(v6 ? 1 : 0, v6 ? authority.find(']') - 1 : colon);
  u.port = authority.substr(colon + 1);
  if (u.host.empty() || u.port.empty()) return Error::InvalidArgument(fmt::format("'{}' has no host:port", url));
  return u;
}

}  // namespace

asio::awaitable<Result<WebSocket>> connect_websocket(std::string url, std::string token,
                                                     std::chrono::milliseconds timeout,
                                                     std::shared_ptr<const TlsClient> tls) {
  auto parsed = parse_ws_url(url);
  if (!parsed.ok()) co_return parsed.error();
  const WsUrl& u = *parsed;
  auto executor = co_await asio::this_coro::executor;
  beast::error_code ec;
  tcp::resolver resolver(executor);
  auto endpoints = co_await resolver.async_resolve(u.host, u.port, asio::redirect_error(use_awaitable, ec));
  beast::tcp_stream tcp(executor);
  tcp.expires_after(timeout);
  if (!ec) co_await tcp.async_connect(endpoints, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error::Unavailable(fmt::format("cannot reach {}:{}: {}", u.host, u.port, ec.message()));
  Stream stream(std::move(tcp));
  if (u.tls) {
    if (!tls) {
      auto system = TlsClient::create({});
      if (!system.ok()) co_return system.error();
      tls = std::move(system).value();
    }
    auto wrapped = tls->wrap(std::move(stream.next_layer()), u.host);
    if (!wrapped.ok()) co_return wrapped.error();
    stream = std::move(wrapped).value();
    co_await stream.tls()->async_handshake(ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return Error::Unavailable(fmt::format("{}: {}", url, TlsClient::describe_failure(stream, ec)));
  }
  WebSocket ws(std::move(stream));
  if (!token.empty()) {
    ws.set_option(websocket::stream_base::decorator(
        [token](websocket::request_type& req) { req.set(beast::http::field::authorization, "Bearer " + token); }));
  }
  co_await ws.async_handshake(u.host + ":" + u.port, u.target, asio::redirect_error(use_awaitable, ec));
  beast::get_lowest_layer(ws).expires_never();
  if (ec) co_return Error::Unavailable(fmt::format("{} refused the WebSocket: {}", url, ec.message()));
  co_return ws;
}

namespace {

// Both directions of one pump; whichever ends first closes both sides, which
// ends the other.
class Pump : public std::enable_shared_from_this<Pump> {
 public:
  Pump(WebSocket&& ws, asio::local::stream_protocol::socket&& stream) : ws_(std::move(ws)), stream_(std::move(stream)) {
    ws_.binary(true);
    ws_.auto_fragment(false);  // each read of the stream goes as one frame
  }
  void start() {
    asio::co_spawn(ws_.get_executor(), to_websocket(shared_from_this()), asio::detached);
    asio::co_spawn(ws_.get_executor(), to_stream(shared_from_this()), asio::detached);
  }

 private:
  static asio::awaitable<void> to_websocket(std::shared_ptr<Pump> self) {
    std::array<char, 64 * 1024> buf;
    beast::error_code ec;
    for (;;) {
      size_t n = co_await self->stream_.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await self->ws_.async_write(asio::buffer(buf.data(), n), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
    }
    self->shut();
  }
  static asio::awaitable<void> to_stream(std::shared_ptr<Pump> self) {
    beast::flat_buffer in;
    beast::error_code ec;
    for (;;) {
      co_await self->ws_.async_read(in, asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await asio::async_write(self->stream_, in.data(), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      in.consume(in.size());
    }
    self->shut();
  }
  // The stream's reader sees its end, the WebSocket's peer the end of the socket.
  void shut() {
    beast::error_code ec;
    stream_.close(ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  WebSocket ws_;
  asio::local::stream_protocol::socket stream_;
};

}  // namespace

void pump(WebSocket&& ws, asio::local::stream_protocol::socket&& stream) {
  std::make_shared<Pump>(std::move(ws), std::move(stream))->start();
}

}  // namespace oriel::net
