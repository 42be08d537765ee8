// A client for the QEMU Machine Protocol (QMP) over a VM's unix socket.
// Spec: QEMU's docs/interop/qmp-spec — a greeting {"QMP": ...}, capability
// negotiation with qmp_capabilities, then commands answered by "return" or
// "error" carrying the command's "id", and asynchronous {"event": ...}
// messages at any time, including before the negotiation's answer.
//
// Ownership and threads: the client lives on one single-threaded
// io_context and is held by shared_ptr (its coroutines keep it alive).
// `connect` and `execute` are coroutines for that io_context. The *_sync
// variants and close() may be called from any other thread; calling a
// *_sync function on the io_context's own thread would deadlock.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "oriel/common/json.h"
#include "oriel/common/result.h"

namespace oriel::agent {

struct QmpEvent {
  std::string name;  // SHUTDOWN, POWERDOWN, RESET, STOP, RESUME, MIGRATION, BLOCK_IO_ERROR, ...
  Json data;         // the event's "data" (an empty object when absent)
};

using QmpEventHandler = std::function<void(const QmpEvent&)>;
// Called once when the connection ends for any reason but close(): QEMU
// exited, crashed, or sent something unparseable.
using QmpClosedHandler = std::function<void(const Error&)>;

class QmpClient : public std::enable_shared_from_this<QmpClient> {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};
  static constexpr size_t kMaxLine = 16 << 20;  // a longer line closes the connection

  // Connects, reads the greeting and negotiates capabilities within timeout.
  // The handlers run on the io_context thread; they must not block.
  static boost::asio::awaitable<Result<std::shared_ptr<QmpClient>>> connect(boost::asio::any_io_executor executor,
                                                                            std::string socket_path,
                                                                            std::chrono::milliseconds timeout,
                                                                            QmpEventHandler on_event,
                                                                            QmpClosedHandler on_closed);
  static Result<std::shared_ptr<QmpClient>> connect_sync(const boost::asio::any_io_executor& executor,
                                                         std::string socket_path, std::chrono::milliseconds timeout,
                                                         QmpEventHandler on_event, QmpClosedHandler on_closed);

  // Runs a command. QEMU's error becomes an Error with QEMU's class and
  // description (CommandNotFound → NotFound, DeviceNotFound → NotFound,
  // everything else → InvalidArgument); no reply in time → Timeout (a late
  // reply is dropped); connection lost → Unavailable, at once.
  boost::asio::awaitable<Result<Json>> execute(std::string command, Json arguments = Json::object(),
                                               std::chrono::milliseconds timeout = kDefaultTimeout);
  Result<Json> execute_sync(std::string command, Json arguments = Json::object(),
                            std::chrono::milliseconds timeout = kDefaultTimeout);

  // Closes the connection; pending commands fail with Unavailable. The
  // closed handler is not called. Safe from any thread, more than once.
  void close();
  bool is_open() const { return open_; }

  explicit QmpClient(const boost::asio::any_io_executor& executor);  // use connect()

 private:
  struct Pending {
    std::unique_ptr<boost::asio::steady_timer> wake;
    std::optional<Result<Json>> result;
  };

  boost::asio::awaitable<Result<void>> handshake(std::chrono::milliseconds timeout);
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void handle_line(std::string_view line);
  void shut(const Error& why, bool notify);

  boost::asio::any_io_executor executor_;
  boost::asio::local::stream_protocol::socket socket_;
  std::string read_buffer_;
  std::deque<std::string> write_queue_;
  bool writing_ = false;
  std::atomic<bool> open_{false};
  uint64_t next_id_ = 1;
  std::map<uint64_t, Pending> pending_;
  QmpEventHandler on_event_;
  QmpClosedHandler on_closed_;
};

}  // namespace oriel::agent
