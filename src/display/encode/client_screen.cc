// The encoder's model of the browser's screen (client_screen.h). Comparisons
// read two pixels as one 64-bit word and mask the X bytes off.
#include "client_screen.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace oriel::display {
namespace {

constexpr uint64_t kRgbMask2 = uint64_t(kRgbMask) << 32 | kRgbMask;  // two pixels

uint64_t load2(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Whether `n` pixels of `a` and `b` have the same R, G and B. Without an
// early exit inside a block of 16 so that the compiler can vectorise it.
bool same_pixels(const uint8_t* a, const uint8_t* b, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    uint64_t diff = 0;
    for (int j = 0; j < 16; j += 2) diff |= load2(a + (i + j) * 4) ^ load2(b + (i + j) * 4);
    if (diff & kRgbMask2) return false;
  }
  for (; i < n; ++i) {
    if ((load_pixel(a + i * 4) ^ load_pixel(b + i * 4)) & kRgbMask) return false;
  }
  return true;
}

}  // namespace

int same_prefix(const uint8_t* a, const uint8_t* b, int n) {
  // Sixteen pixels at a time while they all match, then the pixel that does not.
  int i = 0;
  while (i + 16 <= n && same_pixels(a + i * 4, b + i * 4, 16)) i += 16;
  while (i < n && ((load_pixel(a + i * 4) ^ load_pixel(b + i * 4)) & kRgbMask) == 0) ++i;
  return i;
}

int same_suffix(const uint8_t* a_end, const uint8_t* b_end, int n) {
  int i = 0;
  while (i + 16 <= n && same_pixels(a_end - (i + 16) * 4, b_end - (i + 16) * 4, 16)) i += 16;
  while (i < n && ((load_pixel(a_end - (i + 1) * 4) ^ load_pixel(b_end - (i + 1) * 4)) & kRgbMask) == 0) ++i;
  return i;
}

void ClientScreen::Free::operator()(uint32_t* p) const { std::free(p); }

void ClientScreen::reset(int width, int height) {
  width_ = std::max(width, 0);
  height_ = std::max(height, 0);
  const size_t bytes = static_cast<size_t>(width_) * height_ * 4;
  if (bytes > capacity_) {
    // In 2 MiB huge pages where the kernel allows: faulting in a 4 MB screen
    // 4 KiB at a time took 15-18 ms on a virtual machine, more than the
    // whole first frame; two huge pages take under 1 ms.
    constexpr size_t kHuge = size_t(2) << 20;
    capacity_ = (bytes + kHuge - 1) / kHuge * kHuge;
    px_.reset(static_cast<uint32_t*>(std::aligned_alloc(kHuge, capacity_)));
    if (!px_) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    ::madvise(px_.get(), capacity_, MADV_HUGEPAGE);
#endif
  }
  if (bytes > 0) std::memset(px_.get(), 0, bytes);
}

void ClientScreen::store(const FrameView& frame, const Rect& r) {
  for (int y = r.y; y < r.y + r.h; ++y) {
    std::memcpy(row(y) + r.x, frame_pixel(frame, r.x, y), static_cast<size_t>(r.w) * 4);
  }
}

void ClientScreen::copy(int src_x, int src_y, const Rect& to) {
  auto move_row = [&](int r) {
    std::memmove(row(to.y + r) + to.x, row(src_y + r) + src_x, static_cast<size_t>(to.w) * 4);
  };
  // Rows in the order that never overwrites a source row before it is read.
  if (src_y >= to.y) {
    for (int r = 0; r < to.h; ++r) move_row(r);
  } else {
    for (int r = to.h - 1; r >= 0; --r) move_row(r);
  }
}

bool ClientScreen::shows(const FrameView& frame, const Rect& to, int src_x, int src_y) const {
  for (int r = 0; r < to.h; ++r) {
    if (!same_pixels(frame_pixel(frame, to.x, to.y + r), pixel(src_x, src_y + r), to.w)) return false;
  }
  return true;
}

bool ClientScreen::same_row(const FrameView& frame, int x, int y, int w) const {
  return same_pixels(frame_pixel(frame, x, y), pixel(x, y), w);
}

Rect ClientScreen::difference(const FrameView& frame, const Rect& r) const {
  int top = r.y, bottom = r.y + r.h;  // rows [top, bottom)
  while (top < bottom && same_row(frame, r.x, top, r.w)) ++top;
  if (top == bottom) return {};
  while (same_row(frame, r.x, bottom - 1, r.w)) --bottom;
  // Columns: each row only has to be looked at outside what is known to differ.
  const int end = r.x + r.w;
  int left = end, right = r.x;
  for (int y = top; y < bottom; ++y) {
    left = r.x + same_prefix(frame_pixel(frame, r.x, y), pixel(r.x, y), left - r.x);
    right = end - same_suffix(frame_pixel(frame, end - 1, y) + 4, pixel(end - 1, y) + 4, end - right);
  }
  return {left, top, right - left, bottom - top};
}

}  // namespace oriel::display
