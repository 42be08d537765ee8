// A real VNC client (libvncclient) that receives QEMU's screen with exactly
// one encoding, Tight (with JPEG at a given quality level) or ZRLE, through
// a relay that counts the bytes the server sends and paces the client: one
// FramebufferUpdateRequest goes to the server per frame the benchmark shows
// (RFB 7.5.3), so each recorded frame arrives as exactly one
// FramebufferUpdate, which is what gets measured.
//
// Both sockets are unix sockets on this machine. The server's bytes are
// external: a malformed stream ends the connection with an error (through
// libvncclient), never an abort. Not thread-safe except where noted; the
// relay runs its own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "oriel/common/result.h"

struct _rfbClient;

namespace oriel::bench {

class CountingRelay;

enum class VncEncoding { kZrle, kTight };

struct VncSettings {
  VncEncoding encoding = VncEncoding::kZrle;
  int tight_quality = 6;   // RFB JPEG quality level 0-9 (QEMU: JPEG quality 60 at 6)
  int tight_compress = 9;  // RFB compression level 0-9
};

// What one FramebufferUpdate cost.
struct UpdateFigures {
  uint64_t bytes = 0;  // every byte the server sent for it
  int64_t pixels = 0;  // area of its pixel rectangles
  int rects = 0;
};

class VncViewer {
 public:
  // Connects to `server_socket` through a relay listening on `relay_socket`
  // and waits until the first whole screen has arrived and the server is quiet.
  static Result<std::unique_ptr<VncViewer>> connect(const std::string& server_socket, const std::string& relay_socket,
                                                    const VncSettings& settings);
  ~VncViewer();
  VncViewer(const VncViewer&) = delete;
  VncViewer& operator=(const VncViewer&) = delete;

  // Lets one request through and waits for the update that answers it.
  // Call only when the screen differs from what the client has: the server
  // sends nothing for an unchanged screen.
  Result<UpdateFigures> next_update();

  const uint8_t* framebuffer() const;
  size_t stride() const;

 private:
  VncViewer() = default;
  Result<void> pump(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  _rfbClient* client_ = nullptr;
  std::unique_ptr<CountingRelay> relay_;
  int updates_done_ = 0;  // FramebufferUpdates completely handled
  int64_t pixels_ = 0;    // pixel area received so far
  int rects_ = 0;
};

}  // namespace oriel::bench
