// The byte stream under every HTTP exchange and WebSocket: TCP, or TLS over
// TCP, chosen per connection at run time. HTTP, the WebSocket class and the
// pump are written once against this type, so a listener or a client turns
// TLS on by handing its streams a context and nothing above them changes.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <memory>

namespace oriel::net {

namespace ssl = boost::asio::ssl;

// Either a plain tcp_stream or a beast::ssl_stream over one. Models Asio's
// AsyncReadStream and AsyncWriteStream, and Beast's teardown for WebSockets.
// next_layer() is the TCP stream in both cases (timeouts, the socket), so
// beast::get_lowest_layer() reaches it. Ownership: movable, not copyable; a
// TLS stream keeps its context alive, so a reloaded certificate never pulls
// a context from under an open connection.
class Stream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  // Plain TCP.
  explicit Stream(boost::beast::tcp_stream tcp) : plain_(std::make_unique<boost::beast::tcp_stream>(std::move(tcp))) {}
  // TLS over tcp; the handshake is the owner's to do, through tls().
  Stream(boost::beast::tcp_stream tcp, std::shared_ptr<ssl::context> context)
      : tls_(std::make_unique<Tls>(std::move(tcp), *context)), context_(std::move(context)) {}
  // An unconnected plain stream on `executor`.
  template <typename Executor>
  explicit Stream(const Executor& executor) : plain_(std::make_unique<boost::beast::tcp_stream>(executor)) {}

  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;

  executor_type get_executor() noexcept { return tls_ ? tls_->get_executor() : plain_->get_executor(); }
  boost::beast::tcp_stream& next_layer() noexcept { return tls_ ? tls_->next_layer() : *plain_; }
  // Null for plain TCP.
  Tls* tls() noexcept { return tls_.get(); }
  // Turns a plain stream into a TLS one over the same connection (the
  // handshake is still the owner's): a server makes the TLS state, some 70
  // KiB, only once a client has sent something.
  void start_tls(std::shared_ptr<ssl::context> context) {
    tls_ = std::make_unique<Tls>(std::move(*plain_), *context);
    plain_.reset();
    context_ = std::move(context);
  }
  // Keeps `owner` alive as long as the stream (a server's count of the
  // connection, which follows it into a WebSocket).
  void hold(std::shared_ptr<void> owner) { held_ = std::move(owner); }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            plain_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            plain_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  // How a WebSocket closes the stream under it (RFC 6455 §7.1.1): TLS sends
  // its close_notify first.
  friend void teardown(boost::beast::role_type role, Stream& s, boost::system::error_code& ec) {
    using boost::beast::websocket::teardown;
    if (s.tls_) {
      teardown(role, *s.tls_, ec);
    } else {
      teardown(role, *s.plain_, ec);
    }
  }
  template <typename Handler>
  friend void async_teardown(boost::beast::role_type role, Stream& s, Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    if (s.tls_) {
      async_teardown(role, *s.tls_, std::forward<Handler>(handler));
    } else {
      async_teardown(role, *s.plain_, std::forward<Handler>(handler));
    }
  }

 private:
  // One of the two is set. On the heap so that a Stream can be assigned
  // (Beast's streams can only be moved into being).
  std::unique_ptr<boost::beast::tcp_stream> plain_;
  std::unique_ptr<Tls> tls_;
  std::shared_ptr<ssl::context> context_;
  std::shared_ptr<void> held_;
};

}  // namespace oriel::net
