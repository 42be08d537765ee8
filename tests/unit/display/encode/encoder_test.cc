// The encoder against a model of the browser's canvas: what it sends,
// applied to the canvas, must give back the frame exactly (it is lossless),
// and what did not change must cost nothing.
#include "oriel/display/frame_encoder.h"
#include "oriel/display/rate_control.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "test_support.h"

namespace oriel::display {
namespace {

using namespace std::chrono_literals;
using namespace test_support;

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
  Canvas canvas(300, 200);
  for (const auto& m : encode(e, f, {{0, 0, 300, 200}})) canvas.apply(m);
  EncodeStats stats;
  EXPECT_TRUE(encode(e, f, {{0, 0, 300, 200}}, &stats).empty());
  EXPECT_EQ(stats.bytes, 0u);
  // One pixel changes: its tile is the changed screen, and only the pixel goes.
  f.set(130, 70, 1, 2, 3);
  auto one = encode(e, f, {{0, 0, 300, 200}}, &stats);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(stats.changed_pixels, 64 * 64);
  EXPECT_EQ(one[0][0], char(ServerType::kSolid));
  EXPECT_EQ(u16(one[0], 1), 130);
  EXPECT_EQ(u16(one[0], 3), 70);
  EXPECT_EQ(u16(one[0], 5), 1);
  EXPECT_EQ(u16(one[0], 7), 1);
  canvas.apply(one[0]);
  // Two pixels of one tile, and a line across two tiles: the smallest
  // rectangle holding the changes of each tile.
  f.set(140, 75, 9, 9, 9);
  f.set(131, 90, 9, 9, 9);
  for (int x = 60; x < 70; ++x) f.set(x, 150, 7, 7, 7);
  auto parts = encode(e, f, {{0, 0, 300, 200}}, &stats);
  for (const auto& m : parts) canvas.apply(m);
  EXPECT_TRUE(canvas.equals(f));
  EXPECT_EQ(stats.changed_pixels, 3 * 64 * 64);
  EXPECT_EQ(parts.size(), 3u);
  EXPECT_EQ(sent_area(parts), 10 * 16 + 4 + 6);
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

// Text-like: dots of "glyphs" on a flat dark background, each pixel of ink
// in the colour ink(x, y) gives.
template <class Ink>
Frame text_frame(int w, int h, Ink ink) {
  Frame f(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (y % 16 < 12 && x % 8 < 6 && (x * 7 + y * 3) % 5 < 2) {
        auto [r, g, b] = ink(x, y);
        f.set(x, y, r, g, b);
      } else {
        f.set(x, y, 30, 30, 30);
      }
    }
  }
  return f;
}

TEST(EncoderTest, AntiAliasedTextOfManyColoursGoesAsIndexedPngsEvenWhenLossyIsAllowed) {
  // Text on a flat background, each tile in its own 200 shades: a run of
  // four tiles has 800 colours, each tile fewer than 256.
  Frame text = text_frame(256, 64, [](int x, int y) {
    return std::array<uint8_t, 3>{uint8_t((x * 5 + y * 11) % 200), uint8_t(x / 64 * 60), 200};
  });
  FrameEncoder e;
  EncodeStats stats;
  Canvas canvas(256, 64);
  for (const auto& m : encode(e, text, {{0, 0, 256, 64}}, &stats, SteadyClock::now(), Quality{})) canvas.apply(m);
  EXPECT_EQ(stats.jpeg, 0);
  EXPECT_GE(stats.png, 2);
  EXPECT_TRUE(canvas.equals(text)) << "indexed PNG is lossless";
}

TEST(EncoderTest, RunsOfEveryLengthKeepTheirColoursThroughAnIndexedPng) {
  // Rows of runs 1 to 11 pixels long, starting at every offset, in up to
  // `colours` colours, the X byte different in every pixel: pixels that
  // repeat their left neighbour skip the palette, and must still get its
  // index. With 300 colours a region tops 256 in the middle of a run.
  for (int colours : {3, 17, 200, 300}) {
    Frame f(200, 64);
    uint32_t seed = 7;
    auto next = [&] { return seed = seed * 1103515245u + 12345u, seed >> 16; };
    for (int y = 0; y < 64; ++y) {
      int x = 0;
      while (x < 200) {
        int run = 1 + (y + x) % 11;
        uint32_t c = next() % colours;
        for (int k = 0; k < run && x < 200; ++k, ++x) {
          f.set(x, y, uint8_t(c), uint8_t(c >> 8), uint8_t(c * 37));
          f.at(x, y)[3] = uint8_t(next());
        }
      }
    }
    FrameEncoder e;
    EncodeStats stats;
    Canvas canvas(200, 64);
    for (const auto& m : encode(e, f, {{0, 0, 200, 64}}, &stats)) canvas.apply(m);
    EXPECT_TRUE(canvas.equals(f)) << colours << " colours";
    EXPECT_GE(stats.png, 1) << colours << " colours";
  }
}

TEST(EncoderTest, TextDownTheScreenIsOneImageWithOnePalette) {
  // Three tile rows of text in 120 shades: one PNG, not one per tile row
  // each carrying the same palette.
  Frame text = text_frame(256, 192, [](int x, int y) {
    return std::array<uint8_t, 3>{uint8_t(100 + (x * 5 + y * 11) % 120), 220, 100};
  });
  FrameEncoder e;
  EncodeStats stats;
  Canvas canvas(256, 192);
  for (const auto& m : encode(e, text, {{0, 0, 256, 192}}, &stats)) canvas.apply(m);
  EXPECT_EQ(stats.png, 1);
  EXPECT_TRUE(canvas.equals(text));
}

TEST(EncoderTest, UnchangedPixelsARegionWouldTakeInCountTowardsItsColours) {
  // Tile row 0 changes in x 0-63, tile row 1 in x 0-79: one image of both
  // would take in x 64-79 of tile row 0, unchanged, in 200 colours of its
  // own. With the 60 of each change that is more than 256: two images.
  Frame f(256, 128);
  for (int y = 0; y < 64; ++y) {
    for (int x = 64; x < 80; ++x) f.set(x, y, uint8_t((x - 64 + 16 * y) % 200), 200, 0);
  }
  FrameEncoder e;
  Canvas canvas(256, 128);
  const Quality lossless{.allow_lossy = false};
  for (const auto& m : encode(e, f, {{0, 0, 256, 128}}, nullptr, SteadyClock::now(), lossless)) canvas.apply(m);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) f.set(x, y, uint8_t(1 + (x + 7 * y) % 60), 10, 10);
  }
  for (int y = 64; y < 128; ++y) {
    for (int x = 0; x < 80; ++x) f.set(x, y, uint8_t(1 + (x + 3 * y) % 60), 20, 20);
  }
  EncodeStats stats;
  for (const auto& m : encode(e, f, {{0, 0, 256, 128}}, &stats, SteadyClock::now(), lossless)) canvas.apply(m);
  EXPECT_EQ(stats.png, 2);
  EXPECT_TRUE(canvas.equals(f));
}

TEST(EncoderTest, BothDeflatesGiveTheSamePixelsAndTheDenseOneFewerBytes) {
  // The bytes of `f` sent whole without lossy, after checking that a PNG
  // decoder rebuilds it exactly.
  auto bytes = [](Frame& f, Deflate deflate) {
    FrameEncoder e;
    EncodeStats stats;
    Canvas canvas(f.width, f.height);
    const Quality quality{.allow_lossy = false, .deflate = deflate};
    for (const auto& m : encode(e, f, {{0, 0, f.width, f.height}}, &stats, SteadyClock::now(), quality))
      canvas.apply(m);
    EXPECT_GT(stats.png, 0);
    EXPECT_TRUE(canvas.equals(f)) << f.width << " wide, deflate " << int(deflate);
    return stats.bytes;
  };
  // Text, as indexed PNGs.
  Frame text = text_frame(512, 192, [](int x, int y) {
    return std::array<uint8_t, 3>{uint8_t(100 + (x * 5 + y * 11) % 120), 220, 100};
  });
  EXPECT_LT(bytes(text, Deflate::kDense), bytes(text, Deflate::kFast));
  // Noise, which no deflate shrinks, as RGB PNGs: about its own size either way.
  Frame noise = wallpaper(256, 128);
  EXPECT_LT(bytes(noise, Deflate::kFast), size_t(256 * 128 * 3) * 102 / 100);
  EXPECT_LT(bytes(noise, Deflate::kDense), size_t(256 * 128 * 3) * 102 / 100);
}

TEST(EncoderTest, APhotoOverSeveralTileRowsIsOneJpeg) {
  Frame photo(320, 200);
  for (int y = 0; y < 200; ++y) {
    for (int x = 0; x < 320; ++x) {
      photo.set(x, y, uint8_t(128 + 100 * std::sin(x * 0.05 + y * 0.02)), uint8_t(x ^ y), uint8_t((x * y) / 130));
    }
  }
  FrameEncoder e;
  EncodeStats stats;
  Canvas canvas(320, 200);
  auto messages = encode(e, photo, {{0, 0, 320, 200}}, &stats, SteadyClock::now(), Quality{.jpeg_quality = 60});
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(stats.jpeg, 1);
  EXPECT_EQ(messages[0][9], char(Codec::kJpeg));
  EXPECT_EQ((Rect{u16(messages[0], 1), u16(messages[0], 3), u16(messages[0], 5), u16(messages[0], 7)}),
            (Rect{0, 0, 320, 200}));
  canvas.apply(messages[0]);
  // Lossless everywhere once it has stayed still.
  ASSERT_TRUE(e.refresh_due().has_value());
  for (const auto& m : encode(e, photo, {}, &stats, *e.refresh_due(), Quality{.jpeg_quality = 60})) canvas.apply(m);
  EXPECT_TRUE(canvas.equals(photo));
  EXPECT_FALSE(e.refresh_due().has_value());
}

TEST(EncoderTest, WhatIsLeftOfAJpegTileAfterAChangeIsStillRefreshed) {
  Frame photo(256, 128);
  for (int y = 0; y < 128; ++y) {
    for (int x = 0; x < 256; ++x) {
      photo.set(x, y, uint8_t(128 + 100 * std::sin(x * 0.05)), uint8_t(x ^ y), uint8_t((x * y) / 130));
    }
  }
  FrameEncoder e(EncoderOptions{.lossless_refresh_after = 300ms});
  auto t0 = SteadyClock::now();
  Canvas canvas(256, 128);
  EncodeStats stats;
  for (const auto& m : encode(e, photo, {{0, 0, 256, 128}}, &stats, t0, Quality{.jpeg_quality = 70})) canvas.apply(m);
  ASSERT_GT(stats.jpeg, 0);
  // A short line over one tile goes alone, as a Solid; the rest of that tile is still JPEG.
  for (int x = 10; x < 15; ++x) photo.set(x, 20, 255, 255, 255);
  auto line = encode(e, photo, {{0, 0, 256, 128}}, &stats, t0 + 100ms, Quality{.jpeg_quality = 70});
  for (const auto& m : line) canvas.apply(m);
  ASSERT_EQ(line.size(), 1u);
  EXPECT_EQ(line[0][0], char(ServerType::kSolid));
  ASSERT_TRUE(e.refresh_due().has_value());
  EXPECT_EQ(*e.refresh_due(), t0 + 300ms);
  for (const auto& m : encode(e, photo, {}, &stats, t0 + 300ms, Quality{.jpeg_quality = 70})) canvas.apply(m);
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

TEST(EncoderTest, RateControlLowersQualityAndDeflatesDenselyOnASlowLinkAndUndoesBothOnAFastOne) {
  RateControl rc;
  EXPECT_EQ(rc.quality().jpeg_quality, 80);  // unmeasured
  EXPECT_EQ(rc.quality().deflate, Deflate::kFast);
  auto t = SteadyClock::now();
  for (uint32_t f = 1; f <= 20; ++f) {  // 100 kB frames acknowledged after 1 s: 100 kB/s
    rc.on_frame_sent(f, 100'000, t);
    t += 1s;
    rc.on_frame_acked(f, t);
  }
  EXPECT_EQ(rc.quality().jpeg_quality, 40);
  EXPECT_EQ(rc.quality().deflate, Deflate::kDense);  // the link sets the pace: fewer bytes
  EXPECT_NEAR(rc.bandwidth_bytes_per_s(), 100'000, 5'000);
  for (uint32_t f = 21; f <= 60; ++f) {  // then 100 kB in 10 ms: 10 MB/s
    rc.on_frame_sent(f, 100'000, t);
    t += 10ms;
    rc.on_frame_acked(f, t);
  }
  EXPECT_EQ(rc.quality().jpeg_quality, 80);
  EXPECT_EQ(rc.quality().deflate, Deflate::kFast);
  EXPECT_LE(rc.rtt(), std::chrono::microseconds(10'000 * 2));
}

}  // namespace
}  // namespace oriel::display
