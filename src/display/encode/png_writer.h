// Images written straight from the framebuffer. PNG (RFC 2083): indexed
// colour with a palette when the region has at most 256 colours (text and
// UI), packed to 1, 2 or 4 bits a pixel when a few colours allow, else RGB
// with the Sub filter, deflated by libdeflate at a fast level.
// JPEG (libjpeg-turbo) for a region of many colours when lossy is allowed:
// photographs and video. Browsers decode all of them natively.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oriel/display/frame_encoder.h"

namespace oriel::display {

// Each appends an image of `r` (inside `frame`) to `out`. Thread-safe.

// An indexed PNG; false, with nothing appended, when `r` has more than 256 colours.
bool append_indexed_png(const FrameView& frame, const Rect& r, std::string& out);
// An RGB PNG: any number of colours.
void append_rgb_png(const FrameView& frame, const Rect& r, std::string& out);
// A JPEG at `quality` (1-100), with Huffman tables fitted to the image below
// quality 80; false, with nothing appended, if libjpeg fails.
bool append_jpeg(const FrameView& frame, const Rect& r, int quality, std::string& out);

// `r` cut at multiples of `step` on the screen into parts, left to right:
// each as wide as it can be with at most 256 colours (indexed), or the
// slices between those that have more on their own (not indexed).
// Anti-aliased text in a few colours has some hundreds of colours in a
// screen-wide run but fewer than 256 in most tiles.
// Whether `r` looks like a photograph rather than anti-aliased text or UI:
// fewer than half its pixels (in every fourth row) equal their left
// neighbour.
bool photographic(const FrameView& frame, const Rect& r);

struct ColourPart {
  Rect rect;
  bool indexed = false;
};
std::vector<ColourPart> colour_parts(const FrameView& frame, const Rect& r, int step);

}  // namespace oriel::display
