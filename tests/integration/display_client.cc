#include "display_client.h"

#include <turbojpeg.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core.hpp>

#include <cstring>
#include <stdexcept>

#include "png_util.h"

namespace oriel::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Reads the server's little-endian fields; `ok` turns false past the end.
struct Cursor {
  const std::string& s;
  size_t at = 0;
  bool ok = true;
  uint32_t take(int bytes) {
    if (at + bytes > s.size()) {
      ok = false;
      return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    at += bytes;
    return v;
  }
  std::string bytes(size_t n) {
    if (at + n > s.size()) {
      ok = false;
      return {};
    }
    std::string out = s.substr(at, n);
    at += n;
    return out;
  }
};

bool decode_jpeg(const std::string& bytes, Image& out) {
  tjhandle tj = tjInitDecompress();
  int w = 0, h = 0, sub = 0, space = 0;
  auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  bool ok = tjDecompressHeader3(tj, data, bytes.size(), &w, &h, &sub, &space) == 0;
  if (ok) {
    out.width = w, out.height = h;
    out.rgba.resize(static_cast<size_t>(w) * h * 4);
    ok = tjDecompress2(tj, data, bytes.size(), out.rgba.data(), w, 0, h, TJPF_RGBA, 0) == 0;
  }
  tjDestroy(tj);
  return ok;
}

struct Key {
  uint32_t keysym;
  uint16_t scancode;
  bool shift;
};

// US layout, the characters tests type.
Key key_for(char c) {
  static const char* kLetters = "abcdefghijklmnopqrstuvwxyz";
  static const uint16_t kLetterCodes[] = {0x1e, 0x30, 0x2e, 0x20, 0x12, 0x21, 0x22, 0x23, 0x17, 0x24, 0x25, 0x26, 0x32,
                                          0x31, 0x18, 0x19, 0x10, 0x13, 0x1f, 0x14, 0x16, 0x2f, 0x11, 0x2d, 0x15, 0x2c};
  if (c >= 'a' && c <= 'z') return {static_cast<uint32_t>(c), kLetterCodes[std::strchr(kLetters, c) - kLetters], false};
  if (c >= 'A' && c <= 'Z') {
    Key k = key_for(static_cast<char>(c - 'A' + 'a'));
    return {static_cast<uint32_t>(c), k.scancode, true};
  }
  if (c >= '1' && c <= '9') return {static_cast<uint32_t>(c), static_cast<uint16_t>(0x02 + (c - '1')), false};
  switch (c) {
    case '0': return {'0', 0x0b, false};
    case ' ': return {' ', 0x39, false};
    case '\n': return {0xff0d, 0x1c, false};
    case '/': return {'/', 0x35, false};
    case '.': return {'.', 0x34, false};
    case '-': return {'-', 0x0c, false};
    case '>': return {'>', 0x34, true};
  }
  throw std::invalid_argument(std::string("DisplayClient::type: no key for '") + c + "'");
}

}  // namespace

void Screen::resize(int w, int h) {
  width = w, height = h;
  rgba.assign(static_cast<size_t>(w) * h * 4, 0);
}

DisplayClient::DisplayClient(const std::string& display_url, std::shared_ptr<const net::TlsClient> tls) {
  std::optional<Result<net::WebSocket>> ws;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        ws.emplace(co_await net::connect_websocket(display_url, "", std::chrono::seconds(10), std::move(tls)));
      },
      asio::detached);
  io_.run();
  connected_ = ws && ws->ok();
  if (!connected_) return;
  ws_.emplace(std::move(**ws));
  ws_->binary(true);
  ws_->read_message_max(64 << 20);
}

DisplayClient::~DisplayClient() {
  beast::error_code ec;
  if (ws_) beast::get_lowest_layer(*ws_).socket().close(ec);
}

void DisplayClient::send(const display::ClientMessage& m) { send_raw(display::encode_client_message(m)); }

void DisplayClient::send_raw(const std::string& bytes, bool binary) {
  if (!ws_) return;
  ws_->binary(binary);
  bool done = false;
  ws_->async_write(asio::buffer(bytes), [&](beast::error_code, size_t) { done = true; });
  run_until(done, std::chrono::seconds(10));
  ws_->binary(true);
}

bool DisplayClient::run_until(const bool& done, std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (!done && SteadyClock::now() < deadline) {
    io_.restart();
    io_.run_one_until(deadline);
  }
  return done;
}

Received DisplayClient::receive(std::chrono::milliseconds timeout) {
  if (!ws_) return Received{.close_code = 0, .close_reason = "not connected"};
  if (!reading_) {
    reading_ = true;
    read_done_ = false;
    ws_->async_read(read_buffer_, [this](beast::error_code ec, size_t) {
      read_error_ = ec;
      read_done_ = true;
    });
  }
  Received r;
  if (!run_until(read_done_, timeout)) {
    r.timed_out = true;
    return r;
  }
  reading_ = false;
  if (read_error_ == websocket::error::closed) {
    r.close_code = static_cast<uint16_t>(ws_->reason().code);
    r.close_reason = std::string(ws_->reason().reason.data(), ws_->reason().reason.size());
  } else if (read_error_) {
    r.close_code = 0;
    r.close_reason = read_error_.message();
  } else {
    r.bytes = beast::buffers_to_string(read_buffer_.data());
    bytes_ += r.bytes.size();
  }
  read_buffer_.consume(read_buffer_.size());
  return r;
}

int DisplayClient::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    Received r = receive(std::chrono::milliseconds(500));
    if (r.close_code) return *r.close_code;
  }
  return -1;
}

bool DisplayClient::apply(const std::string& bytes) {
  Cursor c{bytes};
  while (c.ok && c.at < bytes.size()) {
    auto type = static_cast<display::ServerType>(c.take(1));
    switch (type) {
      case display::ServerType::kServerHello: {
        version_ = static_cast<int>(c.take(2));
        int w = static_cast<int>(c.take(2)), h = static_cast<int>(c.take(2));
        policy_ = static_cast<int>(c.take(1));
        name_ = c.bytes(c.take(4));
        screen_.resize(w, h);
        break;
      }
      case display::ServerType::kResize: {
        int w = static_cast<int>(c.take(2));
        screen_.resize(w, static_cast<int>(c.take(2)));
        break;
      }
      case display::ServerType::kSolid: {
        int x = c.take(2), y = c.take(2), w = c.take(2), h = c.take(2);
        uint8_t rgb[3] = {uint8_t(c.take(1)), uint8_t(c.take(1)), uint8_t(c.take(1))};
        if (x + w > screen_.width || y + h > screen_.height) return false;
        for (int row = y; row < y + h; ++row) {
          for (int col = x; col < x + w; ++col) {
            uint8_t* p = &screen_.rgba[(static_cast<size_t>(row) * screen_.width + col) * 4];
            p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2], p[3] = 255;
          }
        }
        break;
      }
      case display::ServerType::kCopy: {
        int sx = c.take(2), sy = c.take(2), w = c.take(2), h = c.take(2), x = c.take(2), y = c.take(2);
        if (sx + w > screen_.width || sy + h > screen_.height || x + w > screen_.width || y + h > screen_.height) {
          return false;
        }
        std::vector<uint8_t> copy = screen_.rgba;  // the source as it was
        for (int row = 0; row < h; ++row) {
          std::memcpy(&screen_.rgba[(static_cast<size_t>(y + row) * screen_.width + x) * 4],
                      &copy[(static_cast<size_t>(sy + row) * screen_.width + sx) * 4], static_cast<size_t>(w) * 4);
        }
        break;
      }
      case display::ServerType::kImage: {
        int x = c.take(2), y = c.take(2), w = c.take(2), h = c.take(2);
        auto codec = static_cast<display::Codec>(c.take(1));
        std::string data = c.bytes(c.take(4));
        Image img;
        bool ok = codec == display::Codec::kPng ? decode_png(data, img)
                                                : codec == display::Codec::kJpeg && decode_jpeg(data, img);
        if (!ok || img.width != w || img.height != h || x + w > screen_.width || y + h > screen_.height) return false;
        for (int row = 0; row < h; ++row) {
          std::memcpy(&screen_.rgba[(static_cast<size_t>(y + row) * screen_.width + x) * 4],
                      &img.rgba[static_cast<size_t>(row) * w * 4], static_cast<size_t>(w) * 4);
        }
        break;
      }
      case display::ServerType::kCursorShape: {
        c.take(4);
        size_t w = c.take(2), h = c.take(2);
        c.bytes(w * h * 4);
        break;
      }
      case display::ServerType::kCursorPosition: c.take(4); break;
      case display::ServerType::kClipboard: c.bytes(c.take(4)); break;
      case display::ServerType::kFrameEnd: {
        uint32_t frame = c.take(4);
        c.take(4);
        ++frames_;
        send(display::FrameAck{frame});
        break;
      }
      case display::ServerType::kPong: pongs_.push_back(c.take(4)); break;
      default: return false;
    }
  }
  return c.ok;
}

bool DisplayClient::failed(const Received& r) {
  if (r.close_code) {
    error_ = "closed with " + std::to_string(*r.close_code) + ": " + r.close_reason;
    return false;
  }
  if (!r.bytes.empty() && !apply(r.bytes)) {
    error_ = "cannot apply a message of " + std::to_string(r.bytes.size()) + " bytes";
    return false;
  }
  return true;
}

bool DisplayClient::hello_and_frames(int frames, std::chrono::milliseconds timeout, uint16_t version) {
  send(display::ClientHello{version, 1280, 800});
  auto deadline = SteadyClock::now() + timeout;
  while (frames_ < frames && SteadyClock::now() < deadline) {
    Received r = receive(std::chrono::milliseconds(1000));
    if (!failed(r)) return false;
  }
  if (frames_ < frames) error_ = "timed out waiting for frames";
  return frames_ >= frames;
}

bool DisplayClient::follow(std::chrono::milliseconds period) {
  auto deadline = SteadyClock::now() + period;
  for (auto now = SteadyClock::now(); now < deadline; now = SteadyClock::now()) {
    Received r = receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    if (!r.timed_out && !failed(r)) return false;
  }
  return true;
}

std::vector<display::KeyEvent> key_events(const std::string& text) {
  std::vector<display::KeyEvent> events;
  for (char ch : text) {
    Key k = key_for(ch);
    if (k.shift) events.push_back({true, 0xffe1, 0x2a});
    events.push_back({true, k.keysym, k.scancode});
    events.push_back({false, k.keysym, k.scancode});
    if (k.shift) events.push_back({false, 0xffe1, 0x2a});
  }
  return events;
}

void DisplayClient::type(const std::string& text) {
  for (const auto& e : key_events(text)) send(e);
}

}  // namespace oriel::testing
