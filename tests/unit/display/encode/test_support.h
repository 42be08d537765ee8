// Test support for the encoder's tests: frames and scenes to draw on them
// (a noise wallpaper, windows with pseudo-text), and a model of the
// browser's canvas that applies what the encoder sends (Copy as "read the
// whole source first", Solid, PNG and JPEG decoded with libpng and
// TurboJPEG) so that a test can compare the result with the frame, pixel
// for pixel.
#pragma once

#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "oriel/display/frame_encoder.h"

namespace oriel::display::test_support {

using SteadyClock = std::chrono::steady_clock;

struct Frame {
  int width, height;
  size_t stride;
  std::vector<uint8_t> bytes;
  Frame(int w, int h, size_t pad = 0) : width(w), height(h), stride(w * 4 + pad), bytes(stride * h, 0) {}
  uint8_t* at(int x, int y) { return &bytes[y * stride + x * 4]; }
  void set(int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    uint8_t* p = at(x, y);
    p[0] = r, p[1] = g, p[2] = b, p[3] = 0x5a;  // the X byte is noise
  }
  FrameView view() const { return {bytes.data(), width, height, stride}; }
};

// Text-like content: a background, a band of "glyphs", and a gradient.
inline Frame desktop(int w, int h) {
  Frame f(w, h, 12);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (y > h / 2) {
        f.set(x, y, uint8_t(x), uint8_t(y), uint8_t(x + y));
      } else if (y % 9 < 7 && x % 7 < 5 && (x * 31 + y * 17) % 5 < 3) {
        f.set(x, y, 20, 20, 20);
      } else {
        f.set(x, y, 240, 240, 235);
      }
    }
  }
  return f;
}

inline uint32_t u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(s[at + i])) << (8 * i);
  return v;
}
inline int u16(const std::string& s, size_t at) { return uint8_t(s[at]) | uint8_t(s[at + 1]) << 8; }

// The browser's canvas: RGB per pixel.
struct Canvas {
  int width, height;
  std::vector<uint8_t> rgb;
  Canvas(int w, int h) : width(w), height(h), rgb(size_t(w) * h * 3, 0) {}
  void apply(const std::string& m) {
    if (m[0] == char(ServerType::kCopy)) {
      ASSERT_EQ(m.size(), 13u);
      int sx = u16(m, 1), sy = u16(m, 3), w = u16(m, 5), h = u16(m, 7), x = u16(m, 9), y = u16(m, 11);
      ASSERT_LE(std::max(sx, x) + w, width);
      ASSERT_LE(std::max(sy, y) + h, height);
      std::vector<uint8_t> before = rgb;  // as if the source were read first
      for (int r = 0; r < h; ++r) {
        std::memcpy(&rgb[(size_t(y + r) * width + x) * 3], &before[(size_t(sy + r) * width + sx) * 3], size_t(w) * 3);
      }
      return;
    }
    int x = u16(m, 1), y = u16(m, 3), w = u16(m, 5), h = u16(m, 7);
    ASSERT_LE(x + w, width);
    ASSERT_LE(y + h, height);
    if (m[0] == char(ServerType::kSolid)) {
      ASSERT_EQ(m.size(), 12u);
      for (int r = y; r < y + h; ++r) {
        for (int c = x; c < x + w; ++c) std::memcpy(&rgb[(size_t(r) * width + c) * 3], &m[9], 3);
      }
      return;
    }
    ASSERT_EQ(m[0], char(ServerType::kImage));
    ASSERT_EQ(u32(m, 10), m.size() - 14);
    if (m[9] == char(Codec::kJpeg)) {
      tjhandle tj = tjInitDecompress();
      std::vector<uint8_t> px(size_t(w) * h * 3);
      int jw = 0, jh = 0, sub = 0, space = 0;
      auto* data = reinterpret_cast<const unsigned char*>(m.data() + 14);
      ASSERT_EQ(tjDecompressHeader3(tj, data, m.size() - 14, &jw, &jh, &sub, &space), 0);
      ASSERT_EQ(jw, w);
      ASSERT_EQ(jh, h);
      ASSERT_EQ(tjDecompress2(tj, data, m.size() - 14, px.data(), w, 0, h, TJPF_RGB, 0), 0);
      tjDestroy(tj);
      for (int r = 0; r < h; ++r) std::memcpy(&rgb[(size_t(y + r) * width + x) * 3], &px[size_t(r) * w * 3], w * 3);
      return;
    }
    ASSERT_EQ(m[9], char(Codec::kPng));
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    ASSERT_TRUE(png_image_begin_read_from_memory(&img, m.data() + 14, m.size() - 14));
    img.format = PNG_FORMAT_RGB;
    ASSERT_EQ(int(img.width), w);
    ASSERT_EQ(int(img.height), h);
    std::vector<uint8_t> px(PNG_IMAGE_SIZE(img));
    ASSERT_TRUE(png_image_finish_read(&img, nullptr, px.data(), 0, nullptr));
    for (int r = 0; r < h; ++r) std::memcpy(&rgb[(size_t(y + r) * width + x) * 3], &px[size_t(r) * w * 3], w * 3);
  }
  bool equals(Frame& f) const {
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        if (std::memcmp(&rgb[(size_t(y) * width + x) * 3], f.at(x, y), 3) != 0) return false;
      }
    }
    return true;
  }
};

inline std::vector<std::string> encode(FrameEncoder& e, Frame& f, std::vector<Rect> damage,
                                       EncodeStats* stats = nullptr, SteadyClock::time_point now = SteadyClock::now(),
                                       Quality q = {.allow_lossy = false}) {
  std::vector<std::string> out;
  auto s = e.encode(f.view(), damage, now, q, out);
  if (stats) *stats = s;
  return out;
}

// A wallpaper of noise: no part of it matches another, so what a moved
// window uncovers must be sent. (A repeating pattern would be copied from
// elsewhere on the screen, rightly, but would blur what these tests look at.)
inline Frame wallpaper(int w, int h) {
  Frame f(w, h, 8);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint32_t v = (uint32_t(x) * 2654435761u ^ uint32_t(y) * 2246822519u) * 3266489917u;
      f.set(x, y, uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8));
    }
  }
  return f;
}

inline uint32_t mix(uint32_t a, uint32_t b, uint32_t c) {
  uint64_t v = (uint64_t(a) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(b) * 0xC2B2AE3D27D4EB4Full) ^
               (uint64_t(c) * 0x165667B19E3779F9ull);
  v ^= v >> 29;
  v *= 0xBF58476D1CE4E5B9ull;
  return uint32_t(v >> 32);
}

// A window at (x, y), clipped to the frame: a title bar, a border and lines
// of pseudo-text (3-pixel cells whose rows differ, as glyphs' do) that move
// with it.
inline void draw_window(Frame& f, int x0, int y0, int w, int h, uint32_t seed = 1) {
  for (int y = std::max(y0, 0); y < std::min(y0 + h, f.height); ++y) {
    for (int x = std::max(x0, 0); x < std::min(x0 + w, f.width); ++x) {
      int wx = x - x0, wy = y - y0;
      bool border = wx == 0 || wy == 0 || wx == w - 1 || wy == h - 1;
      bool ink = wy >= 24 && wy % 14 > 2 && wy % 14 < 12 && wx > 6 && wx < w - 6 &&
                 mix(uint32_t(wx / 3), uint32_t(wy), seed) % 3 == 0;
      if (border) {
        f.set(x, y, 30, 30, 30);
      } else if (wy < 20) {
        f.set(x, y, 40, 90, 200);
      } else {
        f.set(x, y, ink ? 20 : 250, ink ? 20 : 250, ink ? 30 : 245);
      }
    }
  }
}

inline Frame desktop_with_window(int w, int h, Rect window, uint32_t seed = 1) {
  Frame f = wallpaper(w, h);
  draw_window(f, window.x, window.y, window.w, window.h, seed);
  return f;
}

// A Copy message's fields.
struct CopyMessage {
  int src_x, src_y, w, h, x, y;
};

inline std::vector<CopyMessage> copies_in(const std::vector<std::string>& messages) {
  std::vector<CopyMessage> found;
  for (const auto& m : messages) {
    if (m[0] != char(ServerType::kCopy)) continue;
    found.push_back({u16(m, 1), u16(m, 3), u16(m, 5), u16(m, 7), u16(m, 9), u16(m, 11)});
  }
  return found;
}

// Pixels the Solid and Image messages cover: what was sent rather than copied.
inline int64_t sent_area(const std::vector<std::string>& messages) {
  int64_t area = 0;
  for (const auto& m : messages) {
    if (m[0] == char(ServerType::kSolid) || m[0] == char(ServerType::kImage)) area += int64_t(u16(m, 5)) * u16(m, 7);
  }
  return area;
}

}  // namespace oriel::display::test_support
