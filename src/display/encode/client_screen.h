// The encoder's model of the browser's canvas: the pixels it was sent, moved
// the way the browser moves them. Hashes only ever suggest a Copy; these
// pixels decide it (a Copy is sent only where every pixel it brings equals
// the new frame's), and after the copies they say what is left to send.
//
// Three bytes a pixel, R, G and B, three quarters of a framebuffer (which
// has an unused fourth byte the browser never sees). Where the browser was
// sent a JPEG this holds the source pixels, not the decoded ones: the
// encoder tracks lossy tiles itself.
//
// Owned by one FrameEncoder. store() and the const functions may run on
// several threads at once for disjoint rows; copy() and reset() may not.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>

#include "oriel/display/frame_encoder.h"

namespace oriel::display {

// The R, G and B bytes of a pixel loaded as a 32-bit word, whatever the
// machine's byte order. A pixel of the framebuffer and one of the client's
// screen are equal when their words are, masked.
inline constexpr uint32_t kRgbMask = std::bit_cast<uint32_t>(std::array<uint8_t, 4>{0xFF, 0xFF, 0xFF, 0x00});
inline constexpr int kClientPixelBytes = 3;

// Four bytes from `p`: a framebuffer pixel, or a client pixel and the byte after it.
inline uint32_t load_pixel(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Whether each of the four pixels at `p` (kPixelBytes each: a framebuffer's
// or the client's screen's) equals, in R, G and B, the one before it. Most
// of text and UI does: runs of background between glyphs.
template <int kPixelBytes>
inline bool four_repeat_left(const uint8_t* p) {
  uint64_t a0, a1, b0, b1;
  if constexpr (kPixelBytes == 4) {
    constexpr uint64_t kMask = uint64_t(kRgbMask) << 32 | kRgbMask;  // two pixels, either byte order
    std::memcpy(&a0, p, 8);
    std::memcpy(&a1, p + 8, 8);
    std::memcpy(&b0, p - 4, 8);
    std::memcpy(&b1, p + 4, 8);
    return (((a0 ^ b0) | (a1 ^ b1)) & kMask) == 0;
  } else {
    static_assert(kPixelBytes == 3);
    // Twelve bytes against the twelve before them, three apart: the last
    // eight of each overlap the first.
    std::memcpy(&a0, p, 8);
    std::memcpy(&a1, p + 4, 8);
    std::memcpy(&b0, p - 3, 8);
    std::memcpy(&b1, p + 1, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
}

inline const uint8_t* frame_pixel(const FrameView& f, int x, int y) {
  return f.data + static_cast<size_t>(y) * f.stride + static_cast<size_t>(x) * 4;
}

// How many of the first `n` pixels of `frame` (a framebuffer's, 4 bytes
// each) and `client` (the client's screen's, 3 bytes each) are equal.
int same_prefix(const uint8_t* frame, const uint8_t* client, int n);
// How many of the last `n` pixels before `frame_end` and `client_end` are.
int same_suffix(const uint8_t* frame_end, const uint8_t* client_end, int n);

// Whether the SSSE3 code may run where the CPU has it (default yes); off,
// the portable code does the same work. For tests.
void allow_client_screen_simd(bool allowed);

// Unmaps a ClientScreen's pixels.
struct ScreenUnmap {
  size_t bytes = 0;
  void operator()(uint8_t* p) const;
};

class ClientScreen {
 public:
  // A blank screen of that size; what it holds means nothing until stored.
  void reset(int width, int height);
  int width() const { return width_; }
  int height() const { return height_; }
  // kClientPixelBytes a pixel; four bytes can be read from any pixel's.
  const uint8_t* pixel(int x, int y) const { return px_.get() + offset(x, y); }

  // The frame's pixels of `r` are now on the browser (a Solid or an Image).
  void store(const FrameView& frame, const Rect& r);
  // Applies a Copy as the browser does (docs/display-protocol.md, Copy): as
  // if the whole source were read before anything is written.
  void copy(int src_x, int src_y, const Rect& to);
  // Whether the browser shows the frame's pixels of `to` at (src_x, src_y).
  bool shows(const FrameView& frame, const Rect& to, int src_x, int src_y) const;
  // The smallest rectangle inside `r` holding every pixel where the frame
  // and the browser differ; empty when none does.
  Rect difference(const FrameView& frame, const Rect& r) const;

 private:
  bool same_row(const FrameView& frame, int x, int y, int w) const;
  size_t offset(int x, int y) const { return (static_cast<size_t>(y) * width_ + x) * kClientPixelBytes; }
  uint8_t* pixel(int x, int y) { return px_.get() + offset(x, y); }

  int width_ = 0, height_ = 0;
  std::unique_ptr<uint8_t[], ScreenUnmap> px_;
};

}  // namespace oriel::display
