// libvncclient glue. The library calls plain C callbacks; each finds its
// VncClient through the rfbClient's client data.
#include "vnc_client.h"

#include "vnc_transport.h"

#include <rfb/rfbclient.h>

#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "oriel/common/log.h"

namespace oriel::display {
namespace {

int kTag;  // its address tags our pointer in the rfbClient

VncClient* self(rfbClient* c) { return static_cast<VncClient*>(rfbClientGetClientData(c, &kTag)); }

// libvncclient logs with printf-style globals; they go to our log, its
// errors (why a connection was lost) where an operator sees them.
void log_line(spdlog::level::level_enum level, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  std::string_view text(line);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  spdlog::log(level, "vnc: {}", text);
}

void log_debug(const char* format, ...) {
  va_list args;
  va_start(args, format);
  log_line(spdlog::level::debug, format, args);
  va_end(args);
}

void log_error(const char* format, ...) {
  va_list args;
  va_start(args, format);
  log_line(spdlog::level::info, format, args);
  va_end(args);
}

// RFB text is Latin-1 (RFB 7.5.6, 7.6.4); the browser's is UTF-8.
std::string latin1_to_utf8(std::string_view in) {
  std::string out;
  for (unsigned char c : in) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | c >> 6);
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// Characters past U+00FF cannot travel over RFB and are dropped.
std::string utf8_to_latin1(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if ((c == 0xC2 || c == 0xC3) && i + 1 < in.size()) {
      out += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(in[++i]) & 0x3F));
    }
  }
  return out;
}

// QEMU's extended key event wants one byte per key: an 0xE0-prefixed
// scancode is sent with its high bit set (the RFB QEMU Extended Key Event).
uint32_t qemu_keycode(uint16_t scancode) {
  if ((scancode >> 8) == 0xE0 && (scancode & 0xFF) < 0x80) return 0x80 | (scancode & 0x7F);
  return scancode;
}

// The encodings we want (RFB 7.5.2), replacing libvncclient's list: it
// always offers ExtendedDesktopSize, then ignores QEMU's resize because
// QEMU numbers its one screen 0, and fails on the next, larger update.
// Without it QEMU announces resizes with the plain DesktopSize.
bool set_encodings(rfbClient* c) {
  const uint32_t kEncodings[] = {
      rfbEncodingRaw,       rfbEncodingCopyRect, rfbEncodingRichCursor,          rfbEncodingXCursor,
      rfbEncodingNewFBSize, rfbEncodingLastRect, rfbEncodingQemuExtendedKeyEvent};
  std::string msg = {static_cast<char>(rfbSetEncodings), 0, 0, static_cast<char>(std::size(kEncodings))};
  for (uint32_t e : kEncodings) {
    for (int shift = 24; shift >= 0; shift -= 8) msg += static_cast<char>(e >> shift);  // big-endian (RFB 7.1)
  }
  return WriteToRFBServer(c, msg.data(), static_cast<unsigned>(msg.size()));
}

}  // namespace

Result<std::unique_ptr<VncClient>> VncClient::connect(const std::string& address, const std::string& token,
                                                      std::shared_ptr<const net::TlsClient> tls, VncEvents& events) {
  static std::once_flag logging;
  std::call_once(logging, [] {
    rfbClientLog = log_debug;
    rfbClientErr = log_error;
  });
  rfbClient* c = rfbGetClient(8, 3, 4);  // 32 bpp, bytes R,G,B,X in memory
  if (c == nullptr) return Error::Internal("libvncclient could not allocate a client");
  // Owned by the client from here: rfbClientCleanup frees serverHost.
  std::unique_ptr<VncClient> client(new VncClient(c, events));
  std::free(c->serverHost);
  c->serverHost = strdup(address.c_str());
  c->serverPort = 0;
  c->appData.encodingsString = "raw copyrect";  // replaced by set_encodings() once connected
  c->appData.useRemoteCursor = TRUE;
  c->appData.shareDesktop = TRUE;
  c->canHandleNewFBSize = TRUE;
  c->connectTimeout = 5;
  c->readTimeout = 10;
  c->MallocFrameBuffer = [](rfbClient* rc) -> rfbBool {
    std::free(rc->frameBuffer);
    size_t bytes = static_cast<size_t>(rc->width) * rc->height * 4;
    rc->frameBuffer = static_cast<uint8_t*>(std::calloc(bytes ? bytes : 1, 1));
    if (rc->frameBuffer == nullptr) return FALSE;
    if (auto* s = self(rc)) s->events_.on_resize(rc->width, rc->height);
    return TRUE;
  };
  c->GotFrameBufferUpdate = [](rfbClient* rc, int x, int y, int w, int h) {
    if (auto* s = self(rc)) s->events_.on_damage(Rect{x, y, w, h});
  };
  c->FinishedFrameBufferUpdate = [](rfbClient* rc) {
    if (auto* s = self(rc)) s->events_.on_update_done();
  };
  c->GotXCutText = [](rfbClient* rc, const char* text, int length) {
    if (auto* s = self(rc); s && length >= 0) s->events_.on_clipboard(latin1_to_utf8({text, size_t(length)}));
  };
  c->GotCursorShape = [](rfbClient* rc, int hot_x, int hot_y, int w, int h, int bytes_per_pixel) {
    auto* s = self(rc);
    if (!s || bytes_per_pixel != 4 || w <= 0 || h <= 0 || !rc->rcSource || !rc->rcMask) return;
    std::string rgba(static_cast<size_t>(w) * h * 4, '\0');
    for (int i = 0; i < w * h; ++i) {
      std::memcpy(&rgba[i * 4], rc->rcSource + i * 4, 3);
      rgba[i * 4 + 3] = rc->rcMask[i] ? '\xff' : '\0';
    }
    s->events_.on_cursor(hot_x, hot_y, w, h, std::move(rgba));
  };
  rfbClientSetClientData(c, &kTag, client.get());
  // The stream is ours (a unix socket, or a bridge to another host's
  // agent); from there on it is what rfbInitClient does after connecting.
  c->sock = TRY(open_vnc_stream(address, token, std::move(tls), std::chrono::seconds(c->connectTimeout)));
  bool ok = InitialiseRFBConnection(c);
  if (ok) {
    c->width = c->si.framebufferWidth;
    c->height = c->si.framebufferHeight;
    ok = c->MallocFrameBuffer(c) && SetFormatAndEncodings(c) &&
         SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, FALSE);
  }
  if (!ok) return Error::Unavailable(fmt::format("cannot open the desktop's display at {}", address));
  if (!set_encodings(c)) return Error::Unavailable(fmt::format("the desktop's display at {} hung up", address));
  client->name_ = c->desktopName ? c->desktopName : "";
  return client;
}

VncClient::VncClient(rfbClient* client, VncEvents& events) : client_(client), events_(events) {}

VncClient::~VncClient() {
  if (client_ == nullptr) return;
  uint8_t* frame = client_->frameBuffer;
  if (client_->sock != RFB_INVALID_SOCKET) ::close(client_->sock);
  client_->sock = RFB_INVALID_SOCKET;
  rfbClientCleanup(client_);
  std::free(frame);
}

int VncClient::fd() const { return client_->sock; }

bool VncClient::has_buffered() const { return client_->buffered > 0; }

Result<void> VncClient::handle_message() {
  if (!HandleRFBServerMessage(client_)) return Error::Unavailable("the desktop's VNC connection was lost");
  return Ok();
}

FrameView VncClient::frame() const {
  return FrameView{client_->frameBuffer, client_->width, client_->height, static_cast<size_t>(client_->width) * 4};
}

void VncClient::key(uint32_t keysym, uint16_t scancode, bool down) {
  if (scancode != 0 && SendExtendedKeyEvent(client_, keysym, qemu_keycode(scancode), down ? TRUE : FALSE)) return;
  SendKeyEvent(client_, keysym, down ? TRUE : FALSE);
}

void VncClient::pointer(int x, int y, uint8_t buttons) { SendPointerEvent(client_, x, y, buttons); }

void VncClient::clipboard(const std::string& utf8) {
  std::string text = utf8_to_latin1(utf8);
  SendClientCutText(client_, text.data(), static_cast<int>(text.size()));
}

void VncClient::request_full_update() {
  SendFramebufferUpdateRequest(client_, 0, 0, client_->width, client_->height, FALSE);
}

}  // namespace oriel::display
