// Finds what moved on the screen in two dimensions (a window dragged, a
// panel slid in): regions of the new frame the browser already shows
// somewhere else, each to be sent as one Copy.
//
// Candidates come from anchors, positions chosen by the content itself: a
// pixel that differs from its left neighbour and where a rolling hash of
// the 32 pixels ending there has its top bits clear. The same content gives
// the same anchors wherever it is, so an anchor of the frame and one of the
// browser's screen with the same hash vote for the offset between them (the
// idea of content-defined chunking, in two dimensions; video encoders find
// screen-content motion by hashing blocks the same way). Content repeated
// down a column (a flat button's rows) has several places on the browser
// and votes for each; content repeated more than a few times votes for
// none. A vote is only a hint: grow_move() compares pixels, and only a
// rectangle whose every pixel matches becomes a Copy.
//
// Sampling rows keeps a large changed area cheap without missing an offset:
// with P ≥ B², the browser's rows with y mod P < B and the frame's rows with
// (y mod P) mod B == 0 pair, for every vertical offset, at least one frame
// row in P with a browser row.
//
// Not thread-safe: one per FrameEncoder.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "client_screen.h"

namespace oriel::display {

// A Copy: the browser's pixels at (src_x, src_y) go to `to`.
struct Move {
  Rect to;
  int src_x = 0, src_y = 0;
};

struct Point {
  int x = 0, y = 0;
};

// An offset under which parts of the frame may be on the browser already:
// the frame's pixel (x, y) would be the browser's (x - dx, y - dy).
struct MoveCandidate {
  int dx = 0, dy = 0;
  int votes = 0;
  std::vector<Point> seeds;  // frame positions that voted, spread over the region
};

class MoveFinder {
 public:
  // The offsets that anchors of the frame inside `frame_areas` share with
  // anchors of the browser's screen inside `client_areas`, most votes
  // first, without (0, 0) and those with too few votes to be more than
  // chance.
  std::vector<MoveCandidate> candidates(const FrameView& frame, std::span<const Rect> frame_areas,
                                        const ClientScreen& client, std::span<const Rect> client_areas);

  struct Anchor {
    uint64_t key;
    int x, y;
  };
  // Appends the anchors of row y of `area` (`row` is the row's first pixel,
  // `pixel_bytes` each), whose hashes have their top `bits` clear. Public
  // for tests.
  static void collect(const uint8_t* row, int pixel_bytes, const Rect& area, int y, int bits, std::vector<Anchor>& out);

 private:
  struct Run {  // the browser's anchors with one key: client_[first, first + count)
    uint64_t key = 0;
    int32_t first = 0, count = 0;
  };
  struct Tally {
    int dx = 0, dy = 0, votes = 0;
  };
  void index_client();
  const Run* find(uint64_t key) const;
  // Calls fn(dx, dy, frame anchor) for each vote.
  template <class Fn>
  void for_each_vote(const Fn& fn) const;
  void vote();
  Tally& tally(int dx, int dy);
  std::vector<MoveCandidate> best() const;

  std::vector<Anchor> client_, frame_;
  std::vector<Run> runs_;       // open addressing by key; count 0: empty
  std::vector<Tally> tallies_;  // open addressing by offset; votes 0: empty
};

// The largest rectangle around the seed, inside `limit`, whose every pixel
// the browser already shows (dx, dy) away, compared pixel by pixel; empty
// when the seed itself does not match or the rectangle would be too small
// to be worth a Copy. `limit` must keep the source on the screen.
Rect grow_move(const FrameView& frame, const ClientScreen& client, int dx, int dy, Point seed, const Rect& limit);

}  // namespace oriel::display
