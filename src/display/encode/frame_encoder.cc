// Tile hashing, the browser's pixels, and per tile row what is left to send:
// Solids, and runs for the images of frame_encoder_images.cc. Copies are in
// frame_encoder_motion.cc.
#include "oriel/display/frame_encoder.h"

#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
// XXH3 with AVX2 where the CPU has it (libxxhash's own dispatch): the row
// hashes of a whole screen take half the time.
#include <xxh_x86dispatch.h>
#endif

#include <algorithm>
#include <latch>

#include <boost/asio/post.hpp>

#include "client_screen.h"
#include "frame_encoder_tiles.h"
#include "move_finder.h"
#include "png_writer.h"

namespace oriel::display {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;

bool is_solid(const FrameView& f, const Rect& r) {
  const uint32_t first = load_pixel(frame_pixel(f, r.x, r.y)) & kRgbMask;
  for (int y = r.y; y < r.y + r.h; ++y) {
    const uint8_t* p = frame_pixel(f, r.x, y);
    uint32_t diff = 0;
    for (int x = 0; x < r.w; ++x) diff |= (load_pixel(p + x * 4) & kRgbMask) ^ first;
    if (diff) return false;
  }
  return true;
}

}  // namespace

FrameEncoder::FrameEncoder(EncoderOptions options)
    : options_(options), client_(std::make_unique<ClientScreen>()), moves_(std::make_unique<MoveFinder>()) {
  options_.tile = std::clamp(options_.tile, 8, kMaxTile);
  // The dispatch picks its functions on the first call and does not lock:
  // make that first call once, before any encoder hashes on several threads.
  [[maybe_unused]] static const uint64_t first_hash = XXH3_64bits("", 0);
}

FrameEncoder::~FrameEncoder() = default;

void FrameEncoder::reset(int width, int height) {
  width_ = std::max(width, 0);
  height_ = std::max(height, 0);
  columns_ = (width_ + options_.tile - 1) / options_.tile;
  rows_ = (height_ + options_.tile - 1) / options_.tile;
  hashes_.assign(static_cast<size_t>(columns_) * rows_, 0);
  tile_hashes_.assign(hashes_.size(), 0);
  lossy_at_.assign(hashes_.size(), {});
  old_rows_.assign(static_cast<size_t>(columns_) * height_, 0);
  new_rows_ = old_rows_;
  client_->reset(width_, height_);
}

Rect FrameEncoder::tile_rect(size_t i) const {
  const int tile = options_.tile;
  const int col = static_cast<int>(i % columns_), row = static_cast<int>(i / columns_);
  return clip({col * tile, row * tile, tile, tile}, width_, height_);
}

void FrameEncoder::for_each(const std::vector<int>& items, const std::function<void(int)>& fn) {
  // Even one item goes to the pool: the image writers keep their buffers
  // per thread (a deflate compressor is most of a megabyte), and the pool's
  // threads are shared by every session where a session's own is not.
  if (!options_.pool || items.empty()) {
    for (int item : items) fn(item);
    return;
  }
  std::latch done(static_cast<ptrdiff_t>(items.size()));
  for (int item : items) {
    boost::asio::post(*options_.pool, [&fn, &done, item] {
      fn(item);
      done.count_down();
    });
  }
  done.wait();
}

void FrameEncoder::hash_tile(const FrameView& frame, size_t i) {
  Rect t = tile_rect(i);
  uint64_t full[kMaxTile];  // the tile's hash is of the rows' full hashes
  uint32_t* rows = &new_rows_[(i % columns_) * height_];
  for (int y = 0; y < t.h; ++y) {
    full[y] = XXH3_64bits(frame_pixel(frame, t.x, t.y + y), static_cast<size_t>(t.w) * 4);
    rows[t.y + y] = std::max<uint32_t>(static_cast<uint32_t>(full[y]), 1);
  }
  uint64_t h = XXH3_64bits(full, static_cast<size_t>(t.h) * sizeof(uint64_t));
  tile_hashes_[i] = h == 0 ? 1 : h;
}

FrameEncoder::Tiles FrameEncoder::plan(std::span<const Rect> damage, TimePoint now) const {
  const int tile = options_.tile;
  Tiles t;
  t.tile = tile;
  t.columns = columns_;
  t.touched.assign(hashes_.size(), 0);
  t.lossless.assign(hashes_.size(), 0);
  t.changed.assign(hashes_.size(), 0);
  t.exact.assign(hashes_.size(), 0);
  t.known.resize(hashes_.size());
  for (size_t i = 0; i < hashes_.size(); ++i) t.known[i] = hashes_[i] != 0;
  for (const Rect& d : damage) t.for_each_tile(clip(d, width_, height_), [&](size_t i) { t.touched[i] = 1; });
  // Tiles sent lossy that stayed unchanged long enough go again, lossless.
  for (size_t i = 0; i < lossy_at_.size(); ++i) {
    if (lossy_at_[i] != TimePoint{} && now - lossy_at_[i] >= options_.lossless_refresh_after) {
      t.lossless[i] = t.touched[i] = 1;
    }
  }
  for (int row = 0; row < rows_; ++row) {
    auto first = t.touched.begin() + row * columns_;
    if (std::any_of(first, first + columns_, [](char c) { return c; })) t.work.push_back(row);
  }
  return t;
}

void FrameEncoder::mark_changed(Tiles& t, EncodeStats& stats) const {
  for (size_t i = 0; i < hashes_.size(); ++i) {
    if (t.touched[i] && (tile_hashes_[i] != hashes_[i] || t.lossless[i])) {
      t.changed[i] = 1;
      Rect r = tile_rect(i);
      stats.changed_pixels += static_cast<int64_t>(r.w) * r.h;
    }
  }
}

void FrameEncoder::settle(const FrameView& frame, const Rect& r, bool lossy, TimePoint now) {
  client_->store(frame, r);
  const int tile = options_.tile;
  for (int row = r.y / tile; row * tile < r.y + r.h; ++row) {
    for (int col = r.x / tile; col * tile < r.x + r.w; ++col) {
      size_t i = static_cast<size_t>(row) * columns_ + col;
      // What the browser has of a tile not wholly sent again stays as lossy as it was.
      if (lossy) {
        lossy_at_[i] = now;
      } else if (contains(r, tile_rect(i))) {
        lossy_at_[i] = TimePoint{};
      }
    }
  }
}

void FrameEncoder::encode_row(const FrameView& frame, int row, const Tiles& t, const Quality& quality, TimePoint now,
                              std::vector<std::string>& out, EncodeStats& stats, std::vector<Run>& runs) {
  Rect run;  // what differs in neighbouring non-solid tiles, all refreshes or none
  bool run_lossless = false;
  auto flush = [&] {
    if (run.empty()) return;
    const bool lossy = quality.allow_lossy && !run_lossless;
    runs.push_back({run, lossy, lossy && photographic(frame, run)});
    run = {};
  };
  for (size_t i = static_cast<size_t>(row) * columns_; i < static_cast<size_t>(row + 1) * columns_; ++i) {
    if (!t.changed[i] || t.exact[i]) {
      flush();
      continue;
    }
    // A refresh, or a tile the browser was never sent, goes whole.
    Rect d = t.lossless[i] || !t.known[i] ? tile_rect(i) : client_->difference(frame, tile_rect(i));
    if (d.empty()) {
      flush();
    } else if (is_solid(frame, d)) {
      flush();
      const uint8_t* p = frame_pixel(frame, d.x, d.y);
      std::string msg;
      write_solid(msg, d, p[0], p[1], p[2]);
      stats.solid++;
      stats.bytes += msg.size();
      out.push_back(std::move(msg));
      settle(frame, d, false, now);
    } else {
      if (!run.empty() && (run_lossless != (t.lossless[i] != 0) || !worth_joining(run, d))) flush();
      if (run.empty()) run_lossless = t.lossless[i] != 0;
      run = bounding(run, d);
    }
  }
  flush();
}

std::optional<TimePoint> FrameEncoder::refresh_due() const {
  std::optional<TimePoint> due;
  for (auto at : lossy_at_) {
    if (at != TimePoint{} && (!due || at + options_.lossless_refresh_after < *due)) {
      due = at + options_.lossless_refresh_after;
    }
  }
  return due;
}

EncodeStats FrameEncoder::encode(const FrameView& frame, std::span<const Rect> damage, TimePoint now,
                                 const Quality& quality, std::vector<std::string>& out) {
  auto started = std::chrono::steady_clock::now();
  EncodeStats stats;
  if (frame.data == nullptr || frame.width <= 0 || frame.height <= 0) return stats;
  if (frame.width != width_ || frame.height != height_) reset(frame.width, frame.height);
  Tiles t = plan(damage, now);
  new_rows_ = old_rows_;
  for_each(t.work, [&](int row) {
    for (size_t i = static_cast<size_t>(row) * columns_; i < static_cast<size_t>(row + 1) * columns_; ++i) {
      if (t.touched[i]) hash_tile(frame, i);
    }
  });
  mark_changed(t, stats);
  send_copies(frame, t, now, out, stats);

  std::vector<std::vector<std::string>> rows(rows_);
  std::vector<EncodeStats> row_stats(rows_);
  std::vector<std::vector<Run>> runs(rows_);
  for_each(t.work, [&](int row) { encode_row(frame, row, t, quality, now, rows[row], row_stats[row], runs[row]); });
  // Before the rows' Solids: an image's rectangle may take in some of them,
  // and they are exact.
  send_images(frame, t.work, runs, quality, now, out, stats);
  for (int row : t.work) {
    for (auto& m : rows[row]) out.push_back(std::move(m));
    const EncodeStats& s = row_stats[row];
    stats.bytes += s.bytes, stats.solid += s.solid;  // a row sends only Solids
  }
  // Every tile looked at is now on the browser as it is in the frame.
  for (size_t i = 0; i < hashes_.size(); ++i) {
    if (t.touched[i]) hashes_[i] = tile_hashes_[i];
  }
  old_rows_.swap(new_rows_);
  stats.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  return stats;
}

}  // namespace oriel::display
