// Tile hashing, solid-colour detection, and PNG (png_writer.cc) for the rest.
#include "oriel/display/frame_encoder.h"

#include "png_writer.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <latch>

#include <boost/asio/post.hpp>

namespace oriel::display {
namespace {

Rect clip(const Rect& r, int width, int height) {
  int x0 = std::clamp(r.x, 0, width), y0 = std::clamp(r.y, 0, height);
  int x1 = std::clamp(r.x + std::max(r.w, 0), 0, width), y1 = std::clamp(r.y + std::max(r.h, 0), 0, height);
  return {x0, y0, x1 - x0, y1 - y0};
}

const uint8_t* pixel(const FrameView& f, int x, int y) { return f.data + y * f.stride + static_cast<size_t>(x) * 4; }

// The tile's hash over its RGB bytes (the X byte is ignored); never 0,
// which marks an unknown tile.
uint64_t hash_tile(const FrameView& f, const Rect& t) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  for (int y = t.y; y < t.y + t.h; ++y) XXH3_64bits_update(&state, pixel(f, t.x, y), static_cast<size_t>(t.w) * 4);
  uint64_t h = XXH3_64bits_digest(&state);
  return h == 0 ? 1 : h;
}

bool same_rgb(const uint8_t* a, const uint8_t* b) { return a[0] == b[0] && a[1] == b[1] && a[2] == b[2]; }

bool is_solid(const FrameView& f, const Rect& t) {
  const uint8_t* first = pixel(f, t.x, t.y);
  for (int y = t.y; y < t.y + t.h; ++y) {
    const uint8_t* p = pixel(f, t.x, y);
    for (int x = 0; x < t.w; ++x, p += 4) {
      if (!same_rgb(p, first)) return false;
    }
  }
  return true;
}

// One Image message holding the rectangle as a PNG.
void append_image(const FrameView& f, const Rect& r, std::vector<std::string>& out, EncodeStats& stats) {
  std::string png;
  append_png(f, r, png);
  std::string msg;
  write_image_header(msg, r, Codec::kPng, static_cast<uint32_t>(png.size()));
  msg += png;
  stats.png++;
  stats.bytes += msg.size();
  out.push_back(std::move(msg));
}

}  // namespace

FrameEncoder::FrameEncoder(EncoderOptions options) : options_(options) {
  options_.tile = std::clamp(options_.tile, 8, 1024);
}

void FrameEncoder::reset(int width, int height) {
  width_ = std::max(width, 0);
  height_ = std::max(height, 0);
  columns_ = (width_ + options_.tile - 1) / options_.tile;
  rows_ = (height_ + options_.tile - 1) / options_.tile;
  hashes_.assign(static_cast<size_t>(columns_) * rows_, 0);
}

void FrameEncoder::encode_row(const FrameView& frame, int row, const std::vector<char>& touched,
                              std::vector<std::string>& out, EncodeStats& stats) {
  const int tile = options_.tile;
  Rect run;  // changed, non-solid tiles side by side
  auto flush = [&] {
    if (!run.empty()) append_image(frame, run, out, stats);
    run = {};
  };
  for (int col = 0; col < columns_; ++col) {
    size_t i = static_cast<size_t>(row) * columns_ + col;
    Rect t = clip({col * tile, row * tile, tile, tile}, width_, height_);
    uint64_t h = touched[i] ? hash_tile(frame, t) : hashes_[i];
    if (!touched[i] || h == hashes_[i]) {
      flush();
      continue;
    }
    hashes_[i] = h;
    stats.changed_pixels += static_cast<int64_t>(t.w) * t.h;
    if (is_solid(frame, t)) {
      flush();
      const uint8_t* p = pixel(frame, t.x, t.y);
      std::string msg;
      write_solid(msg, t, p[0], p[1], p[2]);
      stats.solid++;
      stats.bytes += msg.size();
      out.push_back(std::move(msg));
    } else if (run.empty()) {
      run = t;
    } else {
      run.w += t.w;
    }
  }
  flush();
}

EncodeStats FrameEncoder::encode(const FrameView& frame, std::span<const Rect> damage,
                                 std::chrono::steady_clock::time_point, const Quality&, std::vector<std::string>& out) {
  auto started = std::chrono::steady_clock::now();
  EncodeStats stats;
  if (frame.data == nullptr || frame.width <= 0 || frame.height <= 0) return stats;
  if (frame.width != width_ || frame.height != height_) reset(frame.width, frame.height);
  const int tile = options_.tile;
  std::vector<char> touched(hashes_.size(), 0);
  std::vector<char> row_touched(rows_, 0);
  for (const Rect& d : damage) {
    Rect r = clip(d, width_, height_);
    if (r.empty()) continue;
    for (int row = r.y / tile; row <= (r.y + r.h - 1) / tile; ++row) {
      row_touched[row] = 1;
      for (int col = r.x / tile; col <= (r.x + r.w - 1) / tile; ++col) touched[row * columns_ + col] = 1;
    }
  }
  std::vector<std::vector<std::string>> rows(rows_);
  std::vector<EncodeStats> row_stats(rows_);
  std::vector<int> work;
  for (int row = 0; row < rows_; ++row) {
    if (row_touched[row]) work.push_back(row);
  }
  if (options_.pool && work.size() > 1) {
    std::latch done(static_cast<ptrdiff_t>(work.size()));
    for (int row : work) {
      boost::asio::post(*options_.pool, [&, row] {
        encode_row(frame, row, touched, rows[row], row_stats[row]);
        done.count_down();
      });
    }
    done.wait();
  } else {
    for (int row : work) encode_row(frame, row, touched, rows[row], row_stats[row]);
  }
  for (int row : work) {
    for (auto& m : rows[row]) out.push_back(std::move(m));
    const EncodeStats& s = row_stats[row];
    stats.bytes += s.bytes, stats.solid += s.solid, stats.png += s.png, stats.changed_pixels += s.changed_pixels;
  }
  stats.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  return stats;
}

}  // namespace oriel::display
