// The display protocol between the gateway and the browser client
// (docs/display-protocol.md, versions 1 and 2): writers for the server's messages
// and a parser for the client's. Pure functions over bytes; no I/O, no
// state, safe from any thread. Client bytes are untrusted: parse_client_message
// returns an error for every malformed message and never asserts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "oriel/common/result.h"

namespace oriel::display {

// The newest version the gateway speaks; a client's hello may ask for less.
// Version 2 adds Ping and Pong.
inline constexpr uint16_t kProtocolVersion = 2;
inline constexpr size_t kMaxClipboardBytes = 1 << 20;
inline constexpr size_t kMaxClientMessageBytes = kMaxClipboardBytes + 5;
inline constexpr int kMaxFramesInFlight = 2;

enum class ServerType : uint8_t {
  kServerHello = 0x01,
  kResize = 0x02,
  kSolid = 0x10,
  kCopy = 0x11,
  kImage = 0x12,
  kCursorShape = 0x20,
  kCursorPosition = 0x21,
  kClipboard = 0x30,
  kFrameEnd = 0x40,
  kPong = 0x41,  // version 2
};

enum class ClientType : uint8_t {
  kClientHello = 0x81,
  kKey = 0x82,
  kPointer = 0x83,
  kClipboard = 0x84,
  kFrameAck = 0x85,
  kCtrlAltDel = 0x86,
  kRequestSize = 0x87,
  kRefresh = 0x88,
  kPing = 0x89,  // version 2
};

enum class Codec : uint8_t { kPng = 1, kJpeg = 2, kWebp = 3 };

// ServerHello policy bits: which way the clipboard may go.
enum PolicyBits : uint8_t { kClipboardToDesktop = 0x01, kClipboardToClient = 0x02 };

// WebSocket close codes (RFC 6455 §7.4.2 leaves 4000-4999 to applications).
enum class CloseCode : uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,
  kTooBig = 1009,
  kProtocolError = 4400,
  kBadTicket = 4401,
  kNoSession = 4404,
  kTooSlow = 4408,
  kReplaced = 4409,
  kLoggedOff = 4410,
  kDisconnected = 4411,
  kDisplayUnavailable = 4503,
};

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w <= 0 || h <= 0; }
  bool operator==(const Rect&) const = default;
};

// ----------------------------------------------------------- server → client
// Each appends one complete message to `out`; a WebSocket message may carry
// several back to back (a whole frame).

void write_server_hello(std::string& out, uint16_t version, uint16_t width, uint16_t height, uint8_t policy,
                        std::string_view name);
void write_resize(std::string& out, uint16_t width, uint16_t height);
void write_solid(std::string& out, const Rect& r, uint8_t red, uint8_t green, uint8_t blue);
void write_copy(std::string& out, int src_x, int src_y, const Rect& to);
// The image message's header for `length` bytes of encoded image, which the
// caller appends next.
void write_image_header(std::string& out, const Rect& r, Codec codec, uint32_t length);
void write_cursor_shape(std::string& out, uint16_t hot_x, uint16_t hot_y, uint16_t w, uint16_t h,
                        std::string_view rgba);
void write_cursor_position(std::string& out, uint16_t x, uint16_t y);
void write_clipboard(std::string& out, std::string_view text);
void write_frame_end(std::string& out, uint32_t frame, uint32_t encode_us);
void write_pong(std::string& out, uint32_t token);

// ----------------------------------------------------------- client → server

struct ClientHello {
  uint16_t version = 0;
  uint16_t width = 0, height = 0;
};
struct KeyEvent {
  bool down = false;
  uint32_t keysym = 0;
  uint16_t scancode = 0;  // PC/AT set 1; 0xE0xx for extended keys; 0 unknown
};
struct PointerEvent {
  uint16_t x = 0, y = 0;
  uint8_t buttons = 0;  // RFB 7.5.5 mask
};
struct ClipboardText {
  std::string text;  // valid UTF-8
};
struct FrameAck {
  uint32_t frame = 0;
};
struct CtrlAltDel {};
struct RequestSize {
  uint16_t width = 0, height = 0;
};
struct Refresh {};
struct Ping {
  uint32_t token = 0;  // echoed in the Pong
};

using ClientMessage =
    std::variant<ClientHello, KeyEvent, PointerEvent, ClipboardText, FrameAck, CtrlAltDel, RequestSize, Refresh, Ping>;

// The version both sides speak after a hello asking for `requested` (≥ 1).
inline uint16_t negotiated_version(uint16_t requested) {
  return requested < kProtocolVersion ? requested : kProtocolVersion;
}

// One whole WebSocket message from the client. InvalidArgument names the
// message and what is wrong with it (unknown type, truncated, trailing bytes,
// oversize, text that is not UTF-8, a zero size).
Result<ClientMessage> parse_client_message(std::string_view bytes);

// The client's messages, for tests, the fuzzer's corpus and the benchmark.
std::string encode_client_message(const ClientMessage& message);

}  // namespace oriel::display
