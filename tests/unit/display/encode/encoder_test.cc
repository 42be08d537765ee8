// The encoder against a model of the browser's canvas: what it sends,
// applied to the canvas, must give back the frame exactly (it is lossless),
// and what did not change must cost nothing.
#include "oriel/display/frame_encoder.h"
#include "oriel/display/rate_control.h"

#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>

#include <cmath>
#include <cstring>

namespace oriel::display {
namespace {

using namespace std::chrono_literals;
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
Frame desktop(int w, int h) {
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

uint32_t u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(s[at + i])) << (8 * i);
  return v;
}
int u16(const std::string& s, size_t at) { return uint8_t(s[at]) | uint8_t(s[at + 1]) << 8; }

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

std::vector<std::string> encode(FrameEncoder& e, Frame& f, std::vector<Rect> damage, EncodeStats* stats = nullptr,
                                SteadyClock::time_point now = SteadyClock::now(), Quality q = {.allow_lossy = false}) {
  std::vector<std::string> out;
  auto s = e.encode(f.view(), damage, now, q, out);
  if (stats) *stats = s;
  return out;
}

TEST(EncoderTest, TheFirstFrameRebuildsTheScreenExactlyWithSolidTilesAsSolids) {
  for (auto [w, h] : {std::pair{1, 1}, {65, 33}, {200, 130}}) {
    Frame f = desktop(w, h);
    FrameEncoder e;
    EncodeStats stats;
    auto messages = encode(e, f, {{0, 0, w, h}}, &stats);
    Canvas canvas(w, h);
    for (const auto& m : messages) canvas.apply(m);
    EXPECT_TRUE(canvas.equals(f)) << w << "x" << h;
    EXPECT_EQ(stats.changed_pixels, int64_t(w) * h);
  }
  Frame flat(128, 128);
  FrameEncoder e;
  EncodeStats stats;
  auto messages = encode(e, flat, {{0, 0, 128, 128}}, &stats);
  EXPECT_EQ(stats.solid, 4);
  EXPECT_EQ(stats.png, 0);
  EXPECT_EQ(messages.size(), 4u);
}

TEST(EncoderTest, UnchangedTilesInsideTheDamageCostNothing) {
  Frame f = desktop(300, 200);
  FrameEncoder e;
  encode(e, f, {{0, 0, 300, 200}});
  EncodeStats stats;
  EXPECT_TRUE(encode(e, f, {{0, 0, 300, 200}}, &stats).empty());
  EXPECT_EQ(stats.bytes, 0u);
  // One pixel changes: only its tile goes.
  f.set(130, 70, 1, 2, 3);
  auto one = encode(e, f, {{0, 0, 300, 200}}, &stats);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(stats.changed_pixels, 64 * 64);
  EXPECT_EQ(u16(one[0], 1), 128);
  EXPECT_EQ(u16(one[0], 3), 64);
}

TEST(EncoderTest, OnlyTheDamageIsLookedAtAndANewSizeStartsAfresh) {
  Frame f = desktop(256, 128);
  FrameEncoder e;
  encode(e, f, {{0, 0, 256, 128}});
  f.set(10, 10, 9, 9, 9);    // outside the damage: not seen
  f.set(200, 100, 9, 9, 9);  // inside
  EncodeStats stats;
  encode(e, f, {{192, 64, 64, 64}}, &stats);
  EXPECT_EQ(stats.changed_pixels, 64 * 64);
  Frame bigger = desktop(320, 128);
  auto all = encode(e, bigger, {{0, 0, 320, 128}}, &stats);
  Canvas canvas(320, 128);
  for (const auto& m : all) canvas.apply(m);
  EXPECT_TRUE(canvas.equals(bigger));
  EXPECT_EQ(stats.changed_pixels, 320 * 128);
}

TEST(EncoderTest, AScrolledScreenIsACopyAndTheNewLinesOnly) {
  // A "terminal": 40 lines of 16 px; the next frame shows them 3 lines up.
  auto terminal = [](int first_line) {
    Frame f(320, 640);
    for (int line = 0; line < 40; ++line) {
      for (int y = 0; y < 16; ++y) {
        for (int x = 0; x < 320; ++x) {
          uint32_t mix = (uint32_t(x / 3) * 73 + uint32_t(first_line + line) * 7919 + uint32_t(y) * 131) * 2654435761u;
          bool ink = y > 2 && y < 13 && (mix >> 13) % 3 == 0;
          f.set(x, line * 16 + y, ink ? 230 : 10, ink ? 230 : 10, ink ? 230 : 20);
        }
      }
    }
    return f;
  };
  Frame before = terminal(0), after = terminal(3);
  FrameEncoder e;
  Canvas canvas(320, 640);
  for (const auto& m : encode(e, before, {{0, 0, 320, 640}})) canvas.apply(m);
  ASSERT_TRUE(canvas.equals(before));
  EncodeStats scrolled;
  auto messages = encode(e, after, {{0, 0, 320, 640}}, &scrolled);
  for (const auto& m : messages) canvas.apply(m);
  EXPECT_TRUE(canvas.equals(after));
  ASSERT_GE(scrolled.copies, 1);
  EXPECT_EQ(messages[0][0], char(ServerType::kCopy));
  EXPECT_EQ(u16(messages[0], 3) - u16(messages[0], 11), 48) << "source 3 lines below the destination";
  FrameEncoder fresh;
  EncodeStats full;
  encode(fresh, after, {{0, 0, 320, 640}}, &full);
  EXPECT_LT(scrolled.bytes * 4, full.bytes) << scrolled.bytes << " vs " << full.bytes;
}

TEST(EncoderTest, APhotoGoesAsJpegThenLosslessOnceItStaysStill) {
  Frame photo(256, 128);
  for (int y = 0; y < 128; ++y) {
    for (int x = 0; x < 256; ++x) {
      photo.set(x, y, uint8_t(128 + 100 * std::sin(x * 0.05)), uint8_t(x ^ y), uint8_t((x * y) / 130));
    }
  }
  FrameEncoder e(EncoderOptions{.lossless_refresh_after = 300ms});
  auto t0 = SteadyClock::now();
  EncodeStats stats;
  Canvas canvas(256, 128);
  for (const auto& m : encode(e, photo, {{0, 0, 256, 128}}, &stats, t0, Quality{.jpeg_quality = 70})) canvas.apply(m);
  EXPECT_GT(stats.jpeg, 0);
  EXPECT_EQ(stats.png, 0);
  EXPECT_FALSE(canvas.equals(photo)) << "JPEG at 70 should not be exact";
  ASSERT_TRUE(e.refresh_due().has_value());
  EXPECT_EQ(*e.refresh_due(), t0 + 300ms);
  // Not yet due: nothing. Due: the same tiles again, lossless, with no damage at all.
  EXPECT_TRUE(encode(e, photo, {}, &stats, t0 + 299ms, Quality{.jpeg_quality = 70}).empty());
  for (const auto& m : encode(e, photo, {}, &stats, t0 + 300ms, Quality{.jpeg_quality = 70})) canvas.apply(m);
  EXPECT_EQ(stats.jpeg, 0);
  EXPECT_GT(stats.png, 0);
  EXPECT_TRUE(canvas.equals(photo));
  EXPECT_FALSE(e.refresh_due().has_value());
}

TEST(EncoderTest, ThePoolGivesTheSameMessagesInTheSameOrder) {
  Frame f = desktop(640, 480);
  boost::asio::thread_pool pool(2);
  FrameEncoder alone, shared(EncoderOptions{.pool = &pool});
  EXPECT_EQ(encode(alone, f, {{0, 0, 640, 480}}), encode(shared, f, {{0, 0, 640, 480}}));
  pool.join();
}

TEST(EncoderTest, RateControlLowersQualityOnASlowLinkAndRaisesItOnAFastOne) {
  RateControl rc;
  EXPECT_EQ(rc.quality().jpeg_quality, 80);  // unmeasured
  auto t = SteadyClock::now();
  for (uint32_t f = 1; f <= 20; ++f) {  // 100 kB frames acknowledged after 1 s: 100 kB/s
    rc.on_frame_sent(f, 100'000, t);
    t += 1s;
    rc.on_frame_acked(f, t);
  }
  EXPECT_EQ(rc.quality().jpeg_quality, 40);
  EXPECT_NEAR(rc.bandwidth_bytes_per_s(), 100'000, 5'000);
  for (uint32_t f = 21; f <= 60; ++f) {  // then 100 kB in 10 ms: 10 MB/s
    rc.on_frame_sent(f, 100'000, t);
    t += 10ms;
    rc.on_frame_acked(f, t);
  }
  EXPECT_EQ(rc.quality().jpeg_quality, 80);
  EXPECT_LE(rc.rtt(), std::chrono::microseconds(10'000 * 2));
}

}  // namespace
}  // namespace oriel::display
