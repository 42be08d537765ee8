// A WebSocket route for tests: answers each message with "<name>:<message>"
// (binary) until the client closes.
#pragma once

#include "oriel/net/websocket.h"  // first: it includes <utility> before Asio

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>

#include <string>

namespace oriel::net::testing {

inline boost::asio::awaitable<void> echo(WebSocket ws, std::string name) {
  boost::beast::error_code ec;
  boost::beast::flat_buffer buffer;
  for (;;) {
    co_await ws.async_read(buffer, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec) co_return;
    std::string reply = name + ":" + boost::beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    ws.binary(true);
    co_await ws.async_write(boost::asio::buffer(reply), boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

}  // namespace oriel::net::testing
