// What one FrameEncoder::encode() knows about each tile; shared by the
// encoder's source files, not part of its interface.
#pragma once

#include <algorithm>
#include <vector>

#include "oriel/display/frame_encoder.h"

namespace oriel::display {

struct FrameEncoder::Tiles {
  int tile = 0, columns = 0;
  std::vector<char> touched;   // inside the damage, or written by a Copy: looked at this frame
  std::vector<char> lossless;  // sent lossy, now due for its lossless refresh
  std::vector<char> known;     // the browser has been sent this tile since the last reset
  std::vector<char> changed;   // touched, and the browser's differs from the frame (or is due a refresh)
  std::vector<char> exact;     // wholly inside a Copy: the browser has the frame's pixels
  std::vector<int> work;       // tile rows with a touched tile, top to bottom

  // Calls fn(index) for each tile that `r` (on the screen) overlaps.
  template <class Fn>
  void for_each_tile(const Rect& r, Fn fn) const {
    if (r.empty()) return;
    for (int row = r.y / tile; row <= (r.y + r.h - 1) / tile; ++row) {
      for (int col = r.x / tile; col <= (r.x + r.w - 1) / tile; ++col) fn(static_cast<size_t>(row) * columns + col);
    }
  }
};

// The part of `r` inside a width x height screen.
inline Rect clip(const Rect& r, int width, int height) {
  int x0 = std::clamp(r.x, 0, width), y0 = std::clamp(r.y, 0, height);
  int x1 = std::clamp(r.x + std::max(r.w, 0), 0, width), y1 = std::clamp(r.y + std::max(r.h, 0), 0, height);
  return {x0, y0, x1 - x0, y1 - y0};
}

inline Rect intersect(const Rect& a, const Rect& b) {
  int x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
  int x1 = std::min(a.x + a.w, b.x + b.w), y1 = std::min(a.y + a.h, b.y + b.h);
  return x1 > x0 && y1 > y0 ? Rect{x0, y0, x1 - x0, y1 - y0} : Rect{};
}

// The smallest rectangle holding both; either may be empty.
inline Rect bounding(const Rect& a, const Rect& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  int x0 = std::min(a.x, b.x), y0 = std::min(a.y, b.y);
  return {x0, y0, std::max(a.x + a.w, b.x + b.w) - x0, std::max(a.y + a.h, b.y + b.h) - y0};
}

inline bool contains(const Rect& outer, const Rect& inner) {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w &&
         inner.y + inner.h <= outer.y + outer.h;
}

// Whether one image of both rectangles beats two: an image costs about 100
// bytes before its pixels, and what lies between or beside the two did not
// change but would be sent again (the strips a dragged window uncovers, one
// tall and one wide, would make a box of the window's corner).
inline bool worth_joining(const Rect& run, const Rect& next) {
  const int64_t apart = int64_t(run.w) * run.h + int64_t(next.w) * next.h;
  const Rect both = bounding(run, next);
  return int64_t(both.w) * both.h <= apart + std::max<int64_t>(1024, apart / 4);
}

}  // namespace oriel::display
