// What moved: a vertical scroll found by the row hashes, regions moved in two
// dimensions found by move_finder.h, each checked against the browser's
// pixels before it is sent as a Copy (docs/display-protocol.md, Copy).
#include <algorithm>
#include <bit>
#include <optional>
#include <utility>

#include "client_screen.h"
#include "frame_encoder_tiles.h"
#include "move_finder.h"
#include "oriel/display/frame_encoder.h"

namespace oriel::display {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;

constexpr int kMinRun = 16;        // rows; a shorter vertical match is as likely chance as a scroll
constexpr size_t kMaxMoves = 8;    // copies in two dimensions a frame
constexpr int64_t kTryCost = 256;  // pixels a rectangle grown counts for besides its own

int64_t area(const Rect& r) { return static_cast<int64_t>(r.w) * r.h; }

// The largest rectangle around `seed` the browser shows under one of the
// candidates' offsets, compared pixel by pixel (content repeated down the
// screen votes for several offsets; the pixels decide). Each try is paid
// for out of `budget`.
Move best_move(const FrameView& frame, const ClientScreen& client, std::span<const MoveCandidate> candidates,
               Point seed, const Rect& bounds, int64_t& budget) {
  Move best;
  for (const MoveCandidate& c : candidates) {
    if (budget <= 0) break;
    // Inside the changed area, with the source on the screen.
    Rect limit = intersect(bounds, {c.dx, c.dy, client.width(), client.height()});
    Rect to = grow_move(frame, client, c.dx, c.dy, seed, limit);
    budget -= kTryCost + area(to);
    if (area(to) > area(best.to)) best = {to, to.x - c.dx, to.y - c.dy};
  }
  return best;
}

// The row hashes of one column band -> the row that has it; a flat table
// reused band after band (a node-based map costs more than the hashing).
class RowIndex {
 public:
  explicit RowIndex(int rows) : slots_(std::bit_ceil(static_cast<size_t>(std::max(rows, 1)) * 2)) {}

  // Indexes hashes[0, rows); 0 (a row never sent) is left out.
  void build(const uint32_t* hashes, int rows) {
    ++stamp_;
    for (int y = 0; y < rows; ++y) {
      if (hashes[y] == 0) continue;
      Slot& s = slot(hashes[y]);
      if (s.stamp == stamp_) {
        s.y = -1;  // not unique: no evidence
      } else {
        s = {hashes[y], y, stamp_};
      }
    }
  }
  // The only row with that hash; -1 when none or several.
  int find(uint32_t hash) {
    const Slot& s = slot(hash);
    return s.stamp == stamp_ ? s.y : -1;
  }

 private:
  struct Slot {
    uint32_t hash = 0;
    int y = 0, stamp = 0;
  };
  // The slot holding `hash`, or the empty one where it would go.
  Slot& slot(uint32_t hash) {
    size_t i = hash & (slots_.size() - 1);
    while (slots_[i].stamp == stamp_ && slots_[i].hash != hash) i = (i + 1) & (slots_.size() - 1);
    return slots_[i];
  }
  std::vector<Slot> slots_;
  int stamp_ = 0;
};

// The row hashes of every column band: what the browser has, and the frame.
struct BandRows {
  const uint32_t* old_rows;  // band col's rows at old_rows[col * height]
  const uint32_t* new_rows;
  int columns, height;
};

// The vertical offset from the frame's rows to where the browser has them
// that most rows (of bands and rows where open(col, y)) agree on; nullopt
// when too few do.
template <class Open>
std::optional<int> scroll_offset(const BandRows& b, const Open& open) {
  std::vector<int> votes(2 * static_cast<size_t>(b.height) + 1, 0);  // offset + height
  RowIndex at(b.height);
  for (int col = 0; col < b.columns; ++col) {
    const uint32_t* old_rows = b.old_rows + static_cast<size_t>(col) * b.height;
    const uint32_t* new_rows = b.new_rows + static_cast<size_t>(col) * b.height;
    at.build(old_rows, b.height);
    for (int y = 0; y < b.height; ++y) {
      if (!open(col, y) || new_rows[y] == old_rows[y]) continue;
      if (int from = at.find(new_rows[y]); from >= 0) ++votes[from - y + b.height];
    }
  }
  int dy = 0, best = 0;
  for (int offset = -b.height; offset <= b.height; ++offset) {
    if (votes[offset + b.height] > best) dy = offset, best = votes[offset + b.height];
  }
  return best >= kMinRun ? std::optional<int>(dy) : std::nullopt;
}

// The longest run of open rows of band `col` the browser has dy rows
// further down: {first row, length}.
template <class Open>
std::pair<int, int> longest_scrolled_run(const BandRows& b, int col, int dy, const Open& open) {
  const uint32_t* old_rows = b.old_rows + static_cast<size_t>(col) * b.height;
  const uint32_t* new_rows = b.new_rows + static_cast<size_t>(col) * b.height;
  int run_start = 0, best_start = 0, best_len = 0;
  for (int y = 0; y <= b.height; ++y) {
    bool match = y < b.height && y + dy >= 0 && y + dy < b.height && open(col, y) && new_rows[y] == old_rows[y + dy];
    if (!match) {
      if (y - run_start > best_len) best_start = run_start, best_len = y - run_start;
      run_start = y + 1;
    }
  }
  return {best_start, best_len};
}

}  // namespace

void FrameEncoder::send_copies(const FrameView& frame, Tiles& t, TimePoint now, std::vector<std::string>& out,
                               EncodeStats& stats) {
  // Moves in two dimensions first, vertical ones included: a region
  // scrolled inside a window seldom starts on a tile. When they find none,
  // the row hashes may still find a scroll, of rows with too few anchors.
  if (send_moves(frame, t, now, out, stats) > 0 || t.work.size() < 2) return;
  for (const Move& m : find_scroll(t)) {
    // The row hashes propose; the browser's pixels decide (and a move
    // already made in two dimensions may have brought these rows).
    if (client_->shows(frame, m.to, m.src_x, m.src_y) && !client_->shows(frame, m.to, m.to.x, m.to.y)) {
      send_move(frame, m, t, now, out, stats);
    }
  }
}

std::vector<Move> FrameEncoder::find_scroll(const Tiles& t) const {
  const int tile = options_.tile;
  // Rows of touched tiles no copy has settled yet.
  auto open = [&](int col, int y) {
    size_t i = static_cast<size_t>(y / tile) * columns_ + col;
    return t.touched[i] && !t.exact[i];
  };
  const BandRows bands{old_rows_.data(), new_rows_.data(), columns_, height_};
  std::optional<int> dy = scroll_offset(bands, open);
  if (!dy) return {};
  std::vector<Move> copies;
  for (int col = 0; col < columns_; ++col) {
    auto [start, length] = longest_scrolled_run(bands, col, *dy, open);
    if (length < kMinRun) continue;
    Rect band = clip({col * tile, start, tile, length}, width_, height_);
    // A band next to the previous one with the same rows widens its copy.
    if (!copies.empty() && copies.back().to.x + copies.back().to.w == band.x && copies.back().to.y == band.y &&
        copies.back().to.h == band.h) {
      copies.back().to.w += band.w;
    } else {
      copies.push_back({band, band.x, band.y + *dy});
    }
  }
  return copies;
}

void FrameEncoder::moving_areas(const Tiles& t, std::vector<Rect>& frame_areas, std::vector<Rect>& client_areas) const {
  for (int row : t.work) {
    Rect run, known_run;
    for (size_t i = static_cast<size_t>(row) * columns_; i <= static_cast<size_t>(row + 1) * columns_; ++i) {
      bool open = i < static_cast<size_t>(row + 1) * columns_ && t.changed[i] && !t.exact[i];
      if (open) run = bounding(run, tile_rect(i));
      if (open && t.known[i]) known_run = bounding(known_run, tile_rect(i));
      if (!open && !run.empty()) frame_areas.push_back(run), run = {};
      if ((!open || !t.known[i]) && !known_run.empty()) client_areas.push_back(known_run), known_run = {};
    }
  }
}

int FrameEncoder::send_moves(const FrameView& frame, Tiles& t, TimePoint now, std::vector<std::string>& out,
                             EncodeStats& stats) {
  std::vector<Rect> frame_areas, client_areas;
  moving_areas(t, frame_areas, client_areas);
  if (frame_areas.empty() || client_areas.empty()) return 0;
  Rect bounds;
  int64_t budget = 0;  // pixels to compare: a few times the changed area, however many candidates there are
  for (const Rect& a : frame_areas) bounds = bounding(bounds, a), budget += 2 * area(a);
  const std::vector<MoveCandidate> candidates = moves_->candidates(frame, frame_areas, *client_, client_areas);
  std::vector<Rect> sent;
  for (const MoveCandidate& voted : candidates) {
    for (Point seed : voted.seeds) {
      if (sent.size() == kMaxMoves || budget <= 0) return static_cast<int>(sent.size());
      auto covers_seed = [&](const Rect& r) { return contains(r, {seed.x, seed.y, 1, 1}); };
      if (std::any_of(sent.begin(), sent.end(), covers_seed)) continue;
      Move m = best_move(frame, *client_, candidates, seed, bounds, budget);
      bool known = true;
      t.for_each_tile({m.src_x, m.src_y, m.to.w, m.to.h}, [&](size_t i) { known = known && t.known[i]; });
      if (m.to.empty() || !known) continue;
      send_move(frame, m, t, now, out, stats);
      sent.push_back(m.to);
    }
  }
  return static_cast<int>(sent.size());
}

void FrameEncoder::touch(const FrameView& frame, size_t i, Tiles& t, EncodeStats& stats) {
  t.touched[i] = 1;
  hash_tile(frame, i);
  if (tile_hashes_[i] != hashes_[i]) {
    t.changed[i] = 1;
    Rect r = tile_rect(i);
    stats.changed_pixels += static_cast<int64_t>(r.w) * r.h;
  }
  int row = static_cast<int>(i / columns_);
  auto at = std::lower_bound(t.work.begin(), t.work.end(), row);
  if (at == t.work.end() || *at != row) t.work.insert(at, row);
}

void FrameEncoder::send_move(const FrameView& frame, const Move& m, Tiles& t, TimePoint now,
                             std::vector<std::string>& out, EncodeStats& stats) {
  std::string msg;
  write_copy(msg, m.src_x, m.src_y, m.to);
  stats.copies++;
  stats.bytes += msg.size();
  out.push_back(std::move(msg));
  bool lossy_source = false;
  t.for_each_tile({m.src_x, m.src_y, m.to.w, m.to.h}, [&](size_t i) { lossy_source |= lossy_at_[i] != TimePoint{}; });
  client_->copy(m.src_x, m.src_y, m.to);
  t.for_each_tile(m.to, [&](size_t i) {
    // The browser's pixels there change: a tile outside the damage is looked at after all.
    if (!t.touched[i]) touch(frame, i, t, stats);
    bool whole = contains(m.to, tile_rect(i));
    if (whole) t.exact[i] = 1;
    // Pixels copied from a JPEG are as lossy as it was.
    if (lossy_source) {
      lossy_at_[i] = now;
    } else if (whole) {
      lossy_at_[i] = TimePoint{};
    }
  });
}

}  // namespace oriel::display
