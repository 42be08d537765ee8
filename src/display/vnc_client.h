// One RFB connection to a desktop's VNC server (QEMU's, on a local unix
// socket), through libvncclient. Asks for raw pixels (the hop is local, so
// the cheapest encoding for both sides), QEMU's extended key events (PC
// scancodes, so the guest's keyboard layout applies), cursor shapes and
// desktop resizes. Not thread-safe: the display session's thread owns it,
// reads with handle_message() when fd() is readable, and sends input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "oriel/common/result.h"
#include "oriel/display/frame_encoder.h"
#include "oriel/display/protocol.h"
#include "oriel/net/tls.h"

struct _rfbClient;  // NOLINT(bugprone-reserved-identifier): libvncclient's own name

namespace oriel::display {

// What the server's messages mean for the session; called from inside
// handle_message(), on the owner's thread.
class VncEvents {
 public:
  virtual ~VncEvents() = default;
  virtual void on_resize(int width, int height) = 0;  // the framebuffer is new: everything is damaged
  virtual void on_damage(const Rect& r) = 0;
  virtual void on_update_done() = 0;  // the framebuffer is consistent
  virtual void on_cursor(int hot_x, int hot_y, int width, int height, std::string rgba) = 0;
  virtual void on_clipboard(std::string utf8) = 0;
};

class VncClient {
 public:
  // Connects (to a unix socket path, or a wss:// URL of another host's
  // agent with `tls`: vnc_transport.h) and completes the RFB
  // handshake; the first full update is requested. Unavailable with the
  // reason when the server is not there.
  static Result<std::unique_ptr<VncClient>> connect(const std::string& address, const std::string& token,
                                                    std::shared_ptr<const net::TlsClient> tls, VncEvents& events);
  ~VncClient();
  VncClient(const VncClient&) = delete;
  VncClient& operator=(const VncClient&) = delete;

  int fd() const;
  // Bytes already read from the socket but not yet handled: handle them
  // before waiting on fd() again.
  bool has_buffered() const;
  // Handles one server message; an error means the connection is over.
  Result<void> handle_message();

  FrameView frame() const;
  const std::string& desktop_name() const { return name_; }

  void key(uint32_t keysym, uint16_t scancode, bool down);
  void pointer(int x, int y, uint8_t buttons);
  void clipboard(const std::string& utf8);
  void request_full_update();

 private:
  VncClient(_rfbClient* client, VncEvents& events);

  _rfbClient* client_;
  VncEvents& events_;
  std::string name_;
};

}  // namespace oriel::display
