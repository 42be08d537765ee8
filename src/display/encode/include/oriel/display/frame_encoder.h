// The display gateway's encoder: turns what changed on a desktop's screen
// into display-protocol messages (docs/display-protocol.md) the browser
// decodes natively.
//
// The screen is a grid of tiles (64 x 64 by default). Each row of pixels of
// each tile column has a 64-bit hash (XXH3), and a tile's hash is the hash
// of its rows' hashes, so a tile inside the VNC server's damage that did not
// really change costs nothing. The low 32 bits of each row's hash are kept
// to propose vertical scrolls. The encoder also keeps a copy of what the
// browser shows (the pixels it was sent, moved as the browser moves them):
// three quarters of a framebuffer more memory, 3 bytes a pixel.
//
// What moved is sent as a Copy of what the browser has. Anchors chosen by
// the content itself find regions moved in two dimensions, such as a dragged
// window or a list scrolled inside one (move_finder.h); when they find none,
// the row hashes may still find a vertical scroll (rows of the new frame the
// browser has a few rows further up or down, one Copy per column band).
// Hashes only propose: a Copy is sent only where every pixel it brings
// equals the new frame's. What is left is then compared with the browser's
// pixels, and only the rectangle that differs in each changed tile is sent:
// a Solid when it has one colour, else merged with its neighbours in the
// tile row into a run. Runs are joined down and across the screen into
// regions of at most 256 colours, each an indexed PNG (1 to 8 bits a
// pixel, deflated as fast or as densely as the link calls for); a run of
// more colours is cut at tile edges first (anti-aliased text). When the
// quality allows lossy, a run that looks like a photograph (or video), and
// what has more than 256 colours even in one tile, is joined down the
// screen into regions sent as one JPEG each; else it goes as RGB PNG. A
// region sent as JPEG is sent again losslessly once it has stayed
// unchanged for lossless_refresh_after.
//
// Not thread-safe: one encoder per display session, used by its thread.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "oriel/display/protocol.h"

namespace oriel::display {

class ClientScreen;
class MoveFinder;
class Palette;
struct Move;

// A read-only view of the framebuffer: 4 bytes per pixel, R,G,B,X in memory.
struct FrameView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  size_t stride = 0;  // bytes per row
};

// How hard lossless images (PNG) are deflated.
enum class Deflate {
  // ISA-L's igzip at level 1. On pages of text the whole encoder is 1.6
  // times as fast as with kDense, for 16% more bytes: the default, and on
  // any link that carries those bytes sooner than kDense saves them.
  kFast,
  // libdeflate at level 6: where the link, not the encoder, sets the pace
  // (RateControl).
  kDense,
};

struct Quality {
  int jpeg_quality = 80;
  bool allow_lossy = true;
  Deflate deflate = Deflate::kFast;
};

struct EncodeStats {
  size_t bytes = 0;
  int solid = 0, copies = 0, png = 0, jpeg = 0;
  int64_t changed_pixels = 0;
  std::chrono::microseconds elapsed{0};
};

inline constexpr int kMaxTile = 1024;

struct EncoderOptions {
  int tile = 64;                             // pixels, 8 to kMaxTile
  boost::asio::thread_pool* pool = nullptr;  // null: encode on the caller's thread
  std::chrono::milliseconds lossless_refresh_after{300};
};

class FrameEncoder {
 public:
  explicit FrameEncoder(EncoderOptions options = {});
  ~FrameEncoder();

  // Forgets every tile (a new size or a new client): the next encode()
  // sends whatever lies in its damage.
  void reset(int width, int height);

  // Appends messages (Copy, Solid, Image; never FrameEnd) that bring the
  // browser's screen inside `damage` to the frame; a Copy may also write
  // outside it, with the frame's pixels. A frame whose size differs from
  // reset()'s is treated as a reset first.
  EncodeStats encode(const FrameView& frame, std::span<const Rect> damage, std::chrono::steady_clock::time_point now,
                     const Quality& quality, std::vector<std::string>& out);

  // When the oldest region sent lossy is due for its lossless refresh (call
  // encode() then, with or without damage); nullopt when none is lossy.
  std::optional<std::chrono::steady_clock::time_point> refresh_due() const;

 private:
  struct Tiles;  // what one encode() knows about each tile (frame_encoder_tiles.h)

  Rect tile_rect(size_t i) const;
  // The tiles this encode() looks at: the damage's, and lossy ones due for their refresh.
  Tiles plan(std::span<const Rect> damage, std::chrono::steady_clock::time_point now) const;
  // Runs fn(item) for each of `items` (tile rows, regions), on the pool when there is one.
  void for_each(const std::vector<int>& items, const std::function<void(int)>& fn);
  // Hashes the rows of tile i into new_rows_, and them into tile_hashes_.
  void hash_tile(const FrameView& frame, size_t i);
  // Which touched tiles differ from what the browser has, and how much
  // changed screen that is.
  void mark_changed(Tiles& tiles, EncodeStats& stats) const;

  // frame_encoder_motion.cc: the copies, sent and applied before anything else.
  void send_copies(const FrameView& frame, Tiles& tiles, std::chrono::steady_clock::time_point now,
                   std::vector<std::string>& out, EncodeStats& stats);
  // The copies that bring the browser's rows to the new frame's: one
  // vertical offset for the frame, at most one run per column band.
  std::vector<Move> find_scroll(const Tiles& tiles) const;
  // Regions moved in two dimensions, sent as they are found; how many.
  int send_moves(const FrameView& frame, Tiles& tiles, std::chrono::steady_clock::time_point now,
                 std::vector<std::string>& out, EncodeStats& stats);
  // The runs of changed tiles no Copy has settled, per tile row: where the
  // frame may show what moved, and (of those the browser was sent) where
  // it may have come from.
  void moving_areas(const Tiles& tiles, std::vector<Rect>& frame_areas, std::vector<Rect>& client_areas) const;
  // Tile i is looked at this frame after all (a Copy wrote into it).
  void touch(const FrameView& frame, size_t i, Tiles& tiles, EncodeStats& stats);
  // Sends a verified copy and applies it to client_ and the tiles' state.
  void send_move(const FrameView& frame, const Move& move, Tiles& tiles, std::chrono::steady_clock::time_point now,
                 std::vector<std::string>& out, EncodeStats& stats);

  // A run of neighbouring changed tiles of one tile row, left for images.
  struct Run {
    Rect rect;   // what differs in them
    bool lossy;  // JPEG allowed (not a lossless refresh, and the quality allows)
    bool photo;  // lossy, and it looks like a photograph: a JPEG if it has more than 256 colours
  };
  // One tile row's Solids; what else differs is left in `runs`.
  void encode_row(const FrameView& frame, int row, const Tiles& tiles, const Quality& quality,
                  std::chrono::steady_clock::time_point now, std::vector<std::string>& out, EncodeStats& stats,
                  std::vector<Run>& runs);
  // frame_encoder_images.cc: the runs of the tile rows `rows` as images,
  // encoded in parallel: JPEGs of the photographs, then indexed PNGs of
  // text and UI (join_text), then RGB PNGs of what has too many colours
  // where lossy is not allowed.
  void send_images(const FrameView& frame, const std::vector<int>& rows, const std::vector<std::vector<Run>>& runs,
                   const Quality& quality, std::chrono::steady_clock::time_point now, std::vector<std::string>& out,
                   EncodeStats& stats);
  // The runs that are not photographs joined down and across the screen
  // into regions of at most 256 colours, one indexed PNG each: anti-aliased
  // text in a few colours has the same shades line after line, and a PNG
  // palette (up to 768 bytes, never compressed) was a third of what text
  // cost when every tile row had its own. A run of more colours goes to
  // `photos` (per tile row) if it is a photograph, else is cut at tile
  // edges (ColourSlices::parts); what has more even in one tile goes to
  // `photos` when lossy, else to `rgb`. Each run's pixels are counted once;
  // joining it to a region adds its colours to the region's palette, and
  // counts only the pixels the region takes in besides.
  std::vector<Rect> join_text(const FrameView& frame, const std::vector<int>& rows,
                              const std::vector<std::vector<Run>>& runs, std::vector<std::vector<Rect>>& photos,
                              std::vector<Rect>& rgb);
  // `r` was sent: the browser has the frame's pixels there.
  void settle(const FrameView& frame, const Rect& r, bool lossy, std::chrono::steady_clock::time_point now);

  EncoderOptions options_;
  int width_ = 0, height_ = 0;
  int columns_ = 0, rows_ = 0;
  std::vector<uint64_t> hashes_;       // per tile, as the client has it; 0: unknown (always sent)
  std::vector<uint64_t> tile_hashes_;  // per tile, of the frame being encoded
  // Per column band and pixel row, the low half of the row's hash (0: never
  // sent): only to propose scrolls, which the browser's pixels then decide.
  std::vector<uint32_t> old_rows_;                               // as the client has it
  std::vector<uint32_t> new_rows_;                               // the same for the frame being encoded
  std::vector<std::chrono::steady_clock::time_point> lossy_at_;  // per tile: sent lossy then; epoch: lossless
  std::unique_ptr<ClientScreen> client_;                         // what the browser shows
  std::unique_ptr<MoveFinder> moves_;
  std::vector<std::unique_ptr<Palette>> palettes_;  // join_text's, reused frame after frame
};

}  // namespace oriel::display
