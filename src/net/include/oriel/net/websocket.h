// WebSockets (RFC 6455) above the HTTP server: the one connection class that
// every long-lived server-side socket builds on (the console's event stream,
// the display gateway), the client side of a handshake, and the byte pump
// that carries a stream socket over a WebSocket (a desktop's VNC display
// between an agent and the gateway).
#pragma once

#include "oriel/net/http.h"  // first: it includes <utility> before Asio
#include "oriel/net/tls.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace oriel::net {

struct WebSocketOptions {
  bool binary = false;  // the frames we send
  // A message above this closes the connection with 1009 (RFC 6455 §7.4.1)
  // after it was read whole, so the peer can still read the close frame;
  // beyond four times this the socket is cut at once.
  size_t max_message_bytes = size_t{16} * 1024;
  // Bytes waiting to be written beyond which the peer is taken to be too slow
  // and the connection closes with `overflow_code`; 0: no limit (the owner
  // bounds what it queues itself).
  size_t max_queued_bytes = 0;
  std::uint16_t overflow_code = 1008;
  std::chrono::seconds idle_timeout{30};  // no frame, pong included, for this long: cut
  std::chrono::seconds close_grace{5};    // a close frame that cannot be written: cut
};

// One accepted WebSocket with a single writer: messages are queued in an
// outbox and written one at a time by a writer coroutine, so callers never
// wait on the network. A close sends a close frame with a code and reason
// after dropping what was not yet sent, and cuts the socket if the peer does
// not take it within close_grace.
//
// Subclasses say what a message means (received()) and what the end of the
// connection means (finished()). Ownership: shared; the reader and writer
// coroutines hold the object while they run. Threading: send() and close()
// are thread-safe (they post to the socket's executor); everything else,
// received() and finished() included, runs on that executor.
class WebSocketConnection : public std::enable_shared_from_this<WebSocketConnection> {
 public:
  WebSocketConnection(WebSocket&& ws, WebSocketOptions options);
  virtual ~WebSocketConnection() = default;
  WebSocketConnection(const WebSocketConnection&) = delete;
  WebSocketConnection& operator=(const WebSocketConnection&) = delete;

  // Starts reading. Call once, on the executor, after construction.
  void start_reading();
  // Queues a message (thread-safe). Dropped once the connection is closing.
  void send(std::string message);
  // Closes with `code` (thread-safe); the first close wins.
  void close(std::uint16_t code, std::string reason);

  WebSocket::executor_type get_executor() { return ws_.get_executor(); }
  // True once the reader has ended (the peer closed, or the socket was cut).
  bool finished() const { return finished_; }

 protected:
  // On the executor: a whole message, text or binary as the peer sent it.
  virtual void received(std::string_view message, bool binary) = 0;
  // On the executor, once, when the reader ends.
  virtual void ended() {}

  // On the executor: what close() and send() post.
  void begin_close(std::uint16_t code, std::string reason);
  void queue(std::string message);
  bool closing() const { return closing_; }

 private:
  void start_writer();
  void cut();
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<WebSocketConnection> self);
  static boost::asio::awaitable<void> read_loop(std::shared_ptr<WebSocketConnection> self);

  WebSocket ws_;
  WebSocketOptions options_;
  boost::asio::steady_timer close_timer_;
  std::atomic<bool> finished_{false};
  // On the executor only.
  std::deque<std::string> outbox_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_text_;
};

// A close reason cut to fit a control frame (RFC 6455 §5.5: 123 bytes after
// the code), on a UTF-8 character boundary, with "..." where it was cut.
std::string fit_close_reason(std::string reason);

// Closes a WebSocket that is refused (bad credentials, nothing to serve) with
// `code` and `reason`; the socket goes when the close completes.
void refuse_websocket(WebSocket&& ws, std::uint16_t code, std::string reason);

// The client side: connects to `url` (ws:// or wss://HOST:PORT/PATH),
// sending "Authorization: Bearer token" with the handshake when a token is
// given. A wss:// URL is checked against `tls` (the system's CAs when null).
// Connect and handshakes are bounded by `timeout`. Unavailable with the
// reason when the server cannot be reached, is not trusted or refuses;
// InvalidArgument for a bad URL.
boost::asio::awaitable<Result<WebSocket>> connect_websocket(std::string url, std::string token,
                                                            std::chrono::milliseconds timeout,
                                                            std::shared_ptr<const TlsClient> tls = nullptr);

// Copies bytes both ways between `ws` and `stream` (binary frames, as the
// stream delivers them) until either side ends, then closes both. Runs on
// the WebSocket's executor, which the stream must share.
void pump(WebSocket&& ws, boost::asio::local::stream_protocol::socket&& stream);

}  // namespace oriel::net
