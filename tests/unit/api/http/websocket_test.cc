// WebSocket upgrades through the HTTP server over real sockets: the route's
// handler gets the stream after the handshake, with its {params}; requests
// that are no upgrade, or upgrades on paths without a WebSocket route, stay HTTP.
#include <gtest/gtest.h>

#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "oriel/api/http.h"

namespace oriel::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// Answers each message with "<name>:<message>" until the client closes.
asio::awaitable<void> echo(WebSocket ws, std::string name) {
  beast::error_code ec;
  beast::flat_buffer buffer;
  for (;;) {
    co_await ws.async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    std::string reply = name + ":" + beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    ws.binary(true);
    co_await ws.async_write(asio::buffer(reply), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

class WebSocketTest : public ::testing::Test {
 protected:
  WebSocketTest() {
    router_.add("GET", "/plain", [](const Request&) { return Response::json(200, {{"plain", true}}); });
    router_.add_websocket("/echo/{name}", [](const Request& req, WebSocket&& ws) {
      auto executor = ws.get_executor();
      asio::co_spawn(executor, echo(std::move(ws), req.params.at("name")), asio::detached);
    });
    server_ = std::make_unique<HttpServer>(io_, router_, 2);
    port_ = server_->listen("127.0.0.1", 0).value();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~WebSocketTest() override {
    asio::post(io_, [this] { server_->stop(); });
    io_.stop();
    thread_.join();
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

}  // namespace
}  // namespace oriel::api
