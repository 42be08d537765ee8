// The display gateway: the WebSocket end of docs/display-protocol.md. It
// takes a browser's connection to /display/{session}?ticket=T, redeems the
// one-time ticket through the controller's hook, and serves the desktop's
// screen through a DisplaySession (its own thread, VNC reader and encoder).
//
// Threading: accept() and the connections run on the HTTP server's
// io_context; ticket redemption and the activity hooks (which reach the
// store) run on the gateway's own control thread; encoding on its encoder
// pool. Public methods are thread-safe.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "oriel/common/mutex.h"
#include "oriel/common/result.h"
#include "oriel/display/protocol.h"
#include "oriel/net/http.h"
#include "oriel/net/tls.h"

namespace oriel::display {

class DisplaySession;
class Connection;

// Where a redeemed ticket leads.
struct DisplayTarget {
  std::string session_id;
  std::string desktop_id;
  std::string desktop_name;
  // The desktop's VNC server: a unix socket path on this host, or the
  // wss:// URL of its agent's VNC stream on another host, reached with
  // vnc_tls (the cluster CA and the controller's certificate), or the
  // ws:// URL that takes vnc_token (the deprecated cluster token).
  std::string vnc;
  std::string vnc_token;
  std::shared_ptr<const net::TlsClient> vnc_tls;
  uint8_t policy = kClipboardToDesktop | kClipboardToClient;
};

struct GatewayHooks {
  // Redeems `ticket` for `session_id`. NotFound/Unauthenticated close the
  // socket with 4401, Conflict/Unavailable (desktop not running) with 4503.
  std::function<Result<DisplayTarget>(const std::string& session_id, const std::string& ticket)> redeem;
  // The user typed or moved the pointer (at most once per activity_interval).
  std::function<void(const std::string& session_id)> activity;
  // The session's browser went away.
  std::function<void(const std::string& session_id)> disconnected;
};

struct SessionTimings {
  std::chrono::milliseconds ack_timeout{30'000};      // frames unacknowledged this long: 4408
  std::chrono::milliseconds backend_retry{200};       // between attempts to reach the VNC server
  std::chrono::milliseconds backend_give_up{15'000};  // unreachable this long: 4503
  std::chrono::milliseconds activity_interval{10'000};
};

class Gateway {
 public:
  Gateway(GatewayHooks hooks, size_t encoder_threads, SessionTimings timings = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // The WebSocket handler of /display/{session}; call on the io_context.
  void accept(const net::Request& request, net::WebSocket&& ws);
  // The session ended (logoff): its browser is closed with `code`.
  void end_session(const std::string& session_id, CloseCode code, std::string reason);
  // The desktop's display moved (live migration): its sessions reconnect
  // their backend there.
  void move_desktop(const std::string& desktop_id, const std::string& vnc);
  // Closes every connection (1001) and stops every session. Idempotent.
  void stop();

  size_t session_count() const;
  // The gateway's added latency (VNC update read → frame handed to the
  // socket) of every session, most recent last: for the benchmark.
  std::vector<std::chrono::microseconds> latencies() const;

 private:
  friend class Connection;
  struct Entry {
    std::shared_ptr<DisplaySession> session;
    int connections = 0;
  };

  void start(const std::shared_ptr<Connection>& connection, Result<DisplayTarget> target);
  void closed(const std::shared_ptr<Connection>& connection);

  GatewayHooks hooks_;
  SessionTimings timings_;
  boost::asio::thread_pool encoders_;
  boost::asio::thread_pool control_;
  mutable Mutex mu_;
  std::map<std::string, Entry> sessions_ ORIEL_GUARDED_BY(mu_);
  std::map<Connection*, std::weak_ptr<Connection>> open_ ORIEL_GUARDED_BY(mu_);
  bool stopping_ ORIEL_GUARDED_BY(mu_) = false;
};

}  // namespace oriel::display
