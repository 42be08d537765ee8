// The encoder's model of the browser's screen (client_screen.h).
#include "client_screen.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <memory>
#include <new>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ORIEL_CLIENT_SCREEN_SSSE3 1
#endif

namespace oriel::display {
namespace {

std::atomic<bool> simd_allowed{true};

#ifdef ORIEL_CLIENT_SCREEN_SSSE3
// SSSE3 (every x86-64 server CPU since 2006; asked at run time, as Debian
// builds for the plain x86-64 baseline): four pixels a step, one shuffle
// between the client's three bytes a pixel and the framebuffer's four.
// The scalar code below stays for other CPUs.
bool use_ssse3() {
  static const bool has = (__builtin_cpu_init(), __builtin_cpu_supports("ssse3"));
  return has && simd_allowed.load(std::memory_order_relaxed);
}

#define ORIEL_SSSE3 __attribute__((target("ssse3")))

// Four client pixels (12 bytes) spread to the framebuffer's layout, the
// fourth byte of each zero; and four framebuffer pixels packed to 12 bytes.
ORIEL_SSSE3 inline __m128i spread(__m128i c) {
  return _mm_shuffle_epi8(c, _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1));
}
ORIEL_SSSE3 inline __m128i pack(__m128i f) {
  return _mm_shuffle_epi8(f, _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1));
}
// Whether four pixels at `frame` and `client` are equal. Reads 16 client
// bytes: the four pixels and the four bytes after them (the screen keeps
// four spare bytes past its last pixel).
ORIEL_SSSE3 inline bool same_four(const uint8_t* frame, const uint8_t* client) {
  const __m128i f = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(frame)), _mm_set1_epi32(0x00FFFFFF));
  const __m128i c = spread(_mm_loadu_si128(reinterpret_cast<const __m128i*>(client)));
  return _mm_movemask_epi8(_mm_cmpeq_epi8(f, c)) == 0xFFFF;
}

// How many of the first `n` pixels are equal, counted in whole fours.
ORIEL_SSSE3 int same_fours(const uint8_t* frame, const uint8_t* client, int n) {
  int i = 0;
  while (i + 4 <= n && same_four(frame + i * 4, client + i * kClientPixelBytes)) i += 4;
  return i;
}
ORIEL_SSSE3 int same_fours_back(const uint8_t* frame_end, const uint8_t* client_end, int n) {
  int i = 0;
  while (i + 4 <= n && same_four(frame_end - (i + 4) * 4, client_end - (i + 4) * kClientPixelBytes)) i += 4;
  return i;
}

// Stores a row's first pixels four at a time; returns how many it stored.
// Each 16-byte store writes four bytes past its pixels, which the next
// step or the scalar tail writes again, so it stops while a sixth pixel is
// still in the row.
ORIEL_SSSE3 int store_fours(const uint8_t* from, uint8_t* to, int w) {
  int x = 0;
  for (; x + 6 <= w; x += 4) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(to + x * kClientPixelBytes),
                     pack(_mm_loadu_si128(reinterpret_cast<const __m128i*>(from + x * 4))));
  }
  return x;
}
#else
bool use_ssse3() { return false; }
int same_fours(const uint8_t*, const uint8_t*, int) { return 0; }
int same_fours_back(const uint8_t*, const uint8_t*, int) { return 0; }
int store_fours(const uint8_t*, uint8_t*, int) { return 0; }
#endif

// Whether `n` pixels of the frame and the client's screen are equal.
// Without an early exit inside a block of 16 so that the compiler can
// unroll it.
bool same_pixels(const uint8_t* frame, const uint8_t* client, int n) {
  if (use_ssse3()) return same_prefix(frame, client, n) == n;
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    uint32_t diff = 0;
    for (int j = i; j < i + 16; ++j) diff |= load_pixel(frame + j * 4) ^ load_pixel(client + j * kClientPixelBytes);
    if (diff & kRgbMask) return false;
  }
  for (; i < n; ++i) {
    if ((load_pixel(frame + i * 4) ^ load_pixel(client + i * kClientPixelBytes)) & kRgbMask) return false;
  }
  return true;
}

bool same_pixel(const uint8_t* frame, const uint8_t* client) {
  return ((load_pixel(frame) ^ load_pixel(client)) & kRgbMask) == 0;
}

}  // namespace

int same_prefix(const uint8_t* frame, const uint8_t* client, int n) {
  // Sixteen (or with SSSE3 four) pixels at a time while they all match,
  // then the pixel that does not.
  int i = 0;
  if (use_ssse3()) {
    i = same_fours(frame, client, n);
  } else {
    while (i + 16 <= n && same_pixels(frame + i * 4, client + i * kClientPixelBytes, 16)) i += 16;
  }
  while (i < n && same_pixel(frame + i * 4, client + i * kClientPixelBytes)) ++i;
  return i;
}

int same_suffix(const uint8_t* frame_end, const uint8_t* client_end, int n) {
  int i = 0;
  if (use_ssse3()) {
    i = same_fours_back(frame_end, client_end, n);
  } else {
    while (i + 16 <= n && same_pixels(frame_end - (i + 16) * 4, client_end - (i + 16) * kClientPixelBytes, 16)) i += 16;
  }
  while (i < n && same_pixel(frame_end - (i + 1) * 4, client_end - (i + 1) * kClientPixelBytes)) ++i;
  return i;
}

void allow_client_screen_simd(bool allowed) { simd_allowed.store(allowed, std::memory_order_relaxed); }

void ScreenUnmap::operator()(uint8_t* p) const { ::munmap(p, bytes); }

void ClientScreen::reset(int width, int height) {
  width_ = std::max(width, 0);
  height_ = std::max(height, 0);
  // Four bytes past the last pixel, so that a pixel can be read as a word.
  constexpr size_t kPage = 4096;
  const size_t bytes = (static_cast<size_t>(width_) * height_ * kClientPixelBytes + 4 + kPage - 1) / kPage * kPage;
  if (bytes != px_.get_deleter().bytes) {
    // Mapped on a 2 MiB boundary, the whole 2 MiB parts in huge pages where
    // the kernel allows: faulting in a screen 4 KiB at a time took 15-18 ms
    // on a virtual machine, more than the whole first frame; huge pages
    // take under 1 ms. The mapping ends where the screen does, so the last
    // part's small pages are all that the tail costs.
    constexpr size_t kHuge = size_t(2) << 20;
    px_.reset();
    void* p = ::mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto* start = static_cast<uint8_t*>(p);
    void* at = p;
    size_t space = bytes + kHuge;
    auto* aligned = static_cast<uint8_t*>(std::align(kHuge, bytes, at, space));  // fits: kHuge spare
    if (aligned > start) ::munmap(start, aligned - start);
    ::munmap(aligned + bytes, start + bytes + kHuge - (aligned + bytes));
    px_ = std::unique_ptr<uint8_t[], ScreenUnmap>(aligned, ScreenUnmap{bytes});
#ifdef MADV_HUGEPAGE
    if (bytes >= kHuge) ::madvise(aligned, bytes / kHuge * kHuge, MADV_HUGEPAGE);
#endif
  } else {
    std::memset(px_.get(), 0, bytes);
  }
}

void ClientScreen::store(const FrameView& frame, const Rect& r) {
  if (r.w <= 0) return;
  // Four pixels (16 bytes) become 12 in two stores, where the byte order
  // puts each pixel's R, G, B in the low 24 bits of its word.
  constexpr bool kLittle = std::endian::native == std::endian::little;
  const int fours = kLittle ? (r.w - 1) / 4 * 4 : 0;
  const bool ssse3 = use_ssse3();
  for (int y = r.y; y < r.y + r.h; ++y) {
    const uint8_t* from = frame_pixel(frame, r.x, y);
    uint8_t* to = pixel(r.x, y);
    for (int x = ssse3 ? store_fours(from, to, r.w) : 0; x < fours; x += 4) {
      uint64_t a, b;  // pixels 0 and 1, 2 and 3
      std::memcpy(&a, from + x * 4, 8);
      std::memcpy(&b, from + x * 4 + 8, 8);
      const uint64_t low = (a & 0xFFFFFF) | (a >> 8 & 0xFFFFFF000000) | b << 48;               // 0, 1, R and G of 2
      const uint32_t high = static_cast<uint32_t>((b >> 16 & 0xFF) | (b >> 24 & 0xFFFFFF00));  // B of 2, then 3
      std::memcpy(to + x * kClientPixelBytes, &low, 8);
      std::memcpy(to + x * kClientPixelBytes + 8, &high, 4);
    }
    // Then four bytes a pixel, left to right: each pixel's fourth
    // overwritten by the next pixel's first. The last is three, to leave
    // its neighbour be.
    for (int x = fours; x + 1 < r.w; ++x) std::memcpy(to + x * kClientPixelBytes, from + x * 4, 4);
    std::memcpy(to + (r.w - 1) * kClientPixelBytes, from + (r.w - 1) * 4, kClientPixelBytes);
  }
}

void ClientScreen::copy(int src_x, int src_y, const Rect& to) {
  auto move_row = [&](int r) {
    std::memmove(pixel(to.x, to.y + r), pixel(src_x, src_y + r), static_cast<size_t>(to.w) * kClientPixelBytes);
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
    right = end - same_suffix(frame_pixel(frame, end - 1, y) + 4, pixel(end - 1, y) + kClientPixelBytes, end - right);
  }
  return {left, top, right - left, bottom - top};
}

}  // namespace oriel::display
