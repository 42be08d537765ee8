#include "png_writer.h"

#include "client_screen.h"

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>

#include <jpeglib.h>
#include <cstdio>  // jpeglib.h uses FILE without including it

#include <algorithm>
#include <array>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace oriel::display {
namespace {

constexpr int kDenseLevel = 6;     // libdeflate's default
constexpr int kHuffmanBelow = 80;  // JPEG quality below which Huffman tables are fitted to the image

struct CompressorDeleter {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

// Each thread's buffers for its images, made on its first image of that kind.
libdeflate_compressor* dense_compressor() {
  thread_local std::unique_ptr<libdeflate_compressor, CompressorDeleter> c(libdeflate_alloc_compressor(kDenseLevel));
  return c.get();
}

// ISA-L's state for one deflate at level 1: the stream (with its history)
// and the level's hash table and buffer of matches.
struct Igzip {
  isal_zstream stream;
  std::array<uint8_t, ISAL_DEF_LVL1_DEFAULT> level_buffer;
};

// `in` as a zlib stream (RFC 1950) into `out`, which has room for any
// deflate of it; its size.
size_t zlib_stream(const std::vector<uint8_t>& in, Deflate how, std::vector<uint8_t>& out) {
  if (how == Deflate::kFast) {
    thread_local const std::unique_ptr<Igzip> igzip = std::make_unique<Igzip>();
    isal_zstream& z = igzip->stream;
    isal_deflate_stateless_init(&z);
    z.level = 1;
    z.level_buf = igzip->level_buffer.data();
    z.level_buf_size = static_cast<uint32_t>(igzip->level_buffer.size());
    z.gzip_flag = IGZIP_ZLIB;
    z.end_of_stream = 1;
    z.next_in = const_cast<uint8_t*>(in.data());
    z.avail_in = static_cast<uint32_t>(in.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uint32_t>(out.size());
    if (isal_deflate_stateless(&z) == COMP_OK) return z.total_out;
    // Not expected with room for any deflate; libdeflate always succeeds.
  }
  return libdeflate_zlib_compress(dense_compressor(), in.data(), in.size(), out.data(), out.size());
}

void put32be(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(v >> shift);
}

// One chunk: length, type, data, CRC of type and data (RFC 2083 §3.2).
void chunk(std::string& out, const char type[4], const void* data, size_t size) {
  put32be(out, static_cast<uint32_t>(size));
  size_t start = out.size();
  out.append(type, 4);
  out.append(static_cast<const char*>(data), size);
  put32be(out, libdeflate_crc32(0, out.data() + start, size + 4));
}

// The palette index of each of the `w` pixels at `p`, written to `out` if
// kWrite; false once there would be more than 256 colours. Four pixels that
// repeat the one before them take its index without a lookup: the lookups
// were most of the time a region's colours and indices took.
template <bool kWrite>
bool index_row(const uint8_t* p, int w, Palette& palette, uint8_t* out) {
  int last = 0;
  auto look_up = [&](int x) {
    last = palette.index(load_pixel(p + x * 4) & kRgbMask);
    if constexpr (kWrite) out[x] = static_cast<uint8_t>(last);
    return last >= 0;
  };
  if (w <= 0) return true;
  if (!look_up(0)) return false;
  int x = 1;
  for (; x + 4 <= w; x += 4) {
    if (four_repeat_left<4>(p + x * 4)) {
      if constexpr (kWrite) std::memset(out + x, last, 4);
    } else if (!look_up(x) || !look_up(x + 1) || !look_up(x + 2) || !look_up(x + 3)) {
      return false;
    }
  }
  for (; x < w; ++x) {
    if (!look_up(x)) return false;
  }
  return true;
}

// Filtered scanlines for an indexed image: filter None, one byte a pixel.
bool indexed_rows(const FrameView& f, const Rect& r, Palette& palette, std::vector<uint8_t>& raw) {
  raw.resize(size_t(r.h) * (r.w + 1));
  uint8_t* o = raw.data();
  for (int y = r.y; y < r.y + r.h; ++y, o += r.w + 1) {
    o[0] = 0;
    if (!index_row<true>(frame_pixel(f, r.x, y), r.w, palette, o + 1)) return false;
  }
  return true;
}

// The fewest bits a pixel PNG allows for that many palette entries.
int depth_for(size_t colours) { return colours <= 2 ? 1 : colours <= 4 ? 2 : colours <= 16 ? 4 : 8; }

// kPerByte palette indices (each below 2^Depth) as one byte, the first in
// the high bits: one multiplication moves every index to its place in the
// top byte, and no two partial products overlap, so nothing carries.
template <int Depth>
uint8_t pack_byte(const uint8_t* in) {
  if constexpr (Depth == 1) {
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v |= uint64_t(in[k]) << (8 * k);
    return static_cast<uint8_t>((v * 0x8040201008040201ull) >> 56);
  } else if constexpr (Depth == 2) {
    uint32_t v = in[0] | in[1] << 8 | in[2] << 16 | uint32_t(in[3]) << 24;
    return static_cast<uint8_t>((v * 0x40100401u) >> 24);
  } else {
    return static_cast<uint8_t>(in[0] << 4 | in[1]);
  }
}

// Packs indexed scanlines of one byte a pixel to `Depth` bits (RFC 2083
// §2.3), in place: a text run of three colours is a quarter of the bytes
// to deflate.
template <int Depth>
void pack_rows(std::vector<uint8_t>& raw, int w, int h) {
  constexpr int kPerByte = 8 / Depth;
  const size_t in_row = size_t(w) + 1, out_row = (size_t(w) + kPerByte - 1) / kPerByte + 1;
  const int whole = w / kPerByte * kPerByte;
  for (int y = 0; y < h; ++y) {
    // Each output byte lies at or before the input it is made of.
    const uint8_t* in = &raw[y * in_row + 1];
    uint8_t* out = &raw[y * out_row];
    *out++ = 0;
    for (int x = 0; x < whole; x += kPerByte) *out++ = pack_byte<Depth>(in + x);
    if (whole < w) {
      uint8_t tail[8] = {};
      std::copy(in + whole, in + w, tail);
      *out = pack_byte<Depth>(tail);
    }
  }
  raw.resize(out_row * h);
}

void pack_rows(std::vector<uint8_t>& raw, int w, int h, int depth) {
  if (depth == 1) pack_rows<1>(raw, w, h);
  if (depth == 2) pack_rows<2>(raw, w, h);
  if (depth == 4) pack_rows<4>(raw, w, h);
}

// Filtered scanlines for an RGB image: filter Sub (the left neighbour).
void rgb_rows(const FrameView& f, const Rect& r, std::vector<uint8_t>& raw) {
  size_t row_bytes = size_t(r.w) * 3 + 1;
  raw.resize(size_t(r.h) * row_bytes);
  for (int y = 0; y < r.h; ++y) {
    uint8_t* o = &raw[y * row_bytes];
    *o++ = 1;
    const uint8_t* p = f.data + (r.y + y) * f.stride + size_t(r.x) * 4;
    uint8_t left[3] = {0, 0, 0};
    for (int x = 0; x < r.w; ++x, p += 4) {
      for (int c = 0; c < 3; ++c) {
        *o++ = static_cast<uint8_t>(p[c] - left[c]);
        left[c] = p[c];
      }
    }
  }
}

// The PNG of `raw` (filtered scanlines): indexed with `palette`'s colours at
// `depth` bits a pixel, or RGB when `palette` is null.
void append_png(const Rect& r, const std::vector<uint8_t>& raw, const Palette* palette, int depth, Deflate how,
                std::string& out) {
  thread_local std::vector<uint8_t> deflated;
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  out.append(kSignature, 8);
  std::string header;
  put32be(header, static_cast<uint32_t>(r.w));
  put32be(header, static_cast<uint32_t>(r.h));
  // Bit depth, colour type, compression, filter, interlace.
  header += {static_cast<char>(depth), static_cast<char>(palette ? 3 : 2), 0, 0, 0};
  chunk(out, "IHDR", header.data(), header.size());
  if (palette) {
    std::string plte;
    for (uint32_t c : palette->colours()) plte.append(reinterpret_cast<const char*>(&c), 3);  // R, G, B as in memory
    chunk(out, "PLTE", plte.data(), plte.size());
  }
  // Grown, never shrunk: resizing a vector up fills it, which would cost as much as a copy.
  const size_t bound = libdeflate_zlib_compress_bound(nullptr, raw.size());
  if (deflated.size() < bound) deflated.resize(bound);
  chunk(out, "IDAT", deflated.data(), zlib_stream(raw, how, deflated));
  chunk(out, "IEND", "", 0);
}

// libjpeg reports errors by calling error_exit, which must not return.
struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
};

}  // namespace

void Palette::truncate(size_t n) {
  // Newest first: each slot is freed in the state it was taken, so every
  // probe sequence left is as it was.
  for (size_t i = colours_.size(); i > n; --i) slots_[used_[i - 1]].key = kEmpty;
  colours_.resize(std::min(n, colours_.size()));
}

int Palette::probe(uint32_t rgb, size_t slot) {
  while (slots_[slot].key != kEmpty) {
    if (slots_[slot].key == rgb) return slots_[slot].value;
    slot = (slot + 1) & (kSlots - 1);
  }
  if (colours_.size() == 256) return -1;
  slots_[slot] = {rgb, static_cast<int>(colours_.size())};
  used_[colours_.size()] = static_cast<uint16_t>(slot);
  colours_.push_back(rgb);
  return slots_[slot].value;
}

bool add_colours(const FrameView& f, const Rect& r, Palette& palette) {
  for (int y = r.y; y < r.y + r.h; ++y) {
    if (!index_row<false>(frame_pixel(f, r.x, y), r.w, palette, nullptr)) return false;
  }
  return true;
}

bool append_indexed_png(const FrameView& frame, const Rect& r, Deflate deflate, std::string& out) {
  thread_local std::vector<uint8_t> raw;
  thread_local Palette palette;
  palette.clear();
  if (!indexed_rows(frame, r, palette, raw)) return false;
  const int depth = depth_for(palette.colours().size());
  if (depth < 8) pack_rows(raw, r.w, r.h, depth);
  append_png(r, raw, &palette, depth, deflate, out);
  return true;
}

void append_rgb_png(const FrameView& frame, const Rect& r, Deflate deflate, std::string& out) {
  thread_local std::vector<uint8_t> raw;
  rgb_rows(frame, r, raw);
  append_png(r, raw, nullptr, 8, deflate, out);
}

bool photographic(const FrameView& frame, const Rect& r) {
  int64_t same = 0, all = 0;
  for (int y = r.y; y < r.y + r.h; y += 4) {
    const uint8_t* p = frame_pixel(frame, r.x, y);
    for (int x = 1; x < r.w; ++x) same += ((load_pixel(p + x * 4) ^ load_pixel(p + (x - 1) * 4)) & kRgbMask) == 0;
    all += r.w - 1;
  }
  return same * 2 < all;
}

void ColourSlices::count(const FrameView& frame, const Rect& r, int step) {
  slices_.clear();
  colours_.clear();
  auto add_slice = [&](const Rect& slice) {
    const size_t first = colours_.size();
    scratch_.clear();
    const bool many = !add_colours(frame, slice, scratch_);
    if (!many) colours_.insert(colours_.end(), scratch_.colours().begin(), scratch_.colours().end());
    slices_.push_back({slice, first, colours_.size() - first, many});
    return !many;
  };
  // Most have at most 256 colours in all: one slice. A palette filled
  // slice by slice would look every colour up again in each.
  if (add_slice(r) || step <= 0) return;
  slices_.clear();
  for (int x = r.x; x < r.x + r.w;) {
    const int end = std::min((x / step + 1) * step, r.x + r.w);
    add_slice({x, r.y, end - x, r.h});
    x = end;
  }
}

bool ColourSlices::add_to(Palette& palette, size_t first, size_t end) const {
  for (size_t i = first; i < end; ++i) {
    const Slice& s = slices_[i];
    if (s.many) return false;
    for (size_t c = s.first; c < s.first + s.count; ++c) {
      if (palette.index(colours_[c]) < 0) return false;
    }
  }
  return true;
}

std::vector<ColourSlices::Part> ColourSlices::parts() {
  std::vector<Part> parts;
  for (size_t i = 0; i < slices_.size(); ++i) {
    const Rect& slice = slices_[i].rect;
    // scratch_ holds the colours of parts.back() while it is indexed.
    if (!parts.empty() && parts.back().indexed && add_to(scratch_, i, i + 1)) {
      parts.back().rect.w += slice.w, parts.back().end = i + 1;
      continue;
    }
    scratch_.clear();
    if (add_to(scratch_, i, i + 1)) {
      parts.push_back({slice, true, i, i + 1});
    } else if (!parts.empty() && !parts.back().indexed) {
      parts.back().rect.w += slice.w, parts.back().end = i + 1;
    } else {
      parts.push_back({slice, false, i, i + 1});
    }
  }
  return parts;
}

// libjpeg-turbo's libjpeg API (libvncclient carries its own copy of the
// TurboJPEG functions, which would shadow libturbojpeg's in the same
// process). 4:2:0 below quality 90, 4:4:4 above.
bool append_jpeg(const FrameView& f, const Rect& r, int quality, std::string& out) {
  jpeg_compress_struct c;
  JpegError error;
  c.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = [](j_common_ptr cinfo) {
    std::longjmp(reinterpret_cast<JpegError*>(cinfo->err)->jump, 1);
  };
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(error.jump)) {
    jpeg_destroy_compress(&c);
    std::free(buffer);
    return false;
  }
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(r.w);
  c.image_height = static_cast<JDIMENSION>(r.h);
  c.input_components = 4;
  c.in_color_space = JCS_EXT_RGBX;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, std::clamp(quality, 1, 100), TRUE);
  // The accurate DCT costs no more here than the fast one and gains SSIM.
  c.dct_method = JDCT_ISLOW;
  // Huffman tables fitted to the image take 11% off a photograph, but a
  // second entropy pass costs a third of the encoding time: worth it where
  // rate control has lowered the quality for a slow link.
  c.optimize_coding = quality < kHuffmanBelow ? TRUE : FALSE;
  int h_sampling = quality >= 90 ? 1 : 2;
  c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = h_sampling;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(f.data + (r.y + c.next_scanline) * f.stride + size_t(r.x) * 4);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  out.append(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return true;
}

}  // namespace oriel::display
