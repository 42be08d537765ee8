// Anchors, votes, and growing a vote into a verified rectangle (move_finder.h).
#include "move_finder.h"

#include <algorithm>
#include <bit>
#include <tuple>

namespace oriel::display {

namespace {

// Rows sampled (see the header): every row of a small area, fewer of a large
// one. B and P, P a prime: a period of 16 or 24 rows would alias with lines
// of text that tall, sampling the same (perhaps blank) row of every line.
struct Sampling {
  int b, p;
  bool client_row(int y) const { return y % p < b; }
  bool frame_row(int y) const { return y % p % b == 0; }
};

constexpr int kWindow = 32;  // pixels an anchor's hash covers: 64 bits shifted by 2 a pixel
constexpr uint64_t kMix = 0x9E3779B97F4A7C15ull;
constexpr size_t kAnchorBudget = 2048;  // anchors a side when every pixel is an edge (a photograph)
constexpr int kMinVotes = 3;            // fewer is as likely a repeated word as a move
constexpr size_t kMaxCandidates = 6;
constexpr int kSeeds = 8;         // per candidate, where to grow it from
constexpr int kMaxRepeats = 12;   // places on the browser one anchor may vote for
constexpr size_t kMaxSteps = 64;  // a region narrowing row after row is not a window
constexpr int kMinMoveWidth = 16, kMinMoveHeight = 4, kMinMoveArea = 1024;

Sampling sampling_for(int64_t area) {
  if (area <= 64 * 1024) return {1, 1};
  if (area <= 256 * 1024) return {2, 5};
  if (area <= 512 * 1024) return {4, 17};
  return {8, 67};
}

// How many top bits of the hash must be clear for an anchor: about
// kAnchorBudget anchors when every pixel scanned is an edge, fewer on text
// and UI, whose flat runs have none.
int bits_for(int64_t scanned) {
  return std::clamp(static_cast<int>(std::bit_width(static_cast<uint64_t>(scanned) / kAnchorBudget)), 1, 32);
}

// Calls emit(key, x) for each anchor of one row of pixels (`kPixelBytes`
// each) from x0 to x1.
template <int kPixelBytes, class Emit>
void row_anchors(const uint8_t* row, int x0, int x1, int bits, Emit emit) {
  auto at = [row](int x) { return load_pixel(row + static_cast<size_t>(x) * kPixelBytes) & kRgbMask; };
  uint64_t h = 0;
  int x = x0;
  for (; x < std::min(x1, x0 + kWindow - 1); ++x) h = (h << 2) + (at(x) + 1) * kMix;
  if (x >= x1) return;  // too short for a whole window
  uint32_t left = at(x - 1);
  while (x < x1) {
    const uint32_t c = at(x);
    // Four pixels that each repeat the one before them (the background
    // between glyphs) hold no anchor: the hash takes their four terms at
    // once, (c << 6) + (c << 4) + (c << 2) + c. Looked for only where a
    // pixel repeats: a photograph seldom does, and pays one compare.
    if (c == left && x + 4 <= x1 && four_repeat_left<kPixelBytes>(row + static_cast<size_t>(x) * kPixelBytes)) {
      h = (h << 8) + (c + 1) * kMix * 85;
      x += 4;
      continue;
    }
    h = (h << 2) + (c + 1) * kMix;
    // The hash's condition is rare; the edge is tested only where it holds.
    if ((h >> (64 - bits)) == 0 && c != left) emit(h, x);
    left = c;
    ++x;
  }
}

size_t slot_of(uint64_t key, size_t size) {
  return static_cast<size_t>(((key ^ (key >> 29)) * kMix) >> 32) & (size - 1);
}

int64_t area_of(std::span<const Rect> areas) {
  int64_t sum = 0;
  for (const Rect& a : areas) sum += static_cast<int64_t>(a.w) * a.h;
  return sum;
}

}  // namespace

std::vector<MoveCandidate> MoveFinder::candidates(const FrameView& frame, std::span<const Rect> frame_areas,
                                                  const ClientScreen& client, std::span<const Rect> client_areas) {
  const Sampling sample = sampling_for(area_of(frame_areas));
  const int bits = bits_for(area_of(frame_areas) / sample.b);
  client_.clear();
  frame_.clear();
  for (const Rect& a : client_areas) {
    for (int y = a.y; y < a.y + a.h; ++y) {
      if (sample.client_row(y)) collect(client.pixel(0, y), kClientPixelBytes, a, y, bits, client_);
    }
  }
  for (const Rect& a : frame_areas) {
    for (int y = a.y; y < a.y + a.h; ++y) {
      if (sample.frame_row(y)) collect(frame_pixel(frame, 0, y), 4, a, y, bits, frame_);
    }
  }
  index_client();
  vote();
  return best();
}

void MoveFinder::collect(const uint8_t* row, int pixel_bytes, const Rect& area, int y, int bits,
                         std::vector<Anchor>& out) {
  auto emit = [&](uint64_t key, int x) { out.push_back({key, x, y}); };
  if (pixel_bytes == 4) {
    row_anchors<4>(row, area.x, area.x + area.w, bits, emit);
  } else {
    row_anchors<kClientPixelBytes>(row, area.x, area.x + area.w, bits, emit);
  }
}

void MoveFinder::index_client() {
  // Anchors with one key side by side, then a table from each key to its run.
  std::sort(client_.begin(), client_.end(), [](const Anchor& a, const Anchor& b) { return a.key < b.key; });
  runs_.assign(std::bit_ceil(std::max<size_t>(64, client_.size() * 2)), Run{});
  for (size_t first = 0, end = 0; first < client_.size(); first = end) {
    while (end < client_.size() && client_[end].key == client_[first].key) ++end;
    size_t slot = slot_of(client_[first].key, runs_.size());
    while (runs_[slot].count) slot = (slot + 1) & (runs_.size() - 1);
    runs_[slot] = {client_[first].key, static_cast<int32_t>(first), static_cast<int32_t>(end - first)};
  }
}

const MoveFinder::Run* MoveFinder::find(uint64_t key) const {
  for (size_t slot = slot_of(key, runs_.size()); runs_[slot].count; slot = (slot + 1) & (runs_.size() - 1)) {
    if (runs_[slot].key == key) return &runs_[slot];
  }
  return nullptr;
}

void MoveFinder::vote() {
  // Content repeated down a column (the rows of a flat button, a ruled
  // table) leaves the vertical offset open: each of its few places on the
  // browser gets a vote, and the pixels decide later. Content repeated more
  // than that is no evidence at all.
  size_t total = 0;
  for (const Anchor& f : frame_) {
    if (const Run* r = find(f.key); r && r->count <= kMaxRepeats) total += r->count;
  }
  tallies_.assign(std::bit_ceil(std::max<size_t>(64, total * 2)), Tally{});
  for_each_vote([&](int dx, int dy, const Anchor&) { tally(dx, dy).votes++; });
}

template <class Fn>
void MoveFinder::for_each_vote(const Fn& fn) const {
  for (const Anchor& f : frame_) {
    const Run* r = find(f.key);
    if (!r || r->count > kMaxRepeats) continue;
    for (int32_t i = r->first; i < r->first + r->count; ++i) {
      if (client_[i].x != f.x || client_[i].y != f.y) fn(f.x - client_[i].x, f.y - client_[i].y, f);
    }
  }
}

MoveFinder::Tally& MoveFinder::tally(int dx, int dy) {
  uint64_t key = static_cast<uint64_t>(static_cast<uint32_t>(dx)) << 32 | static_cast<uint32_t>(dy);
  size_t slot = slot_of(key, tallies_.size());
  while (tallies_[slot].votes && (tallies_[slot].dx != dx || tallies_[slot].dy != dy)) {
    slot = (slot + 1) & (tallies_.size() - 1);
  }
  tallies_[slot].dx = dx, tallies_[slot].dy = dy;
  return tallies_[slot];
}

std::vector<MoveCandidate> MoveFinder::best() const {
  std::vector<MoveCandidate> found;
  for (const Tally& t : tallies_) {
    if (t.votes >= kMinVotes) found.push_back({t.dx, t.dy, t.votes, {}});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::tie(b.votes, a.dy, a.dx) < std::tie(a.votes, b.dy, b.dx);  // most votes first, then any fixed order
  });
  if (found.size() > kMaxCandidates) found.resize(kMaxCandidates);
  // Seeds where the 1st, 2nd, 4th, 8th... vote came from: spread over the
  // region, top to bottom.
  std::vector<int> seen(found.size(), 0);
  for_each_vote([&](int dx, int dy, const Anchor& f) {
    for (size_t c = 0; c < found.size(); ++c) {
      if (found[c].dx != dx || found[c].dy != dy) continue;
      bool spread = std::has_single_bit(static_cast<unsigned>(++seen[c]));
      if (spread && found[c].seeds.size() < kSeeds) found[c].seeds.push_back({f.x, f.y});
    }
  });
  return found;
}

namespace {

struct Span {
  int a = 0, b = 0;  // columns [a, b)
  int width() const { return b - a; }
};

// Rows beyond the seed's over which the matching span is at least `span`.
struct Step {
  int rows;
  Span span;
};

// Going from the seed's row in direction `dir` until `y_end`, how the span of
// matching pixels around the seed's column narrows.
template <class SpanAt>
std::vector<Step> narrowing(const SpanAt& span_at, Span seed_span, int seed_y, int dir, int y_end) {
  std::vector<Step> steps{{0, seed_span}};
  Span cur = seed_span;
  for (int y = seed_y + dir, k = 1; y != y_end; y += dir, ++k) {
    Span next = span_at(y, cur);
    if (next.width() < kMinMoveWidth) break;
    if (next.a == cur.a && next.b == cur.b) {
      steps.back().rows = k;
    } else if (steps.size() < kMaxSteps) {
      steps.push_back({k, next});
    } else {
      break;
    }
    cur = next;
  }
  return steps;
}

}  // namespace

Rect grow_move(const FrameView& frame, const ClientScreen& client, int dx, int dy, Point seed, const Rect& limit) {
  if (seed.x < limit.x || seed.x >= limit.x + limit.w || seed.y < limit.y || seed.y >= limit.y + limit.h) return {};
  // The run of matching pixels through the seed's column in row y, within `within`.
  auto span_at = [&](int y, Span within) -> Span {
    const uint8_t* f = frame_pixel(frame, seed.x, y);
    const uint8_t* c = client.pixel(seed.x - dx, y - dy);
    int right = same_prefix(f, c, within.b - seed.x);
    if (right == 0) return {seed.x, seed.x};
    return {seed.x - same_suffix(f, c, seed.x - within.a), seed.x + right};
  };
  Span first = span_at(seed.y, {limit.x, limit.x + limit.w});
  if (first.width() < kMinMoveWidth) return {};
  auto up = narrowing(span_at, first, seed.y, -1, limit.y - 1);
  auto down = narrowing(span_at, first, seed.y, 1, limit.y + limit.h);
  Rect best;
  for (const Step& u : up) {
    for (const Step& d : down) {
      Span s{std::max(u.span.a, d.span.a), std::min(u.span.b, d.span.b)};
      int h = u.rows + d.rows + 1;
      if (int64_t(s.width()) * h > int64_t(best.w) * best.h) best = {s.a, seed.y - u.rows, s.width(), h};
    }
  }
  if (best.w < kMinMoveWidth || best.h < kMinMoveHeight || int64_t(best.w) * best.h < kMinMoveArea) return {};
  return best;
}

}  // namespace oriel::display
