#include "vnc_transport.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstring>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "oriel/common/log.h"

namespace oriel::display {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

Result<int> open_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return Error::InvalidArgument(fmt::format("socket path too long: {}", path));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::Unavailable(fmt::format("socket: {}", std::strerror(errno)));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    return Error::Unavailable(fmt::format("cannot connect to {}: {}", path, std::strerror(err)));
  }
  return fd;
}

// The I/O thread shared by every remote display stream of this process.
asio::io_context& bridge_io() {
  static asio::io_context io;
  static auto work = asio::make_work_guard(io);
  static std::thread thread([] { io.run(); });
  static bool detached = [] {
    thread.detach();  // lives as long as the process; nothing to join at exit
    return true;
  }();
  (void)detached;
  return io;
}

struct WsUrl {
  std::string host, port, target;
};

Result<WsUrl> parse_ws_url(const std::string& url) {
  constexpr std::string_view kScheme = "ws://";
  if (!url.starts_with(kScheme)) return Error::InvalidArgument(fmt::format("'{}' is not a ws:// URL", url));
  std::string rest = url.substr(kScheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  WsUrl u{"", "", slash == std::string::npos ? "/" : rest.substr(slash)};
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

// The answer of an open, which the caller may stop waiting for: a stream
// that arrives after that is closed rather than leaked.
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<int>> result;  // GUARDED_BY(mu)
  bool abandoned = false;             // GUARDED_BY(mu)

  void set(Result<int> r) {
    std::lock_guard lock(mu);
    if (abandoned) {
      if (r.ok()) ::close(*r);
      return;
    }
    result.emplace(std::move(r));
    cv.notify_all();
  }
};

// One remote stream: the WebSocket to the agent and our end of the pair.
class Bridge : public std::enable_shared_from_this<Bridge> {
 public:
  explicit Bridge(asio::io_context& io) : ws_(io), local_(io) {}

  static asio::awaitable<void> open(std::shared_ptr<Bridge> self, WsUrl url, std::string token,
                                    std::chrono::milliseconds timeout, std::shared_ptr<Pending> done) {
    auto fd = co_await self->handshake(url, token, timeout);
    if (fd.ok()) {
      asio::co_spawn(self->ws_.get_executor(), to_agent(self), asio::detached);
      asio::co_spawn(self->ws_.get_executor(), from_agent(self), asio::detached);
    }
    done->set(std::move(fd));
  }

 private:
  asio::awaitable<Result<int>> handshake(const WsUrl& url, const std::string& token, std::chrono::milliseconds timeout) {
    beast::error_code ec;
    tcp::resolver resolver(ws_.get_executor());
    auto endpoints = co_await resolver.async_resolve(url.host, url.port, asio::redirect_error(use_awaitable, ec));
    auto& stream = beast::get_lowest_layer(ws_);
    stream.expires_after(timeout);
    if (!ec) co_await stream.async_connect(endpoints, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return Error::Unavailable(fmt::format("cannot reach the agent at {}:{}: {}", url.host, url.port, ec.message()));
    ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      req.set(beast::http::field::authorization, "Bearer " + token);
    }));
    co_await ws_.async_handshake(url.host + ":" + url.port, url.target, asio::redirect_error(use_awaitable, ec));
    stream.expires_never();
    if (ec) co_return Error::Unavailable(fmt::format("the agent refused the display stream: {}", ec.message()));
    ws_.binary(true);
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      co_return Error::Unavailable(fmt::format("socketpair: {}", std::strerror(errno)));
    }
    local_.assign(asio::local::stream_protocol(), pair[1], ec);
    co_return pair[0];
  }

  static asio::awaitable<void> to_agent(std::shared_ptr<Bridge> self) {
    std::array<char, 16 * 1024> buf;
    beast::error_code ec;
    for (;;) {
      size_t n = co_await self->local_.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await self->ws_.async_write(asio::buffer(buf.data(), n), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
    }
    self->shut();
  }

  static asio::awaitable<void> from_agent(std::shared_ptr<Bridge> self) {
    beast::flat_buffer in;
    beast::error_code ec;
    for (;;) {
      co_await self->ws_.async_read(in, asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await asio::async_write(self->local_, in.data(), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      in.consume(in.size());
    }
    self->shut();
  }

  // Either side ended: libvncclient sees the end of its stream, the agent
  // sees the end of the WebSocket.
  void shut() {
    beast::error_code ec;
    local_.close(ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  websocket::stream<beast::tcp_stream> ws_;
  asio::local::stream_protocol::socket local_;
};

}  // namespace

Result<int> open_vnc_stream(const std::string& address, const std::string& token, std::chrono::milliseconds timeout) {
  if (!address.starts_with("ws://")) return open_unix(address);
  auto url = TRY(parse_ws_url(address));
  auto& io = bridge_io();
  auto pending = std::make_shared<Pending>();
  asio::co_spawn(io, Bridge::open(std::make_shared<Bridge>(io), std::move(url), token, timeout, pending),
                 asio::detached);
  std::unique_lock lock(pending->mu);
  if (!pending->cv.wait_for(lock, timeout + std::chrono::seconds(1), [&] { return pending->result.has_value(); })) {
    pending->abandoned = true;
    return Error::Timeout(fmt::format("no display stream from {} within {} ms", address, timeout.count()));
  }
  return std::move(*pending->result);
}

}  // namespace oriel::display
