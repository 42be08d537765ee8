// WebSocket upgrades through the HTTP server over real sockets: the route's
// handler gets the stream after the handshake, with its {params}; requests
// that are no upgrade, or upgrades on paths without a WebSocket route, stay
// HTTP. Then the WebSocket connection class and the byte pump behind real
// routes, with a real client.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "echo_route.h"
#include "oriel/net/websocket.h"

namespace oriel::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using testing::echo;
using tcp = asio::ip::tcp;

// Echoes each message upper-cased; "close" closes with 4000 and a reason
// too long for a close frame; "flood" queues more than the outbox takes.
class Shouter final : public WebSocketConnection {
 public:
  explicit Shouter(WebSocket&& ws)
      : WebSocketConnection(std::move(ws), {.max_message_bytes = 64, .max_queued_bytes = 4096, .overflow_code = 4408}) {
  }

 private:
  void received(std::string_view message, bool) override {
    if (message == "close") return begin_close(4000, std::string(200, 'x'));
    if (message == "flood") {
      for (int i = 0; i < 100; ++i) queue(std::string(1024, 'f'));
      return;
    }
    std::string upper(message);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    queue(std::move(upper));
  }
};

class WebSocketTest : public ::testing::Test {
 protected:
  WebSocketTest() {
    router_.add("GET", "/plain", [](const Request&) { return Response::json(200, {{"plain", true}}); });
    router_.add_websocket("/echo/{name}", [](const Request& req, WebSocket&& ws) {
      auto executor = ws.get_executor();
      asio::co_spawn(executor, echo(std::move(ws), req.params.at("name")), asio::detached);
    });
    router_.add_websocket("/shout", [](const Request&, WebSocket&& ws) {
      auto c = std::make_shared<Shouter>(std::move(ws));
      c->start_reading();
    });
    // The far end of the pump is a socket pair whose other end the test holds.
    router_.add_websocket("/pump", [this](const Request&, WebSocket&& ws) {
      int pair[2];
      ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
      asio::local::stream_protocol::socket near(ws.get_executor());
      near.assign(asio::local::stream_protocol(), pair[0]);
      far_fd_ = pair[1];
      pump(std::move(ws), std::move(near));
    });
    server_ = std::make_unique<HttpServer>(io_, router_, 2);
    port_ = server_->listen("127.0.0.1", 0).value();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~WebSocketTest() override {
    asio::post(io_, [this] { server_->stop(); });
    io_.stop();
    thread_.join();
    if (far_fd_ >= 0) ::close(far_fd_);
  }

  // Reads until the server's close frame; returns it.
  static websocket::close_reason read_until_closed(websocket::stream<tcp::socket>& ws, int* messages = nullptr) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    while (!ec) {
      ws.read(buffer, ec);
      if (!ec && messages) ++*messages;
      buffer.consume(buffer.size());
    }
    EXPECT_EQ(ec, websocket::error::closed) << ec.message();
    return ws.reason();
  }

  // A blocking client connection (each test is bounded by ctest's timeout).
  tcp::socket connect() {
    tcp::socket s(client_io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    return s;
  }

  Router router_;
  asio::io_context io_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  asio::io_context client_io_;
  std::atomic<int> far_fd_{-1};
};

TEST_F(WebSocketTest, TheRouteGetsTheStreamAfterTheHandshakeWithItsParams) {
  websocket::stream<tcp::socket> ws(connect());
  websocket::response_type res;
  ws.handshake(res, "127.0.0.1", "/echo/gr%C3%BC%C3%9Fe?ticket=x");
  EXPECT_EQ(res[http::field::server], "orield");
  ws.binary(true);
  for (std::string m : {"one", "two"}) {
    ws.write(asio::buffer(m));
    beast::flat_buffer buffer;
    ws.read(buffer);
    EXPECT_EQ(beast::buffers_to_string(buffer.data()), "grüße:" + m);
  }
  ws.close(websocket::close_code::normal);
}

TEST_F(WebSocketTest, APlainGetOnAWebSocketPathIsA404) {
  tcp::socket s = connect();
  http::request<http::empty_body> req{http::verb::get, "/echo/x", 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(s, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(s, buffer, res);
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_NE(res.body().find("not_found"), std::string::npos) << res.body();
}

TEST_F(WebSocketTest, AnUpgradeWithoutAWebSocketRouteIsAnsweredAsHttp) {
  websocket::stream<tcp::socket> ws(connect());
  websocket::response_type res;
  beast::error_code ec;
  ws.handshake(res, "127.0.0.1", "/plain", ec);
  EXPECT_EQ(ec, websocket::error::upgrade_declined);
  EXPECT_EQ(res.result_int(), 200);  // the GET route's reply
}

TEST_F(WebSocketTest, AConnectionAnswersInOrderAndClosesWithItsCodeAndAShortenedReason) {
  websocket::stream<tcp::socket> ws(connect());
  ws.handshake("127.0.0.1", "/shout");
  for (std::string m : {"one", "two", "three"}) ws.write(asio::buffer(m));
  for (std::string want : {"ONE", "TWO", "THREE"}) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    EXPECT_EQ(beast::buffers_to_string(buffer.data()), want);
  }
  ws.write(asio::buffer(std::string("close")));
  auto reason = read_until_closed(ws);
  EXPECT_EQ(reason.code, 4000);
  EXPECT_LE(reason.reason.size(), 123u);
  EXPECT_TRUE(std::string(reason.reason.data(), reason.reason.size()).ends_with("...")) << reason.reason;
}

TEST_F(WebSocketTest, AMessageOverTheLimitIsReadWholeThenClosedWith1009) {
  websocket::stream<tcp::socket> ws(connect());
  ws.handshake("127.0.0.1", "/shout");
  ws.write(asio::buffer(std::string(65, 'a')));  // the limit is 64
  EXPECT_EQ(read_until_closed(ws).code, 1009);
}

TEST_F(WebSocketTest, AnOutboxPastItsLimitClosesWithTheOverflowCode) {
  websocket::stream<tcp::socket> ws(connect());
  ws.handshake("127.0.0.1", "/shout");
  ws.write(asio::buffer(std::string("flood")));  // 100 kB queued at once; the outbox takes 4 kB
  int messages = 0;
  EXPECT_EQ(read_until_closed(ws, &messages).code, 4408);
  EXPECT_LT(messages, 100);  // what was queued past the limit was dropped
}

TEST_F(WebSocketTest, ThePumpCarriesBytesBothWaysAndEndsWithEitherSide) {
  websocket::stream<tcp::socket> ws(connect());
  ws.handshake("127.0.0.1", "/pump");
  ws.binary(true);
  ws.write(asio::buffer(std::string("to the stream")));
  // The route may still be setting the pump up when the handshake returns.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (far_fd_ < 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_GE(far_fd_, 0);
  char buf[64];
  ssize_t n = ::read(far_fd_, buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "to the stream");
  ASSERT_EQ(::write(far_fd_, "to the socket", 13), 13);
  beast::flat_buffer buffer;
  ws.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "to the socket");
  EXPECT_TRUE(ws.got_binary());
  // The stream ends: so does the WebSocket.
  ::close(far_fd_.exchange(-1));
  beast::error_code ec;
  ws.read(buffer, ec);
  EXPECT_TRUE(ec) << "the WebSocket outlived its stream";
}

}  // namespace
}  // namespace oriel::net
