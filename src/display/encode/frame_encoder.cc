// Tile hashing, solid-colour detection, and PNG (png_writer.cc) for the rest.
#include "oriel/display/frame_encoder.h"

#include "png_writer.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <latch>
#include <unordered_map>

#include <boost/asio/post.hpp>

namespace oriel::display {
namespace {

Rect clip(const Rect& r, int width, int height) {
  int x0 = std::clamp(r.x, 0, width), y0 = std::clamp(r.y, 0, height);
  int x1 = std::clamp(r.x + std::max(r.w, 0), 0, width), y1 = std::clamp(r.y + std::max(r.h, 0), 0, height);
  return {x0, y0, x1 - x0, y1 - y0};
}

const uint8_t* pixel(const FrameView& f, int x, int y) { return f.data + y * f.stride + static_cast<size_t>(x) * 4; }

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

// One Image message holding the rectangle; returns its codec.
Codec append_image(const FrameView& f, const Rect& r, const Quality& q, std::vector<std::string>& out,
                   EncodeStats& stats) {
  std::string data;
  Codec codec = append_image_data(f, r, q, data);
  std::string msg;
  write_image_header(msg, r, codec, static_cast<uint32_t>(data.size()));
  msg += data;
  (codec == Codec::kJpeg ? stats.jpeg : stats.png)++;
  stats.bytes += msg.size();
  out.push_back(std::move(msg));
  return codec;
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
  tile_hashes_.assign(hashes_.size(), 0);
  lossy_at_.assign(hashes_.size(), {});
  old_rows_.assign(static_cast<size_t>(columns_) * height_, 0);
  new_rows_ = old_rows_;
}

void FrameEncoder::for_rows(const std::vector<int>& rows, const std::function<void(int)>& fn) {
  if (!options_.pool || rows.size() < 2) {
    for (int row : rows) fn(row);
    return;
  }
  std::latch done(static_cast<ptrdiff_t>(rows.size()));
  for (int row : rows) {
    boost::asio::post(*options_.pool, [&fn, &done, row] {
      fn(row);
      done.count_down();
    });
  }
  done.wait();
}

void FrameEncoder::hash_row(const FrameView& frame, int row, const std::vector<char>& touched) {
  const int tile = options_.tile;
  for (int col = 0; col < columns_; ++col) {
    size_t i = static_cast<size_t>(row) * columns_ + col;
    if (!touched[i]) continue;
    Rect t = clip({col * tile, row * tile, tile, tile}, width_, height_);
    uint64_t* rows = &new_rows_[static_cast<size_t>(col) * height_];
    for (int y = t.y; y < t.y + t.h; ++y) {
      uint64_t h = XXH3_64bits(pixel(frame, t.x, y), static_cast<size_t>(t.w) * 4);
      rows[y] = h == 0 ? 1 : h;
    }
    uint64_t h = XXH3_64bits(rows + t.y, static_cast<size_t>(t.h) * sizeof(uint64_t));
    tile_hashes_[i] = h == 0 ? 1 : h;
  }
}

std::vector<FrameEncoder::Copy> FrameEncoder::find_scroll(const std::vector<int>& rows,
                                                           const std::vector<char>& touched) const {
  constexpr int kMinRun = 16;  // rows; a shorter match is as likely chance as a scroll
  const int tile = options_.tile;
  auto band_touched = [&](int col, int y) { return touched[static_cast<size_t>(y / tile) * columns_ + col] != 0; };
  // Votes for the offset from new rows to where the client has them.
  std::unordered_map<int, int> votes;
  std::unordered_map<uint64_t, int> at;
  for (int col = 0; col < columns_; ++col) {
    const uint64_t* old_rows = &old_rows_[static_cast<size_t>(col) * height_];
    const uint64_t* new_rows = &new_rows_[static_cast<size_t>(col) * height_];
    at.clear();
    for (int y = 0; y < height_; ++y) {
      auto [it, added] = at.emplace(old_rows[y], y);
      if (!added) it->second = -1;  // not unique: no evidence
    }
    for (int row : rows) {
      for (int y = row * tile; y < std::min(height_, (row + 1) * tile); ++y) {
        if (!band_touched(col, y) || new_rows[y] == old_rows[y]) continue;
        auto it = at.find(new_rows[y]);
        if (it != at.end() && it->second >= 0) ++votes[it->second - y];
      }
    }
  }
  int dy = 0, best = 0;
  for (auto [offset, n] : votes) {
    if (n > best) dy = offset, best = n;
  }
  if (best < kMinRun) return {};
  // Per band, the longest run of touched rows the client has at y + dy.
  std::vector<Copy> copies;
  for (int col = 0; col < columns_; ++col) {
    const uint64_t* old_rows = &old_rows_[static_cast<size_t>(col) * height_];
    const uint64_t* new_rows = &new_rows_[static_cast<size_t>(col) * height_];
    int run_start = 0, best_start = 0, best_len = 0;
    for (int y = 0; y <= height_; ++y) {
      bool match = y < height_ && y + dy >= 0 && y + dy < height_ && band_touched(col, y) &&
                   new_rows[y] == old_rows[y + dy];
      if (!match) {
        if (y - run_start > best_len) best_start = run_start, best_len = y - run_start;
        run_start = y + 1;
      }
    }
    if (best_len < kMinRun) continue;
    Rect band = clip({col * tile, best_start, tile, best_len}, width_, height_);
    // A band next to the previous one with the same rows widens its copy.
    if (!copies.empty() && copies.back().to.x + copies.back().to.w == band.x && copies.back().to.y == band.y &&
        copies.back().to.h == band.h) {
      copies.back().to.w += band.w;
    } else {
      copies.push_back({band, band.y + dy});
    }
  }
  return copies;
}

void FrameEncoder::encode_row(const FrameView& frame, int row, const std::vector<char>& touched,
                              const std::vector<char>& lossless, const Quality& quality,
                              std::chrono::steady_clock::time_point now, std::vector<std::string>& out,
                              EncodeStats& stats) {
  const int tile = options_.tile;
  const size_t first = static_cast<size_t>(row) * columns_;
  Rect run;  // changed, non-solid tiles side by side, all refreshes or none
  bool run_lossless = false;
  auto flush = [&] {
    if (run.empty()) return;
    Quality q = quality;
    q.allow_lossy = quality.allow_lossy && !run_lossless;
    bool lossy = append_image(frame, run, q, out, stats) == Codec::kJpeg;
    for (int col = run.x / tile; col * tile < run.x + run.w; ++col) lossy_at_[first + col] = lossy ? now : std::chrono::steady_clock::time_point{};
    run = {};
  };
  for (int col = 0; col < columns_; ++col) {
    size_t i = first + col;
    Rect t = clip({col * tile, row * tile, tile, tile}, width_, height_);
    if (!touched[i] || (tile_hashes_[i] == hashes_[i] && !lossless[i])) {
      flush();
      continue;
    }
    hashes_[i] = tile_hashes_[i];
    stats.changed_pixels += static_cast<int64_t>(t.w) * t.h;
    if (is_solid(frame, t)) {
      flush();
      lossy_at_[i] = {};
      const uint8_t* p = pixel(frame, t.x, t.y);
      std::string msg;
      write_solid(msg, t, p[0], p[1], p[2]);
      stats.solid++;
      stats.bytes += msg.size();
      out.push_back(std::move(msg));
      continue;
    }
    if (!run.empty() && run_lossless != (lossless[i] != 0)) flush();
    if (run.empty()) {
      run = t;
      run_lossless = lossless[i] != 0;
    } else {
      run.w += t.w;
    }
  }
  flush();
}

std::optional<std::chrono::steady_clock::time_point> FrameEncoder::refresh_due() const {
  std::optional<std::chrono::steady_clock::time_point> due;
  for (auto at : lossy_at_) {
    if (at != std::chrono::steady_clock::time_point{} && (!due || at + options_.lossless_refresh_after < *due)) {
      due = at + options_.lossless_refresh_after;
    }
  }
  return due;
}

EncodeStats FrameEncoder::encode(const FrameView& frame, std::span<const Rect> damage,
                                 std::chrono::steady_clock::time_point now, const Quality& quality,
                                 std::vector<std::string>& out) {
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
  // Tiles sent lossy that stayed unchanged long enough go again, lossless.
  std::vector<char> lossless(hashes_.size(), 0);
  for (size_t i = 0; i < lossy_at_.size(); ++i) {
    if (lossy_at_[i] != std::chrono::steady_clock::time_point{} && now - lossy_at_[i] >= options_.lossless_refresh_after) {
      lossless[i] = touched[i] = 1;
      row_touched[i / columns_] = 1;
    }
  }
  std::vector<int> work;
  for (int row = 0; row < rows_; ++row) {
    if (row_touched[row]) work.push_back(row);
  }
  new_rows_ = old_rows_;
  for_rows(work, [&](int row) { hash_row(frame, row, touched); });

  // A scroll: copy what the client has; tiles wholly copied are then current.
  for (const Copy& c : work.size() >= 2 ? find_scroll(work, touched) : std::vector<Copy>{}) {
    std::string msg;
    write_copy(msg, c.to.x, c.src_y, c.to);
    stats.copies++;
    stats.bytes += msg.size();
    out.push_back(std::move(msg));
    // Tiles wholly inside the destination now show the new frame (lossy if
    // anything on screen is: the source might be).
    bool any_lossy = refresh_due().has_value();
    for (int row = 0; row < rows_; ++row) {
      for (int col = 0; col < columns_; ++col) {
        Rect t = clip({col * tile, row * tile, tile, tile}, width_, height_);
        size_t i = static_cast<size_t>(row) * columns_ + col;
        if (t.x >= c.to.x && t.x + t.w <= c.to.x + c.to.w && t.y >= c.to.y && t.y + t.h <= c.to.y + c.to.h &&
            hashes_[i] != tile_hashes_[i]) {
          hashes_[i] = tile_hashes_[i];
          if (any_lossy) lossy_at_[i] = now;
          stats.changed_pixels += static_cast<int64_t>(t.w) * t.h;
        }
      }
    }
  }

  std::vector<std::vector<std::string>> rows(rows_);
  std::vector<EncodeStats> row_stats(rows_);
  for_rows(work, [&](int row) { encode_row(frame, row, touched, lossless, quality, now, rows[row], row_stats[row]); });
  for (int row : work) {
    for (auto& m : rows[row]) out.push_back(std::move(m));
    const EncodeStats& s = row_stats[row];
    stats.bytes += s.bytes, stats.solid += s.solid, stats.png += s.png, stats.jpeg += s.jpeg;
    stats.changed_pixels += s.changed_pixels;
  }
  old_rows_.swap(new_rows_);
  stats.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  return stats;
}

}  // namespace oriel::display
