// docs/display-protocol.md, versions 1 and 2. Little-endian fields; a reader that
// checks every length before it reads, so no client message can make the
// gateway read past its buffer.
#include "oriel/display/protocol.h"

#include <algorithm>

#include "oriel/common/utf8.h"

namespace oriel::display {
namespace {

void put8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void put16(std::string& out, uint16_t v) {
  put8(out, static_cast<uint8_t>(v));
  put8(out, static_cast<uint8_t>(v >> 8));
}
void put32(std::string& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v));
  put16(out, static_cast<uint16_t>(v >> 16));
}
// Coordinates are u16 on the wire; the gateway never has a screen past 65535.
void put_coord(std::string& out, int v) { put16(out, static_cast<uint16_t>(std::clamp(v, 0, 0xFFFF))); }
void put_rect(std::string& out, const Rect& r) {
  put_coord(out, r.x);
  put_coord(out, r.y);
  put_coord(out, r.w);
  put_coord(out, r.h);
}
void put_text(std::string& out, std::string_view text) {
  put32(out, static_cast<uint32_t>(text.size()));
  out.append(text);
}

// Reads one client message front to back; every read checks the length.
class Reader {
 public:
  Reader(std::string_view bytes, std::string_view what) : rest_(bytes), what_(what) {}

  Result<uint8_t> u8() {
    TRY(need(1));
    auto v = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return v;
  }
  Result<uint16_t> u16() {
    TRY(need(2));
    auto v = static_cast<uint16_t>(byte(0) | byte(1) << 8);
    rest_.remove_prefix(2);
    return v;
  }
  Result<uint32_t> u32() {
    TRY(need(4));
    uint32_t v = byte(0) | byte(1) << 8 | byte(2) << 16 | static_cast<uint32_t>(byte(3)) << 24;
    rest_.remove_prefix(4);
    return v;
  }
  Result<std::string> text(size_t max) {
    uint32_t n = TRY(u32());
    if (n > max) return Error::InvalidArgument(fmt::format("{}: text of {} bytes, more than {}", what_, n, max));
    TRY(need(n));
    std::string_view t = rest_.substr(0, n);
    if (!valid_utf8(t)) return Error::InvalidArgument(fmt::format("{}: text is not UTF-8", what_));
    rest_.remove_prefix(n);
    return std::string(t);
  }
  // The message must end here.
  Result<void> end() const {
    if (!rest_.empty()) return Error::InvalidArgument(fmt::format("{}: {} bytes too many", what_, rest_.size()));
    return Ok();
  }

 private:
  unsigned byte(size_t i) const { return static_cast<unsigned char>(rest_[i]); }
  Result<void> need(size_t n) const {
    if (rest_.size() < n) return Error::InvalidArgument(fmt::format("{}: truncated message", what_));
    return Ok();
  }

  std::string_view rest_;
  std::string_view what_;
};

template <typename T>
Result<ClientMessage> finish(Reader& r, T message) {
  TRY(r.end());
  return ClientMessage(std::move(message));
}

Result<ClientMessage> parse_hello(Reader& r) {
  ClientHello m;
  m.version = TRY(r.u16());
  m.width = TRY(r.u16());
  m.height = TRY(r.u16());
  if (m.version == 0) return Error::InvalidArgument("ClientHello: version 0");
  return finish(r, m);
}

Result<ClientMessage> parse_key(Reader& r) {
  KeyEvent m;
  uint8_t down = TRY(r.u8());
  if (down > 1) return Error::InvalidArgument("Key: 'down' is neither 0 nor 1");
  m.down = down == 1;
  m.keysym = TRY(r.u32());
  m.scancode = TRY(r.u16());
  return finish(r, m);
}

Result<ClientMessage> parse_pointer(Reader& r) {
  PointerEvent m;
  m.x = TRY(r.u16());
  m.y = TRY(r.u16());
  m.buttons = TRY(r.u8());
  if (m.buttons & 0x80) return Error::InvalidArgument("Pointer: button bit 7 is not defined");
  return finish(r, m);
}

Result<ClientMessage> parse_size(Reader& r) {
  RequestSize m;
  m.width = TRY(r.u16());
  m.height = TRY(r.u16());
  if (m.width == 0 || m.height == 0) return Error::InvalidArgument("RequestSize: a zero width or height");
  return finish(r, m);
}

}  // namespace

void write_server_hello(std::string& out, uint16_t version, uint16_t width, uint16_t height, uint8_t policy,
                        std::string_view name) {
  put8(out, static_cast<uint8_t>(ServerType::kServerHello));
  put16(out, version);
  put16(out, width);
  put16(out, height);
  put8(out, policy);
  put_text(out, name);
}

void write_resize(std::string& out, uint16_t width, uint16_t height) {
  put8(out, static_cast<uint8_t>(ServerType::kResize));
  put16(out, width);
  put16(out, height);
}

void write_solid(std::string& out, const Rect& r, uint8_t red, uint8_t green, uint8_t blue) {
  put8(out, static_cast<uint8_t>(ServerType::kSolid));
  put_rect(out, r);
  put8(out, red);
  put8(out, green);
  put8(out, blue);
}

void write_copy(std::string& out, int src_x, int src_y, const Rect& to) {
  put8(out, static_cast<uint8_t>(ServerType::kCopy));
  put_coord(out, src_x);
  put_coord(out, src_y);
  put_coord(out, to.w);
  put_coord(out, to.h);
  put_coord(out, to.x);
  put_coord(out, to.y);
}

void write_image_header(std::string& out, const Rect& r, Codec codec, uint32_t length) {
  put8(out, static_cast<uint8_t>(ServerType::kImage));
  put_rect(out, r);
  put8(out, static_cast<uint8_t>(codec));
  put32(out, length);
}

void write_cursor_shape(std::string& out, uint16_t hot_x, uint16_t hot_y, uint16_t w, uint16_t h,
                        std::string_view rgba) {
  put8(out, static_cast<uint8_t>(ServerType::kCursorShape));
  put16(out, hot_x);
  put16(out, hot_y);
  put16(out, w);
  put16(out, h);
  out.append(rgba);
}

void write_cursor_position(std::string& out, uint16_t x, uint16_t y) {
  put8(out, static_cast<uint8_t>(ServerType::kCursorPosition));
  put16(out, x);
  put16(out, y);
}

void write_clipboard(std::string& out, std::string_view text) {
  put8(out, static_cast<uint8_t>(ServerType::kClipboard));
  put_text(out, text);
}

void write_frame_end(std::string& out, uint32_t frame, uint32_t encode_us) {
  put8(out, static_cast<uint8_t>(ServerType::kFrameEnd));
  put32(out, frame);
  put32(out, encode_us);
}

void write_pong(std::string& out, uint32_t token) {
  put8(out, static_cast<uint8_t>(ServerType::kPong));
  put32(out, token);
}

Result<ClientMessage> parse_client_message(std::string_view bytes) {
  if (bytes.empty()) return Error::InvalidArgument("empty message");
  if (bytes.size() > kMaxClientMessageBytes) {
    return Error::InvalidArgument(
        fmt::format("message of {} bytes, more than {}", bytes.size(), kMaxClientMessageBytes));
  }
  auto type = static_cast<ClientType>(bytes[0]);
  switch (type) {
    case ClientType::kClientHello: {
      Reader r(bytes.substr(1), "ClientHello");
      return parse_hello(r);
    }
    case ClientType::kKey: {
      Reader r(bytes.substr(1), "Key");
      return parse_key(r);
    }
    case ClientType::kPointer: {
      Reader r(bytes.substr(1), "Pointer");
      return parse_pointer(r);
    }
    case ClientType::kClipboard: {
      Reader r(bytes.substr(1), "Clipboard");
      ClipboardText m{TRY(r.text(kMaxClipboardBytes))};
      return finish(r, std::move(m));
    }
    case ClientType::kFrameAck: {
      Reader r(bytes.substr(1), "FrameAck");
      FrameAck m{TRY(r.u32())};
      return finish(r, m);
    }
    case ClientType::kCtrlAltDel: {
      Reader r(bytes.substr(1), "CtrlAltDel");
      return finish(r, CtrlAltDel{});
    }
    case ClientType::kRequestSize: {
      Reader r(bytes.substr(1), "RequestSize");
      return parse_size(r);
    }
    case ClientType::kRefresh: {
      Reader r(bytes.substr(1), "Refresh");
      return finish(r, Refresh{});
    }
    case ClientType::kPing: {
      Reader r(bytes.substr(1), "Ping");
      Ping m{TRY(r.u32())};
      return finish(r, m);
    }
  }
  return Error::InvalidArgument(fmt::format("unknown message type 0x{:02x}", static_cast<unsigned char>(bytes[0])));
}

std::string encode_client_message(const ClientMessage& message) {
  std::string out;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ClientHello>) {
          put8(out, static_cast<uint8_t>(ClientType::kClientHello));
          put16(out, m.version);
          put16(out, m.width);
          put16(out, m.height);
        } else if constexpr (std::is_same_v<T, KeyEvent>) {
          put8(out, static_cast<uint8_t>(ClientType::kKey));
          put8(out, m.down ? 1 : 0);
          put32(out, m.keysym);
          put16(out, m.scancode);
        } else if constexpr (std::is_same_v<T, PointerEvent>) {
          put8(out, static_cast<uint8_t>(ClientType::kPointer));
          put16(out, m.x);
          put16(out, m.y);
          put8(out, m.buttons);
        } else if constexpr (std::is_same_v<T, ClipboardText>) {
          put8(out, static_cast<uint8_t>(ClientType::kClipboard));
          put_text(out, m.text);
        } else if constexpr (std::is_same_v<T, FrameAck>) {
          put8(out, static_cast<uint8_t>(ClientType::kFrameAck));
          put32(out, m.frame);
        } else if constexpr (std::is_same_v<T, CtrlAltDel>) {
          put8(out, static_cast<uint8_t>(ClientType::kCtrlAltDel));
        } else if constexpr (std::is_same_v<T, RequestSize>) {
          put8(out, static_cast<uint8_t>(ClientType::kRequestSize));
          put16(out, m.width);
          put16(out, m.height);
        } else if constexpr (std::is_same_v<T, Refresh>) {
          put8(out, static_cast<uint8_t>(ClientType::kRefresh));
        } else {
          put8(out, static_cast<uint8_t>(ClientType::kPing));
          put32(out, m.token);
        }
      },
      message);
  return out;
}

}  // namespace oriel::display
