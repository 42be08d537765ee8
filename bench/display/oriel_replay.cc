// The client model follows docs/display-protocol.md ("Server to client"):
// integers little-endian, Copy applied as if its source were read first.
#include "oriel_replay.h"

#include <png.h>

#include <jpeglib.h>
#include <cstdio>  // jpeglib.h uses FILE without including it

#include <algorithm>
#include <chrono>
#include <csetjmp>
#include <cstring>
#include <string_view>
#include <vector>

namespace oriel::bench {
namespace {

using display::Rect;

// A browser's canvas, as far as the encoder's messages go.
class ClientScreen {
 public:
  ClientScreen(int width, int height)
      : width_(width), height_(height), px_(static_cast<size_t>(width) * height * 4, 0) {}
  // Applies every message of one WebSocket message's worth of bytes.
  Result<void> apply(std::string_view bytes);
  const uint8_t* data() const { return px_.data(); }
  size_t stride() const { return static_cast<size_t>(width_) * 4; }

 private:
  bool inside(const Rect& r) const {
    return r.w > 0 && r.h > 0 && r.x >= 0 && r.y >= 0 && r.x + r.w <= width_ && r.y + r.h <= height_;
  }
  Result<void> solid(std::string_view m);
  Result<void> copy(std::string_view m);
  Result<void> image(const Rect& r, int codec, std::string_view data);
  Result<void> png(const Rect& r, std::string_view data);
  Result<void> jpeg(const Rect& r, std::string_view data);

  int width_, height_;
  std::vector<uint8_t> px_;
};

uint16_t u16(std::string_view m, size_t at) { return uint16_t(uint8_t(m[at]) | uint8_t(m[at + 1]) << 8); }
uint32_t u32(std::string_view m, size_t at) { return uint32_t(u16(m, at)) | uint32_t(u16(m, at + 2)) << 16; }
Rect rect_at(std::string_view m, size_t at) { return {u16(m, at), u16(m, at + 2), u16(m, at + 4), u16(m, at + 6)}; }

Result<void> ClientScreen::apply(std::string_view bytes) {
  while (!bytes.empty()) {
    const uint8_t type = uint8_t(bytes[0]);
    size_t size = 0;
    if (type == 0x10) {
      size = 12;
      if (bytes.size() < size) break;
      TRY(solid(bytes.substr(0, size)));
    } else if (type == 0x11) {
      size = 13;
      if (bytes.size() < size) break;
      TRY(copy(bytes.substr(0, size)));
    } else if (type == 0x12) {
      if (bytes.size() < 14) break;
      size = 14 + size_t(u32(bytes, 10));
      if (bytes.size() < size) break;
      TRY(image(rect_at(bytes, 1), uint8_t(bytes[9]), bytes.substr(14, size - 14)));
    } else {
      return Error::InvalidArgument("unexpected message type " + std::to_string(type));
    }
    bytes.remove_prefix(size);
  }
  if (!bytes.empty()) return Error::InvalidArgument("truncated message");
  return Ok();
}

Result<void> ClientScreen::solid(std::string_view m) {
  Rect r = rect_at(m, 1);
  if (!inside(r)) return Error::InvalidArgument("Solid outside the screen");
  for (int y = r.y; y < r.y + r.h; ++y) {
    uint8_t* p = &px_[y * stride() + static_cast<size_t>(r.x) * 4];
    for (int x = 0; x < r.w; ++x, p += 4) p[0] = uint8_t(m[9]), p[1] = uint8_t(m[10]), p[2] = uint8_t(m[11]);
  }
  return Ok();
}

Result<void> ClientScreen::copy(std::string_view m) {
  Rect src{u16(m, 1), u16(m, 3), u16(m, 5), u16(m, 7)};
  Rect to{u16(m, 9), u16(m, 11), src.w, src.h};
  if (!inside(src) || !inside(to)) return Error::InvalidArgument("Copy outside the screen");
  std::vector<uint8_t> rows(static_cast<size_t>(src.w) * 4 * src.h);  // the source read completely first
  for (int y = 0; y < src.h; ++y) {
    std::memcpy(&rows[y * size_t(src.w) * 4], &px_[(src.y + y) * stride() + size_t(src.x) * 4], size_t(src.w) * 4);
  }
  for (int y = 0; y < to.h; ++y) {
    std::memcpy(&px_[(to.y + y) * stride() + size_t(to.x) * 4], &rows[y * size_t(src.w) * 4], size_t(src.w) * 4);
  }
  return Ok();
}

Result<void> ClientScreen::image(const Rect& r, int codec, std::string_view data) {
  if (!inside(r)) return Error::InvalidArgument("Image outside the screen");
  if (codec == 1) return png(r, data);
  if (codec == 2) return jpeg(r, data);
  return Error::InvalidArgument("unknown codec " + std::to_string(codec));
}

Result<void> ClientScreen::png(const Rect& r, std::string_view data) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, data.data(), data.size())) {
    return Error::InvalidArgument(std::string("PNG: ") + img.message);
  }
  if (int(img.width) != r.w || int(img.height) != r.h) {
    png_image_free(&img);
    return Error::InvalidArgument("PNG size differs from its rectangle");
  }
  img.format = PNG_FORMAT_RGBA;  // straight into the R,G,B,X screen (alpha lands in X)
  uint8_t* dst = &px_[r.y * stride() + size_t(r.x) * 4];
  if (!png_image_finish_read(&img, nullptr, dst, static_cast<png_int_32>(stride()), nullptr)) {
    return Error::InvalidArgument(std::string("PNG: ") + img.message);
  }
  return Ok();
}

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
};

// libjpeg's API, not TurboJPEG's: libvncclient carries its own copy of the
// TurboJPEG functions, which would shadow libturbojpeg's in this process.
Result<void> ClientScreen::jpeg(const Rect& r, std::string_view data) {
  jpeg_decompress_struct d;
  JpegError error;
  d.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = [](j_common_ptr c) { std::longjmp(reinterpret_cast<JpegError*>(c->err)->jump, 1); };
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&d);
    return Error::InvalidArgument("JPEG: corrupt data");
  }
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, reinterpret_cast<const unsigned char*>(data.data()), static_cast<unsigned long>(data.size()));
  jpeg_read_header(&d, TRUE);
  d.out_color_space = JCS_EXT_RGBX;
  jpeg_start_decompress(&d);
  if (int(d.output_width) != r.w || int(d.output_height) != r.h) {
    jpeg_destroy_decompress(&d);
    return Error::InvalidArgument("JPEG size differs from its rectangle");
  }
  while (d.output_scanline < d.output_height) {
    JSAMPROW row = &px_[(r.y + d.output_scanline) * stride() + size_t(r.x) * 4];
    jpeg_read_scanlines(&d, &row, 1);
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  return Ok();
}

}  // namespace

namespace {

// One pass over the sequence with a fresh encoder and client.
ReplayFigures replay_once(const Sequence& s, const OrielSettings& settings) {
  ReplayFigures fig;
  fig.encoder = settings.allow_lossy ? "Oriel q" + std::to_string(settings.jpeg_quality) : "Oriel lossless";
  if (settings.deflate == display::Deflate::kDense) fig.encoder += ", dense";
  display::FrameEncoder encoder(display::EncoderOptions{.pool = nullptr});  // one core
  display::Quality quality{settings.jpeg_quality, settings.allow_lossy, settings.deflate};
  ClientScreen client(s.width, s.height);
  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  for (size_t i = 0; i < s.frames.size(); ++i) {
    std::vector<display::Rect> damage =
        i == 0 ? std::vector<display::Rect>{{0, 0, s.width, s.height}} : damage_between(s, i - 1, i);
    std::vector<std::string> out;
    display::EncodeStats st = encoder.encode(s.view(i), damage, now, quality, out);
    now += std::chrono::milliseconds(settings.frame_interval_ms);
    for (const auto& m : out) {
      if (auto r = client.apply(m); !r.ok()) {
        fig.ok = false;
        fig.error = "frame " + std::to_string(i) + ": " + r.error().message();
        return fig;
      }
    }
    if (i == 0) continue;  // the first full screen is not counted
    if (settings.keep_output) {
      std::string& frame = fig.output.emplace_back();
      for (const auto& m : out) frame += m;
    }
    fig.frames++;
    fig.bytes += double(st.bytes);
    fig.encode_seconds += std::chrono::duration<double>(st.elapsed).count();
    fig.pixels += double(st.changed_pixels);
    fig.jpeg += st.jpeg, fig.png += st.png, fig.solid += st.solid, fig.copies += st.copies;
    fig.quality.add(compare_frames(s, i, client.data(), client.stride()));
  }
  return fig;
}

}  // namespace

ReplayFigures replay_oriel(const Sequence& s, const OrielSettings& settings) {
  // The output is deterministic; the time is not (the machine is shared):
  // the fastest of a few passes.
  ReplayFigures best = replay_once(s, settings);
  for (int pass = 1; pass < settings.passes && best.ok; ++pass) {
    ReplayFigures again = replay_once(s, settings);
    if (again.ok && again.encode_seconds < best.encode_seconds) best = std::move(again);
  }
  return best;
}

}  // namespace oriel::bench
