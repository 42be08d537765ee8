// Images written straight from the framebuffer. PNG (RFC 2083): indexed
// colour with a palette when the region has at most 256 colours (text and
// UI), packed to 1, 2 or 4 bits a pixel when a few colours allow, else RGB
// with the Sub filter; deflated by ISA-L's igzip (Deflate::kFast) or
// libdeflate (Deflate::kDense).
// JPEG (libjpeg-turbo) for a region of many colours when lossy is allowed:
// photographs and video. Browsers decode all of them natively.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "oriel/display/frame_encoder.h"

namespace oriel::display {

// Colour (a pixel loaded as a word, masked to R, G, B) -> palette index, up
// to 256 colours (open addressing). Looked up for every pixel but those in
// blocks of four that repeat their left neighbour: a colour already seen
// is one load and one predictable branch, which costs less than comparing
// each pixel with the last (text alternates too often for that).
// Reused through clear(), which empties only the slots in use: a new table
// for each image was 8 kB to fill, for images of a few kB.
class Palette {
 public:
  Palette() { slots_.fill({kEmpty, 0}); }
  void clear() { truncate(0); }
  // Forgets every colour added after the first `n`.
  void truncate(size_t n);
  // The index of `rgb`, added if new; -1 once there would be more than 256.
  int index(uint32_t rgb) {
    size_t slot = (rgb * 2654435761u) >> (32 - kBits);
    if (slots_[slot].key == rgb) return slots_[slot].value;
    return probe(rgb, slot);
  }
  size_t size() const { return colours_.size(); }
  const std::vector<uint32_t>& colours() const { return colours_; }

 private:
  static constexpr int kBits = 10;
  static constexpr size_t kSlots = size_t(1) << kBits;
  static constexpr uint32_t kEmpty = 0xFFFFFFFF;  // never a masked pixel
  struct Slot {
    uint32_t key;
    int value;
  };
  int probe(uint32_t rgb, size_t slot);
  std::array<Slot, kSlots> slots_;
  std::array<uint16_t, 256> used_;  // the slot of each colour, in the order added
  std::vector<uint32_t> colours_;
};

// Adds the colours of `r` to `palette`; false once there would be more than
// 256 (the palette then holds some of them: truncate() to undo).
bool add_colours(const FrameView& frame, const Rect& r, Palette& palette);

// Each appends an image of `r` (inside `frame`) to `out`. Thread-safe.

// An indexed PNG; false, with nothing appended, when `r` has more than 256 colours.
bool append_indexed_png(const FrameView& frame, const Rect& r, Deflate deflate, std::string& out);
// An RGB PNG: any number of colours.
void append_rgb_png(const FrameView& frame, const Rect& r, Deflate deflate, std::string& out);
// A JPEG at `quality` (1-100), with Huffman tables fitted to the image below
// quality 80; false, with nothing appended, if libjpeg fails.
bool append_jpeg(const FrameView& frame, const Rect& r, int quality, std::string& out);

// Whether `r` looks like a photograph rather than anti-aliased text or UI:
// fewer than half its pixels (in every fourth row) equal their left
// neighbour.
bool photographic(const FrameView& frame, const Rect& r);

// The colours of a rectangle counted once, in slices cut at multiples of
// `step` on the screen (tile edges) when it has more than 256 in all:
// joining it to a region, or cutting it where its colours allow, is then a
// matter of palettes, not pixels.
// Anti-aliased text in a few colours has some hundreds of colours in a
// screen-wide run but fewer than 256 in most tiles.
class ColourSlices {
 public:
  struct Part {
    Rect rect;
    bool indexed = false;
    size_t first = 0, end = 0;  // its slices
  };
  // Counts the colours of `r`: one slice when it has at most 256 (or
  // `step` is 0), else one per step.
  void count(const FrameView& frame, const Rect& r, int step);
  size_t size() const { return slices_.size(); }
  // Adds the colours of slices [first, end) to `palette`; false once there
  // would be more than 256 (the palette then holds some of them).
  bool add_to(Palette& palette, size_t first, size_t end) const;
  // The rectangle cut into parts, left to right: each as wide as it can be
  // with at most 256 colours (indexed), or the slices between those that
  // have more on their own (not indexed).
  std::vector<Part> parts();

 private:
  struct Slice {
    Rect rect;
    size_t first = 0, count = 0;  // its colours, in colours_
    bool many = false;            // more than 256
  };
  std::vector<Slice> slices_;
  std::vector<uint32_t> colours_;
  Palette scratch_;
};

}  // namespace oriel::display
