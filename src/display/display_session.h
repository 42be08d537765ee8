// One desktop session on the gateway: the VNC connection to the desktop, the
// framebuffer it fills, the encoder, and the browser connected to it.
//
// One thread per session owns all of that and does all the work in order:
// read a VNC update, encode what changed, hand the frame to the client's
// sink. Encoding itself fans out on the shared encoder pool. Other threads
// talk to the session only through its public methods, which queue a
// command and wake the thread, so there is no lock around the framebuffer
// and no copy of it: the encoder reads libvncclient's buffer between two
// VNC messages, when it is consistent.
//
// Flow control: at most kMaxFramesInFlight frames unacknowledged. While the
// client is behind, changes merge into one damage region and the next frame
// is encoded from the framebuffer as it is when the ack arrives.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "oriel/display/gateway.h"
#include "oriel/display/protocol.h"

namespace oriel::display {

// The browser's end: called on the session thread, so it must not block.
class ClientSink {
 public:
  virtual ~ClientSink() = default;
  virtual void send(std::string message) = 0;  // one WebSocket message
  virtual void close(CloseCode code, std::string reason) = 0;
};

class DisplaySession {
 public:
  DisplaySession(DisplayTarget target, boost::asio::thread_pool& encoders, SessionTimings timings = {});
  ~DisplaySession();  // stops the thread; the client is not closed (the caller does that)
  DisplaySession(const DisplaySession&) = delete;
  DisplaySession& operator=(const DisplaySession&) = delete;

  // The client to serve from now on; an earlier one is closed with 4409.
  // Nothing is sent before its ClientHello arrives through input().
  void attach(std::shared_ptr<ClientSink> sink);
  // The client went away (only if it is still the attached one).
  void detach(const ClientSink* sink);
  // A parsed message from the client `from` (ignored if it is not attached).
  void input(const ClientSink* from, ClientMessage message);
  // The desktop's display moved (live migration): reconnect there. The
  // client sees a short freeze, then a full frame.
  void move_backend(std::string vnc);
  // Closes the attached client with `code` and stops serving.
  void end(CloseCode code, std::string reason);
  // Stops the thread now, without telling the client (shutdown). Idempotent.
  void stop();

  const DisplayTarget& target() const { return target_; }
  bool has_client() const;
  // Gateway latency: from the end of reading a VNC update to handing its
  // frame to the sink, over the last frames (for the benchmark and logs).
  std::vector<std::chrono::microseconds> latencies() const;

 private:
  class Worker;

  void post(std::function<void(Worker&)> command);

  DisplayTarget target_;
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
};

}  // namespace oriel::display
