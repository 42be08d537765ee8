#include "vnc_transport.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <utility>  // before Asio (Boost 1.74)

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstring>
#include <optional>
#include <thread>

#include "oriel/common/log.h"
#include "oriel/common/mutex.h"
#include "oriel/net/websocket.h"

namespace oriel::display {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;

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

// The answer of an open, which the caller may stop waiting for: a stream
// that arrives after that is closed rather than leaked.
struct Pending {
  Mutex mu;
  CondVar cv;
  std::optional<Result<int>> result ORIEL_GUARDED_BY(mu);
  bool abandoned ORIEL_GUARDED_BY(mu) = false;

  void set(Result<int> r) {
    MutexLock lock(mu);
    if (abandoned) {
      if (r.ok()) ::close(*r);
      return;
    }
    result.emplace(std::move(r));
    cv.notify_all();
  }
};

// Pumps the agent's WebSocket to one end of a socket pair, whose other end,
// a stream libvncclient can read, is the answer.
Result<int> pump_to_pair(net::WebSocket&& ws) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return Error::Unavailable(fmt::format("socketpair: {}", std::strerror(errno)));
  }
  asio::local::stream_protocol::socket local(ws.get_executor());
  beast::error_code ec;
  local.assign(asio::local::stream_protocol(), pair[1], ec);
  if (ec) {
    ::close(pair[0]);
    ::close(pair[1]);
    return Error::Unavailable(fmt::format("socket pair: {}", ec.message()));
  }
  net::pump(std::move(ws), std::move(local));
  return pair[0];
}

asio::awaitable<void> open_remote(std::string url, std::string token, std::shared_ptr<const net::TlsClient> tls,
                                  std::chrono::milliseconds timeout, std::shared_ptr<Pending> done) {
  auto ws = co_await net::connect_websocket(std::move(url), std::move(token), timeout, std::move(tls));
  done->set(ws.ok() ? pump_to_pair(std::move(*ws))
                    : Error::Unavailable(fmt::format("the agent's display stream: {}", ws.error().message())));
}

}  // namespace

Result<int> open_vnc_stream(const std::string& address, const std::string& token,
                            std::shared_ptr<const net::TlsClient> tls, std::chrono::milliseconds timeout) {
  if (!address.starts_with("ws://") && !address.starts_with("wss://")) return open_unix(address);
  auto pending = std::make_shared<Pending>();
  asio::co_spawn(bridge_io(), open_remote(address, token, std::move(tls), timeout, pending), asio::detached);
  UniqueMutexLock lock(pending->mu);
  auto answered = [&]() ORIEL_REQUIRES(pending->mu) { return pending->result.has_value(); };
  if (!pending->cv.wait_for(lock, timeout + std::chrono::seconds(1), answered)) {
    pending->abandoned = true;
    return Error::Timeout(fmt::format("no display stream from {} within {} ms", address, timeout.count()));
  }
  return std::move(*pending->result);
}

}  // namespace oriel::display
