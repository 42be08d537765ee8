// The pieces under the encoder's copies: its model of the browser's screen
// (a Copy applied as the browser applies it, what differs from a frame) and
// the move finder (which offsets the anchors vote for, and how far the
// pixels bear a vote out). A vote is only a hint; these tests feed false
// ones and check that no pixel is trusted to a hash.
#include <gtest/gtest.h>

#include <utility>

#include "client_screen.h"
#include "move_finder.h"
#include "png_writer.h"
#include "test_support.h"

namespace oriel::display {
namespace {

using namespace test_support;

ClientScreen showing(const Frame& f) {
  ClientScreen client;
  client.reset(f.width, f.height);
  client.store(f.view(), {0, 0, f.width, f.height});
  return client;
}

// Runs `body` with the SSSE3 code (where the CPU has it) and with the portable code.
template <typename Body>
void with_and_without_simd(Body body) {
  for (bool simd : {true, false}) {
    SCOPED_TRACE(simd ? "SSSE3 where available" : "portable");
    allow_client_screen_simd(simd);
    body();
  }
  allow_client_screen_simd(true);
}

bool has_candidate(const std::vector<MoveCandidate>& found, int dx, int dy) {
  return std::any_of(found.begin(), found.end(), [&](const MoveCandidate& c) { return c.dx == dx && c.dy == dy; });
}

TEST(ClientScreenTest, ACopyReadsTheWholeSourceBeforeWriting) {
  const Frame f = wallpaper(200, 150);
  for (auto [dx, dy] : {std::pair{3, 2}, {-3, -2}, {5, 0}, {-5, 0}, {0, 4}, {0, -4}, {-7, 3}}) {
    SCOPED_TRACE(testing::Message() << "offset " << dx << "," << dy);
    ClientScreen client = showing(f);
    const Rect to{40 + dx, 30 + dy, 100, 80};
    client.copy(40, 30, to);
    // What the browser shows now: the frame, with the source's old pixels at `to`.
    Frame expected = f;
    for (int y = 0; y < to.h; ++y) {
      std::memcpy(expected.at(to.x, to.y + y), f.view().data + (30 + y) * f.stride + 40 * 4, to.w * 4);
    }
    EXPECT_TRUE(client.difference(expected.view(), {0, 0, 200, 150}).empty());
    EXPECT_FALSE(client.difference(f.view(), {0, 0, 200, 150}).empty());
  }
}

TEST(ClientScreenTest, TheDifferenceIsTheSmallestRectangleHoldingEveryChange) {
  Frame f = wallpaper(128, 96);
  ClientScreen client = showing(f);
  EXPECT_TRUE(client.difference(f.view(), {0, 0, 128, 96}).empty());
  f.at(70, 20)[3] ^= 0xFF;  // the X byte: the browser never sees it
  EXPECT_TRUE(client.difference(f.view(), {0, 0, 128, 96}).empty());
  f.set(70, 20, 1, 2, 3);
  f.set(30, 61, 1, 2, 3);
  f.set(99, 40, 1, 2, 3);
  EXPECT_EQ(client.difference(f.view(), {0, 0, 128, 96}), (Rect{30, 20, 70, 42}));
  EXPECT_EQ(client.difference(f.view(), {64, 0, 64, 64}), (Rect{70, 20, 30, 21}));
  EXPECT_TRUE(client.difference(f.view(), {0, 0, 64, 32}).empty());
}

// Every run length and start against its neighbours, both code paths: the
// fast paths move four pixels a step and write past them, so a length one
// short of a multiple of four would show a spill.
TEST(ClientScreenTest, RunsOfEveryLengthAreStoredAndComparedExactly) {
  with_and_without_simd([] {
    const Frame before = wallpaper(64, 3);
    for (int x0 = 0; x0 < 6; ++x0) {
      for (int w = 1; x0 + w <= 64; ++w) {
        SCOPED_TRACE(testing::Message() << "x " << x0 << " width " << w);
        ClientScreen client = showing(before);
        Frame after = before;
        for (int x = x0; x < x0 + w; ++x) after.set(x, 1, uint8_t(x), 7, uint8_t(w));
        client.store(after.view(), {x0, 1, w, 1});
        ASSERT_TRUE(client.difference(after.view(), {0, 0, 64, 3}).empty());
        // One pixel off anywhere in the run: the difference is exactly it,
        // found from the left and from the right.
        for (int off = x0; off < x0 + w; off += std::max(1, w / 7)) {
          Frame changed = after;
          changed.at(off, 1)[1] ^= 0x10;
          ASSERT_EQ(client.difference(changed.view(), {x0, 0, w, 3}), (Rect{off, 1, 1, 1})) << "pixel " << off;
          EXPECT_EQ(same_prefix(changed.view().data + changed.stride + x0 * 4, std::as_const(client).pixel(x0, 1), w),
                    off - x0);
          EXPECT_EQ(same_suffix(changed.view().data + changed.stride + (x0 + w) * 4,
                                std::as_const(client).pixel(x0 + w - 1, 1) + 3, w),
                    x0 + w - 1 - off);
        }
      }
    }
  });
}

TEST(ClientScreenTest, StoringPartOfARowLeavesItsNeighboursAsTheyWere) {
  // Three bytes a pixel, written four at a time: the last pixel of a stored
  // run must not spill the frame's fourth byte into the next pixel.
  const Frame before = wallpaper(96, 16);
  ClientScreen client = showing(before);
  Frame after = before;
  for (int x = 10; x < 20; ++x) after.set(x, 5, 9, 9, 9);  // X bytes 0x5a, unlike the wallpaper's neighbours
  EXPECT_EQ(client.difference(after.view(), {0, 0, 96, 16}), (Rect{10, 5, 10, 1}));
  client.store(after.view(), {10, 5, 10, 1});
  EXPECT_TRUE(client.difference(after.view(), {0, 0, 96, 16}).empty());
  // The last pixel of the screen, whose four-byte read runs past the rows.
  after.set(95, 15, 1, 2, 3);
  client.store(after.view(), {95, 15, 1, 1});
  EXPECT_TRUE(client.difference(after.view(), {0, 0, 96, 16}).empty());
}

TEST(ClientScreenTest, RunsOfEveryWidthAndStartAreStoredExactly) {
  // Four pixels at a time, then one by one: every split of a run.
  const Frame before = wallpaper(40, 8);
  for (int x = 0; x < 5; ++x) {
    for (int w = 1; w <= 21; ++w) {
      ClientScreen client = showing(before);
      Frame after = before;
      for (int i = x; i < x + w; ++i) after.set(i, 3, uint8_t(7 * i), uint8_t(200 - i), uint8_t(i * i));
      client.store(after.view(), {x, 3, w, 1});
      EXPECT_TRUE(client.difference(after.view(), {0, 0, 40, 8}).empty()) << "x " << x << ", width " << w;
    }
  }
}

TEST(PaletteTest, TruncateForgetsTheNewestColoursAsIfTheyWereNeverAdded) {
  Palette palette;
  // Colours 1024 apart share a first slot (the table has 1,024), so they
  // probe past each other.
  auto colour = [](int i) { return uint32_t(i) * 1024u; };
  for (int i = 0; i < 200; ++i) ASSERT_EQ(palette.index(colour(i)), i);
  palette.truncate(120);
  EXPECT_EQ(palette.size(), 120u);
  for (int i = 0; i < 120; ++i) EXPECT_EQ(palette.index(colour(i)), i);
  EXPECT_EQ(palette.size(), 120u) << "the colours kept are found, not added again";
  EXPECT_EQ(palette.index(colour(150)), 120) << "a forgotten colour comes back as new";
  for (int i = 121; i < 256; ++i) ASSERT_EQ(palette.index(colour(1000 + i)), i);
  EXPECT_EQ(palette.index(colour(5000)), -1) << "at most 256";
  palette.clear();
  EXPECT_EQ(palette.index(colour(5000)), 0);
}

TEST(MoveFinderTest, AnAnchorDependsOnlyOnTheContentBeforeIt) {
  // A row of text: glyph pixels between flat runs of every length, which
  // the hash takes four pixels at a time where it can.
  Frame f(1200, 1);
  uint32_t seed = 11;
  auto next = [&] { return seed = seed * 1103515245u + 12345u, seed >> 16; };
  for (int x = 0, run = 1; x < 1200; ++run) {
    for (int k = 0; k < run % 37 && x < 1200; ++k) f.set(x++, 0, 30, 30, 30);
    if (x < 1200) f.set(x++, 0, uint8_t(next()), uint8_t(next()), 200);
  }
  const ClientScreen client = showing(f);
  // The anchors from x0 on, in the frame (4 bytes a pixel) or the client's screen (3).
  auto anchors = [&](bool frame, int x0) {
    std::vector<MoveFinder::Anchor> out;
    const uint8_t* row = frame ? f.view().data : client.pixel(0, 0);
    MoveFinder::collect(row, frame ? 4 : kClientPixelBytes, {x0, 0, 1200 - x0, 1}, 0, 1, out);
    return out;
  };
  const auto all = anchors(true, 0);
  ASSERT_GT(all.size(), 20u);
  for (bool frame : {true, false}) {
    for (int x0 = 0; x0 < 9; ++x0) {
      // The same keys at the same places, once the hash has seen its 32 pixels.
      std::vector<std::pair<uint64_t, int>> want, got;
      for (const auto& a : all) {
        if (a.x >= x0 + 31) want.push_back({a.key, a.x});
      }
      for (const auto& a : anchors(frame, x0)) got.push_back({a.key, a.x});
      EXPECT_EQ(got, want) << (frame ? "frame" : "client") << " from x " << x0;
    }
  }
}

TEST(MoveFinderTest, TheAnchorsVoteForTheOffsetOfAMovedWindow) {
  const Frame before = desktop_with_window(640, 480, {100, 80, 300, 200});
  const Frame after = desktop_with_window(640, 480, {109, 84, 300, 200});
  const std::vector<Rect> areas = {{64, 64, 384, 256}};
  MoveFinder finder;
  auto found = finder.candidates(after.view(), areas, showing(before), areas);
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found[0].dx, 9);
  EXPECT_EQ(found[0].dy, 4);
  EXPECT_FALSE(found[0].seeds.empty());
  // Nothing moved: no offset, (0, 0) least of all.
  EXPECT_TRUE(finder.candidates(before.view(), areas, showing(before), areas).empty());
}

TEST(MoveFinderTest, GrowingFindsExactlyTheMovedRectangle) {
  const Frame before = desktop_with_window(640, 480, {100, 80, 300, 200});
  const Frame after = desktop_with_window(640, 480, {109, 84, 300, 200});
  const ClientScreen client = showing(before);
  EXPECT_EQ(grow_move(after.view(), client, 9, 4, {250, 180}, {0, 0, 640, 480}), (Rect{109, 84, 300, 200}));
  // Not past the limit it is given, and not from a seed outside it.
  EXPECT_EQ(grow_move(after.view(), client, 9, 4, {250, 180}, {200, 100, 100, 100}), (Rect{200, 100, 100, 100}));
  EXPECT_TRUE(grow_move(after.view(), client, 9, 4, {50, 50}, {200, 100, 100, 100}).empty());
}

TEST(MoveFinderTest, AFalseOffsetGrowsOnlyWhatReallyMatches) {
  // As if a hash had collided: offsets that are not the move, grown from
  // seeds all over the window. Flat stretches (the title bar, the space
  // between lines) do match themselves moved, and a copy of them is right;
  // but no pixel that differs may be inside, and the window is not claimed.
  const Frame before = desktop_with_window(640, 480, {100, 80, 300, 200});
  const Frame after = desktop_with_window(640, 480, {109, 84, 300, 200});
  const ClientScreen client = showing(before);
  for (auto [dx, dy] : {std::pair{9, 5}, {8, 4}, {-9, -4}, {0, 14}, {30, 0}}) {
    for (int sy = 90; sy < 280; sy += 7) {
      for (int sx = 115; sx < 405; sx += 11) {
        Rect r = grow_move(after.view(), client, dx, dy, {sx, sy}, {0, 0, 640, 480});
        if (r.empty()) continue;
        EXPECT_LT(int64_t(r.w) * r.h, 300 * 200 / 4) << dx << "," << dy << " from " << sx << "," << sy;
        for (int y = r.y; y < r.y + r.h; ++y) {
          for (int x = r.x; x < r.x + r.w; ++x) {
            ASSERT_EQ(std::memcmp(after.view().data + y * after.stride + x * 4,
                                  before.view().data + (y - dy) * before.stride + (x - dx) * 4, 3),
                      0)
                << "offset " << dx << "," << dy << ": pixel " << x << "," << y << " differs";
          }
        }
      }
    }
  }
}

TEST(MoveFinderTest, SimilarLookingContentIsVotedForButNeverGrows) {
  // The window moved, but one pixel in every 48 of each row is new: the
  // anchors between them still vote for the move, and the pixels refuse it.
  const Frame before = desktop_with_window(640, 480, {100, 80, 300, 200});
  Frame after = desktop_with_window(640, 480, {109, 84, 300, 200});
  for (int y = 84; y < 284; ++y) {
    for (int x = 109; x < 409; ++x) {
      if ((x + 7 * y) % 48 == 0) after.set(x, y, 255, 0, 255);
    }
  }
  const std::vector<Rect> areas = {{64, 64, 384, 256}};
  const ClientScreen client = showing(before);
  MoveFinder finder;
  auto found = finder.candidates(after.view(), areas, client, areas);
  ASSERT_TRUE(has_candidate(found, 9, 4)) << "the anchors do see the move";
  for (const MoveCandidate& c : found) {
    for (Point seed : c.seeds) EXPECT_TRUE(grow_move(after.view(), client, c.dx, c.dy, seed, {0, 0, 640, 480}).empty());
  }
}

}  // namespace
}  // namespace oriel::display
