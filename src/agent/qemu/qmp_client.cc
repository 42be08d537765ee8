#include "oriel/agent/qmp_client.h"

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "oriel/common/log.h"

namespace oriel::agent {
namespace {

namespace asio = boost::asio;
using asio::use_awaitable;

Error qmp_error(const Json& error) {
  std::string cls = error.value("class", "GenericError");
  std::string desc = error.value("desc", "no description");
  std::string message = fmt::format("QEMU refused: {} ({})", desc, cls);
  if (cls == "CommandNotFound" || cls == "DeviceNotFound") return {ErrorCode::kNotFound, message};
  return Error::InvalidArgument(message);
}

// Completes a promise with an awaitable's result. A coroutine function, not
// a capturing coroutine lambda: GCC 12 destroys such captures twice.
template <typename T>
asio::awaitable<void> fulfil(std::promise<T>* promise, asio::awaitable<T> op) {
  try {
    promise->set_value(co_await std::move(op));
  } catch (...) {
    promise->set_exception(std::current_exception());
  }
}

// Runs an awaitable on the client's executor and waits for it from another
// thread. (Boost 1.74's co_spawn needs a default-constructible result, which
// Result<T> is not, so the value travels through a promise.)
template <typename T>
T run_sync(asio::any_io_executor ex, asio::awaitable<T> op) {
  std::promise<T> promise;
  auto future = promise.get_future();
  asio::co_spawn(ex, fulfil(&promise, std::move(op)), asio::detached);
  return future.get();
}

}  // namespace

QmpClient::QmpClient(const asio::any_io_executor& executor) : executor_(executor), socket_(executor) {}

asio::awaitable<Result<std::shared_ptr<QmpClient>>> QmpClient::connect(asio::any_io_executor executor,
                                                                       std::string socket_path,
                                                                       std::chrono::milliseconds timeout,
                                                                       QmpEventHandler on_event,
                                                                       QmpClosedHandler on_closed) {
  auto client = std::make_shared<QmpClient>(executor);
  client->on_event_ = std::move(on_event);
  boost::system::error_code ec;
  co_await client->socket_.async_connect(asio::local::stream_protocol::endpoint(socket_path),
                                         asio::redirect_error(use_awaitable, ec));
  if (ec) co_return Error::Unavailable(fmt::format("cannot connect to QMP at {}: {}", socket_path, ec.message()));
  client->open_ = true;
  auto ready = co_await client->handshake(timeout);
  if (!ready.ok()) {
    client->shut(ready.error(), false);
    co_return ready.take_error();
  }
  client->on_closed_ = std::move(on_closed);
  co_return client;
}

Result<std::shared_ptr<QmpClient>> QmpClient::connect_sync(const asio::any_io_executor& executor,
                                                           std::string socket_path, std::chrono::milliseconds timeout,
                                                           QmpEventHandler on_event, QmpClosedHandler on_closed) {
  return run_sync(executor,
                  connect(executor, std::move(socket_path), timeout, std::move(on_event), std::move(on_closed)));
}

// Greeting first; then the reader runs, so events that come before the
// capabilities answer are delivered like any other.
asio::awaitable<Result<void>> QmpClient::handshake(std::chrono::milliseconds timeout) {
  asio::steady_timer deadline(executor_, timeout);
  deadline.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && self->open_ && self->read_buffer_.find('\n') == std::string::npos) self->socket_.close();
  });
  boost::system::error_code ec;
  size_t n = co_await asio::async_read_until(socket_, asio::dynamic_buffer(read_buffer_, kMaxLine), '\n',
                                             asio::redirect_error(use_awaitable, ec));
  deadline.cancel();
  if (ec) co_return Error::Unavailable(fmt::format("no QMP greeting: {}", ec.message()));
  auto greeting = parse_json(std::string_view(read_buffer_).substr(0, n));
  read_buffer_.erase(0, n);
  if (!greeting.ok() || !greeting->is_object() || !greeting->contains("QMP")) {
    co_return Error::Unavailable("the socket does not speak QMP (no greeting)");
  }
  asio::co_spawn(
      executor_, [self = shared_from_this()] { return self->read_loop(); }, asio::detached);
  auto caps = co_await execute("qmp_capabilities", Json::object(), timeout);
  if (!caps.ok()) co_return caps.error().context("negotiating QMP capabilities");
  co_return Ok();
}

asio::awaitable<void> QmpClient::read_loop() {
  auto self = shared_from_this();
  while (open_) {
    boost::system::error_code ec;
    size_t n = co_await asio::async_read_until(socket_, asio::dynamic_buffer(read_buffer_, kMaxLine), '\n',
                                               asio::redirect_error(use_awaitable, ec));
    if (ec) {
      std::string why = ec == asio::error::not_found ? "a QMP message longer than 16 MiB" : ec.message();
      shut(Error::Unavailable(fmt::format("QMP connection closed: {}", why)), true);
      co_return;
    }
    std::string line = read_buffer_.substr(0, n);
    read_buffer_.erase(0, n);
    handle_line(line);
  }
}

void QmpClient::handle_line(std::string_view line) {
  auto msg = parse_json(line);
  if (!msg.ok() || !msg->is_object()) {
    spdlog::warn("QMP: ignoring a malformed line ({} bytes)", line.size());
    return;
  }
  if (auto ev = msg->find("event"); ev != msg->end() && ev->is_string()) {
    QmpEvent event{ev->get<std::string>(), msg->value("data", Json::object())};
    if (on_event_) on_event_(event);
    return;
  }
  auto id = msg->find("id");
  if (id == msg->end() || !id->is_number_unsigned()) return;  // not ours
  auto it = pending_.find(id->get<uint64_t>());
  if (it == pending_.end()) return;  // timed out already
  if (auto ret = msg->find("return"); ret != msg->end()) {
    it->second.result = Result<Json>(*ret);
  } else if (auto err = msg->find("error"); err != msg->end() && err->is_object()) {
    it->second.result = Result<Json>(qmp_error(*err));
  } else {
    it->second.result = Result<Json>(Error::Internal("QMP reply with neither return nor error"));
  }
  it->second.wake->cancel();
}

asio::awaitable<void> QmpClient::write_loop() {
  auto self = shared_from_this();
  while (open_ && !write_queue_.empty()) {
    boost::system::error_code ec;
    co_await asio::async_write(socket_, asio::buffer(write_queue_.front()), asio::redirect_error(use_awaitable, ec));
    write_queue_.pop_front();
    if (ec) {
      shut(Error::Unavailable(fmt::format("QMP connection closed: {}", ec.message())), true);
      break;
    }
  }
  writing_ = false;
}

asio::awaitable<Result<Json>> QmpClient::execute(std::string command, Json arguments,
                                                 std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  if (!open_) co_return Error::Unavailable("QMP connection is closed");
  uint64_t id = next_id_++;
  Json msg = {{"execute", command}, {"id", id}};
  if (!arguments.empty()) msg["arguments"] = std::move(arguments);
  auto& pending = pending_[id];
  pending.wake = std::make_unique<asio::steady_timer>(executor_, timeout);
  write_queue_.push_back(msg.dump() + "\n");
  if (!writing_) {
    writing_ = true;  // before the spawn: the writer starts later, and only one may run
    asio::co_spawn(
        executor_, [self = shared_from_this()] { return self->write_loop(); }, asio::detached);
  }
  boost::system::error_code ec;
  co_await pending.wake->async_wait(asio::redirect_error(use_awaitable, ec));
  auto node = pending_.extract(id);
  if (node.empty()) co_return Error::Unavailable("QMP connection is closed");
  if (node.mapped().result) co_return std::move(*node.mapped().result);
  co_return Error::Timeout(fmt::format("QMP command {} got no answer within {} ms", command, timeout.count()));
}

Result<Json> QmpClient::execute_sync(std::string command, Json arguments, std::chrono::milliseconds timeout) {
  return run_sync(executor_, execute(std::move(command), std::move(arguments), timeout));
}

void QmpClient::shut(const Error& why, bool notify) {
  if (!open_.exchange(false)) return;
  boost::system::error_code ignored;
  socket_.close(ignored);
  for (auto& [id, p] : pending_) {
    if (!p.result) p.result = Result<Json>(why);
    p.wake->cancel();
  }
  if (notify && on_closed_) on_closed_(why);
}

void QmpClient::close() {
  asio::post(executor_,
             [self = shared_from_this()] { self->shut(Error::Unavailable("QMP connection closed"), false); });
}

}  // namespace oriel::agent
