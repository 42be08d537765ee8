// The encoder on what moves: a window dragged, a region scrolled inside a
// window. What it sends, applied to a model of the browser's canvas, must
// give back each frame exactly; a Copy must carry what moved, and only what
// the move uncovered may travel as pixels.
#include "oriel/display/frame_encoder.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_support.h"

namespace oriel::display {
namespace {

using namespace std::chrono_literals;
using namespace test_support;

// Encodes each frame in turn into one canvas; every frame must come out exact.
std::vector<std::vector<std::string>> play(FrameEncoder& e, std::vector<Frame>& frames,
                                           std::vector<EncodeStats>* stats = nullptr) {
  Canvas canvas(frames[0].width, frames[0].height);
  std::vector<std::vector<std::string>> sent;
  for (size_t n = 0; n < frames.size(); ++n) {
    EncodeStats s;
    sent.push_back(encode(e, frames[n], {{0, 0, frames[n].width, frames[n].height}}, &s));
    for (const auto& m : sent.back()) canvas.apply(m);
    EXPECT_TRUE(canvas.equals(frames[n])) << "frame " << n;
    if (stats) stats->push_back(s);
  }
  return sent;
}

TEST(MoveTest, ADraggedWindowIsOneCopyAndWhatItUncovered) {
  std::vector<Frame> frames = {desktop_with_window(640, 480, {100, 80, 300, 200}),
                               desktop_with_window(640, 480, {109, 84, 300, 200})};
  FrameEncoder e;
  std::vector<EncodeStats> stats;
  auto sent = play(e, frames, &stats);
  auto copies = copies_in(sent[1]);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(sent[1][0][0], char(ServerType::kCopy)) << "the copy goes first";
  // The whole window, from where the browser has it (the wallpaper around it never matches).
  EXPECT_EQ(copies[0].src_x, 100);
  EXPECT_EQ(copies[0].src_y, 80);
  EXPECT_EQ(copies[0].x, 109);
  EXPECT_EQ(copies[0].y, 84);
  EXPECT_EQ(copies[0].w, 300);
  EXPECT_EQ(copies[0].h, 200);
  // What was sent as pixels is about the strips the window uncovered: 9 x 200 and 291 x 4.
  const int64_t uncovered = 9 * 200 + 291 * 4;
  EXPECT_GE(sent_area(sent[1]), uncovered);
  EXPECT_LE(sent_area(sent[1]), 2 * uncovered);
  // Sending the window itself would cost far more.
  FrameEncoder fresh;
  EncodeStats window;
  encode(fresh, frames[1], {{109, 84, 300, 200}}, &window);
  EXPECT_LT(stats[1].bytes * 4, window.bytes) << stats[1].bytes << " vs " << window.bytes;
  EXPECT_GT(stats[1].changed_pixels, 300 * 200) << "copied pixels count as changed screen";
}

TEST(MoveTest, AWindowDraggedOnAndOffTheScreenIsCopiedWhereTheBrowserHasIt) {
  struct Case {
    Rect from, to;
    CopyMessage copy;  // the part of the window on the screen both before and after
  };
  const Case cases[] = {
      {{-120, 50, 300, 200}, {-100, 60, 300, 200}, {0, 50, 180, 200, 20, 60}},       // in from the left
      {{500, 100, 300, 200}, {530, 110, 300, 200}, {500, 100, 110, 200, 530, 110}},  // out to the right
      {{200, -90, 300, 200}, {190, -75, 300, 200}, {200, 0, 300, 110, 190, 15}},     // in from the top, moving left
      {{150, 400, 300, 200}, {140, 410, 300, 200}, {150, 400, 300, 70, 140, 410}},   // out at the bottom
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "window from " << c.from.x << "," << c.from.y << " to " << c.to.x << ","
                                    << c.to.y);
    std::vector<Frame> frames = {desktop_with_window(640, 480, c.from), desktop_with_window(640, 480, c.to)};
    FrameEncoder e;
    auto copies = copies_in(play(e, frames)[1]);
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0].src_x, c.copy.src_x);
    EXPECT_EQ(copies[0].src_y, c.copy.src_y);
    EXPECT_EQ(copies[0].w, c.copy.w);
    EXPECT_EQ(copies[0].h, c.copy.h);
    EXPECT_EQ(copies[0].x, c.copy.x);
    EXPECT_EQ(copies[0].y, c.copy.y);
  }
}

TEST(MoveTest, OverlappingMovesAreAppliedAsIfTheSourceWereReadFirst) {
  // Small moves in every direction: each copy overlaps its own source, and
  // the encoder's idea of the browser's screen must follow the browser's.
  std::vector<Frame> frames;
  Rect window{200, 150, 240, 160};
  for (auto [dx, dy] : {std::pair{0, 0}, {3, 2}, {-5, -3}, {4, -6}, {-2, 5}, {0, 7}, {6, 0}}) {
    window.x += dx, window.y += dy;
    frames.push_back(desktop_with_window(640, 480, window));
  }
  FrameEncoder e;
  auto sent = play(e, frames);
  for (size_t n = 1; n < sent.size(); ++n) {
    auto copies = copies_in(sent[n]);
    ASSERT_EQ(copies.size(), 1u) << "frame " << n;
    const CopyMessage& c = copies[0];
    EXPECT_LT(std::abs(c.x - c.src_x), c.w) << "frame " << n << ": source and destination overlap";
    EXPECT_LT(std::abs(c.y - c.src_y), c.h) << "frame " << n;
  }
}

TEST(MoveTest, SimilarLookingContentIsNotSentAsACopy) {
  // The window moved, but one pixel in every 48 of each row differs from
  // before, the pattern shifting 7 pixels a row: anchors still match, but no
  // rectangle worth a Copy is the same, so none may be sent.
  std::vector<Frame> frames = {desktop_with_window(640, 480, {100, 80, 300, 200}),
                               desktop_with_window(640, 480, {109, 84, 300, 200})};
  for (int y = 84; y < 284; ++y) {
    for (int x = 109; x < 409; ++x) {
      if ((x + 7 * y) % 48 == 0) frames[1].set(x, y, 255, 0, 255);
    }
  }
  FrameEncoder e;
  std::vector<EncodeStats> stats;
  play(e, frames, &stats);
  EXPECT_EQ(stats[1].copies, 0);
}

TEST(MoveTest, AScrollInsideAWindowIsCopiedToo) {
  // Lines scroll up inside a region that starts and ends inside tiles: one
  // Copy of the region all the same (a move with no horizontal part).
  auto page = [](int first_line) {
    Frame f = wallpaper(320, 480);
    for (int y = 40; y < 440; ++y) {
      for (int x = 37; x < 293; ++x) {
        int line = (y - 40) / 16 + first_line;
        int row = (y - 40) % 16;
        bool ink = row > 2 && row < 13 && mix(uint32_t(x / 3), uint32_t(line), uint32_t(row)) % 3 == 0;
        f.set(x, y, ink ? 230 : 10, ink ? 230 : 10, ink ? 230 : 20);
      }
    }
    return f;
  };
  std::vector<Frame> frames = {page(0), page(1)};
  FrameEncoder e;
  std::vector<EncodeStats> stats;
  auto sent = play(e, frames, &stats);
  auto copies = copies_in(sent[1]);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src_y - copies[0].y, 16);
  EXPECT_EQ(copies[0].x, 37);
  EXPECT_EQ(copies[0].w, 256);
  // Only about the new line travels (256 x 16), not the region (256 x 400).
  EXPECT_LE(sent_area(sent[1]), 2 * 256 * 16);
}

TEST(MoveTest, AScrollOfRowsWithoutEdgesIsFoundByTheRowHashes) {
  // Each row one colour (a gradient): no anchors at all, but every row's
  // hash is its own, which is what the vertical-scroll path looks for.
  auto gradient = [](int first_row) {
    Frame f(256, 512);
    for (int y = 0; y < 512; ++y) {
      int r = y + first_row;
      for (int x = 0; x < 256; ++x) f.set(x, y, uint8_t(r * 7), uint8_t(r * 13 + r / 256), uint8_t(r * 3));
    }
    return f;
  };
  std::vector<Frame> frames = {gradient(0), gradient(20)};
  FrameEncoder e;
  std::vector<EncodeStats> stats;
  auto sent = play(e, frames, &stats);
  auto copies = copies_in(sent[1]);
  ASSERT_GE(copies.size(), 1u);
  for (const CopyMessage& c : copies) EXPECT_EQ(c.src_y - c.y, 20);
  EXPECT_LE(sent_area(sent[1]), 256 * 64) << "the rows scrolled in, and what the tile bands could not copy";
}

TEST(MoveTest, PixelsCopiedFromAJpegAreRefreshedLosslessly) {
  // Everything here has too many colours for a palette: it goes as JPEG.
  std::vector<Frame> frames = {wallpaper(512, 384), wallpaper(512, 384)};
  auto photo = [](Frame& f, int x0, int y0) {
    for (int y = y0; y < y0 + 128; ++y) {
      for (int x = x0; x < x0 + 192; ++x) {
        int px = x - x0, py = y - y0;
        f.set(x, y, uint8_t(128 + 100 * std::sin(px * 0.05)), uint8_t(px ^ py), uint8_t((px * py) / 100));
      }
    }
  };
  photo(frames[0], 64, 64);
  photo(frames[1], 80, 70);
  FrameEncoder e(EncoderOptions{.lossless_refresh_after = 300ms});
  const Quality lossy{.jpeg_quality = 70};
  auto t0 = SteadyClock::now();
  Canvas canvas(512, 384);
  EncodeStats stats;
  for (const auto& m : encode(e, frames[0], {{0, 0, 512, 384}}, &stats, t0, lossy)) canvas.apply(m);
  ASSERT_GT(stats.jpeg, 0);
  for (const auto& m : encode(e, frames[1], {{0, 0, 512, 384}}, &stats, t0 + 100ms, lossy)) canvas.apply(m);
  EXPECT_EQ(stats.copies, 1);
  ASSERT_FALSE(canvas.equals(frames[1]));
  // The copied pixels are as lossy as their source: they too are sent again,
  // losslessly, once they have been still long enough.
  for (int refresh = 0; refresh < 4 && e.refresh_due(); ++refresh) {
    auto due = *e.refresh_due();
    EXPECT_LE(due, t0 + 400ms);
    for (const auto& m : encode(e, frames[1], {}, &stats, due, lossy)) canvas.apply(m);
  }
  EXPECT_FALSE(e.refresh_due().has_value());
  EXPECT_TRUE(canvas.equals(frames[1]));
}

TEST(MoveTest, ACopyReachingOutsideTheDamageLeavesTheEncoderRight) {
  // A flat desktop matches itself moved, so the copy grows past the window
  // into tiles the damage (the window's old and new rectangles, as a VNC
  // server reports them) does not cover.
  auto flat_with_window = [](int x, int y) {
    Frame f(640, 480);
    for (int py = 0; py < 480; ++py) {
      for (int px = 0; px < 640; ++px) f.set(px, py, 58, 110, 165);
    }
    draw_window(f, x, y, 200, 150);
    return f;
  };
  Frame before = flat_with_window(100, 100), after = flat_with_window(131, 140);
  FrameEncoder e;
  Canvas canvas(640, 480);
  for (const auto& m : encode(e, before, {{0, 0, 640, 480}})) canvas.apply(m);
  EncodeStats stats;
  auto moved = encode(e, after, {{100, 100, 200, 150}, {131, 140, 200, 150}}, &stats);
  for (const auto& m : moved) canvas.apply(m);
  EXPECT_TRUE(canvas.equals(after));
  EXPECT_EQ(stats.copies, 1);
  EXPECT_EQ(sent_area(moved), 0) << "the desktop it uncovered is the desktop it copied";
  // The encoder knows what the browser has: nothing more to send, anywhere.
  EXPECT_TRUE(encode(e, after, {{0, 0, 640, 480}}, &stats).empty());
}

TEST(MoveTest, ATileACopyWroteOutsideTheDamageIsSentWhenItChangesBack) {
  // The damage misses the corner of the window's new place (tile 448,384),
  // but the copy brings the whole window: the encoder must know that tile
  // changed on the browser, so that it sends it when the window leaves.
  Frame before = desktop_with_window(640, 480, {100, 100, 200, 150});
  Frame after = desktop_with_window(640, 480, {300, 250, 200, 150});
  Frame gone = wallpaper(640, 480);
  FrameEncoder e;
  Canvas canvas(640, 480);
  for (const auto& m : encode(e, before, {{0, 0, 640, 480}})) canvas.apply(m);
  EncodeStats stats;
  for (const auto& m : encode(e, after, {{100, 100, 200, 150}, {300, 250, 200, 90}, {300, 340, 100, 60}}, &stats)) {
    canvas.apply(m);
  }
  ASSERT_EQ(stats.copies, 1);
  for (const auto& m : encode(e, gone, {{0, 0, 640, 480}})) canvas.apply(m);
  EXPECT_TRUE(canvas.equals(gone));
}

TEST(MoveTest, ThePoolGivesTheSameMessagesForAMove) {
  std::vector<Frame> frames = {desktop_with_window(640, 480, {100, 80, 300, 200}),
                               desktop_with_window(640, 480, {109, 84, 300, 200})};
  boost::asio::thread_pool pool(2);
  FrameEncoder alone, shared(EncoderOptions{.pool = &pool});
  EXPECT_EQ(play(alone, frames), play(shared, frames));
  pool.join();
}

}  // namespace
}  // namespace oriel::display
