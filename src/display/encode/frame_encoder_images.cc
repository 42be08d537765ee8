// What is left to send once the copies and Solids are: the tile rows' runs
// joined into images. Text and UI go as indexed PNGs of regions of at most
// 256 colours, photographs as one JPEG per region, anything else of many
// colours as RGB PNG (png_writer.cc).
#include <algorithm>
#include <numeric>
#include <utility>

#include "frame_encoder_tiles.h"
#include "oriel/display/frame_encoder.h"
#include "png_writer.h"

namespace oriel::display {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;

// The most pixels a text region grows to: regions enough for the pool's
// threads to share a whole new screen, and buffers of a bounded size.
constexpr int64_t kMaxTextRegion = 512 * 512;

// Whether a region (down to the tile row above `row`) may take in a
// rectangle of tile row `row`.
bool reaches(const Rect& region, int row, int tile) { return region.y + region.h > (row - 1) * tile; }

// Calls fn(r) for each rectangle of `grown` outside `old` (which lies
// inside it), while fn returns true; whether all did.
template <class Fn>
bool each_added(const Rect& grown, const Rect& old, Fn fn) {
  const Rect parts[] = {
      {grown.x, grown.y, grown.w, old.y - grown.y},                            // above
      {grown.x, old.y + old.h, grown.w, grown.y + grown.h - (old.y + old.h)},  // below
      {grown.x, old.y, old.x - grown.x, old.h},                                // left
      {old.x + old.w, old.y, grown.x + grown.w - (old.x + old.w), old.h},      // right
  };
  return std::all_of(std::begin(parts), std::end(parts), [&](const Rect& r) { return r.empty() || fn(r); });
}

// Calls fn(r) for each rectangle of `r` outside `hole`, while fn returns
// true; whether all did.
template <class Fn>
bool each_outside(const Rect& r, const Rect& hole, Fn fn) {
  const Rect inside = intersect(r, hole);
  return inside.empty() ? fn(r) : each_added(r, inside, fn);
}

// Many-coloured rectangles (per tile row) joined down the screen into
// regions, one JPEG each: a photograph is one image, with one set of
// tables and one Huffman code fitted to all of it.
std::vector<Rect> join_photos(const std::vector<int>& rows, const std::vector<std::vector<Rect>>& parts, int tile) {
  std::vector<Rect> regions;
  for (int row : rows) {
    for (const Rect& p : parts[row]) {
      auto joins = [&](const Rect& r) { return reaches(r, row, tile) && worth_joining(r, p); };
      auto it = std::find_if(regions.begin(), regions.end(), joins);
      if (it == regions.end()) {
        regions.push_back(p);
      } else {
        *it = bounding(*it, p);
      }
    }
  }
  return regions;
}

// The bytes of an Image message's header.
size_t image_header_size() {
  std::string header;
  write_image_header(header, {}, Codec::kPng, 0);
  return header.size();
}

}  // namespace

std::vector<Rect> FrameEncoder::join_text(const FrameView& frame, const std::vector<int>& rows,
                                          const std::vector<std::vector<Run>>& runs,
                                          std::vector<std::vector<Rect>>& photos, std::vector<Rect>& rgb) {
  struct Region {
    Rect rect;
    Palette* palette;
  };
  std::vector<Region> regions;
  // Palettes for the regions that may still grow, reused: a region that no
  // longer reaches the tile row being joined gives its palette back.
  std::vector<Palette*> free;
  for (auto& p : palettes_) free.push_back(p.get());
  const int tile = options_.tile;
  ColourSlices colours;  // of the run being placed
  // Joins `r` (of tile row `row`; colours' slices [first, end)) to a region
  // whose colours it leaves at most 256, or starts one; false when it has
  // more than 256 alone. Only the pixels a region takes in besides `r` are
  // counted here.
  auto place = [&](int row, const Rect& r, size_t first, size_t end) {
    auto add_around = [&](const Rect& a, Palette& palette) {
      return each_outside(a, r, [&](const Rect& part) { return add_colours(frame, part, palette); });
    };
    for (Region& region : regions) {
      if (!region.palette || !worth_joining(region.rect, r)) continue;
      const Rect grown = bounding(region.rect, r);
      if (int64_t(grown.w) * grown.h > kMaxTextRegion) continue;
      Palette& palette = *region.palette;
      const size_t before = palette.size();
      if (colours.add_to(palette, first, end) &&
          each_added(grown, region.rect, [&](const Rect& a) { return add_around(a, palette); })) {
        region.rect = grown;
        return true;
      }
      palette.truncate(before);
    }
    if (free.empty()) {
      palettes_.push_back(std::make_unique<Palette>());
      free.push_back(palettes_.back().get());
    }
    Palette& palette = *free.back();
    palette.clear();
    if (!colours.add_to(palette, first, end)) return false;
    free.pop_back();
    regions.push_back({r, &palette});
    return true;
  };
  for (int row : rows) {
    for (Region& region : regions) {
      if (region.palette && !reaches(region.rect, row, tile)) free.push_back(std::exchange(region.palette, nullptr));
    }
    for (const Run& run : runs[row]) {
      // A photograph of more than 256 colours goes whole as a JPEG: no slices.
      colours.count(frame, run.rect, run.photo ? 0 : tile);
      if (place(row, run.rect, 0, colours.size())) continue;
      if (run.photo) {
        photos[row].push_back(run.rect);
      } else {
        for (const ColourSlices::Part& part : colours.parts()) {
          // A part of at most 256 colours always finds a place.
          if (part.indexed && place(row, part.rect, part.first, part.end)) continue;
          (run.lossy ? photos[row] : rgb).push_back(part.rect);
        }
      }
    }
  }
  std::vector<Rect> rects;
  rects.reserve(regions.size());
  for (const Region& region : regions) rects.push_back(region.rect);
  return rects;
}

void FrameEncoder::send_images(const FrameView& frame, const std::vector<int>& rows,
                               const std::vector<std::vector<Run>>& runs, const Quality& quality, TimePoint now,
                               std::vector<std::string>& out, EncodeStats& stats) {
  std::vector<std::vector<Rect>> photos(rows_);
  std::vector<Rect> rgb;
  const std::vector<Rect> text = join_text(frame, rows, runs, photos, rgb);
  // JPEGs first: where a region's rectangle takes in pixels of another
  // image, the lossless ones are drawn last.
  enum class Kind { kJpeg, kIndexed, kRgb };
  struct Image {
    Rect rect;
    Kind kind;
    Codec codec = Codec::kPng;
    std::string message;
  };
  std::vector<Image> images;
  for (const Rect& r : join_photos(rows, photos, options_.tile)) images.push_back({r, Kind::kJpeg});
  for (const Rect& r : text) images.push_back({r, Kind::kIndexed});
  for (const Rect& r : rgb) images.push_back({r, Kind::kRgb});
  std::vector<int> items(images.size());
  std::iota(items.begin(), items.end(), 0);
  // Each message is assembled on the thread that encodes it, header
  // included: the caller only moves it on, with no copy.
  static const size_t kHeader = image_header_size();
  for_each(items, [&](int k) {
    Image& image = images[k];
    std::string& m = image.message;
    m.assign(kHeader, '\0');
    if (image.kind == Kind::kJpeg && append_jpeg(frame, image.rect, quality.jpeg_quality, m)) {
      image.codec = Codec::kJpeg;
    } else if (image.kind != Kind::kIndexed || !append_indexed_png(frame, image.rect, quality.deflate, m)) {
      append_rgb_png(frame, image.rect, quality.deflate, m);
    }
    std::string header;
    write_image_header(header, image.rect, image.codec, static_cast<uint32_t>(m.size() - kHeader));
    m.replace(0, kHeader, header);
  });
  for (Image& image : images) {
    (image.codec == Codec::kJpeg ? stats.jpeg : stats.png)++;
    stats.bytes += image.message.size();
    settle(frame, image.rect, image.codec == Codec::kJpeg, now);
    out.push_back(std::move(image.message));
  }
}

}  // namespace oriel::display
