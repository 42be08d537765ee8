// A display-protocol client for tests and the benchmark: a WebSocket whose
// every read is bounded by a timeout, and a model of the browser's
// screen that applies Solid, Copy and Image (PNG, JPEG) messages.
#pragma once

#include "oriel/net/websocket.h"  // first: it includes <utility> before Asio

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "oriel/display/protocol.h"
#include "oriel/net/tls.h"

namespace oriel::testing {

// What the client's canvas holds: RGBA, 4 bytes per pixel.
struct Screen {
  int width = 0, height = 0;
  std::vector<uint8_t> rgba;
  void resize(int w, int h);
};

struct Received {
  std::string bytes;                   // one WebSocket message
  std::optional<uint16_t> close_code;  // set when the server closed instead
  std::string close_reason;
  bool timed_out = false;
};

// The key presses and releases that type ASCII `text` on a US layout, with
// keysyms and PC scancodes (Shift around capitals and symbols).
std::vector<display::KeyEvent> key_events(const std::string& text);

class DisplayClient {
 public:
  // Connects to a display_url ("wss://HOST:PORT/display/ID?ticket=T"),
  // trusting `tls` for wss:// (orield's Orield::tls()).
  explicit DisplayClient(const std::string& display_url, std::shared_ptr<const net::TlsClient> tls = nullptr);
  ~DisplayClient();

  bool connected() const { return connected_; }
  void send(const display::ClientMessage& m);
  void send_raw(const std::string& bytes, bool binary = true);
  Received receive(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Receives until the server closes; returns its close code (0 if the
  // connection ended without a close frame, -1 on timeout).
  int wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(15));

  // Hello, then reads and applies messages, acking each frame, until
  // `frames` frames have arrived. False on close or timeout.
  bool hello_and_frames(int frames, std::chrono::milliseconds timeout = std::chrono::seconds(20),
                        uint16_t version = display::kProtocolVersion);
  // Reads and applies frames (acking them) for `period`; false on a close
  // or a message that does not decode.
  bool follow(std::chrono::milliseconds period);
  // Applies every protocol message of one WebSocket message; false on a
  // message it cannot decode. Counts FrameEnds and acks them.
  bool apply(const std::string& bytes);

  const Screen& screen() const { return screen_; }
  int frames() const { return frames_; }
  size_t bytes_received() const { return bytes_; }
  std::string desktop_name() const { return name_; }
  int policy() const { return policy_; }                         // ServerHello's clipboard bits
  int version() const { return version_; }                       // ServerHello's version
  const std::vector<uint32_t>& pongs() const { return pongs_; }  // tokens of the Pongs received
  // Why the last hello_and_frames() or follow() failed, for test messages.
  const std::string& error() const { return error_; }

  // Types ASCII text as key presses (keysym and US scancode per character).
  void type(const std::string& text);

 private:
  // Runs the io_context until `done` or the timeout; false on timeout.
  bool run_until(const bool& done, std::chrono::milliseconds timeout);
  // Applies a received message; false (with error_ set) on a close or a
  // message that does not decode.
  bool failed(const Received& r);

  boost::asio::io_context io_;
  std::optional<net::WebSocket> ws_;  // set once connected
  bool connected_ = false;
  // One read stays outstanding across receive() calls that time out, so a
  // timeout never tears a message.
  bool reading_ = false, read_done_ = false;
  boost::system::error_code read_error_;
  boost::beast::flat_buffer read_buffer_;
  Screen screen_;
  int frames_ = 0;
  size_t bytes_ = 0;
  std::string name_;
  int policy_ = -1;
  int version_ = 0;
  std::vector<uint32_t> pongs_;
  std::string error_;
};

}  // namespace oriel::testing
