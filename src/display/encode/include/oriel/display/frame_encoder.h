// The display gateway's encoder: turns what changed on a desktop's screen
// into display-protocol messages (docs/display-protocol.md) the browser
// decodes natively.
//
// The screen is a grid of tiles (64 x 64 by default). Each row of pixels of
// each tile column has a 64-bit hash (XXH3), and a tile's hash is the hash
// of its rows' hashes, so a tile inside the VNC server's damage that did not
// really change costs nothing. The row hashes also find a vertical scroll:
// rows of the new frame that the client already has a few rows further up
// or down are sent as one Copy per column band. A changed tile of one colour
// becomes a Solid; neighbouring changed tiles of a tile row are merged into
// one image: an indexed PNG when they have at most 256 colours, else a JPEG
// when the quality allows lossy (photographs, video), else an RGB PNG. A
// region sent as JPEG is sent again losslessly once it has stayed
// unchanged for lossless_refresh_after.
//
// Not thread-safe: one encoder per display session, used by its thread.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "oriel/display/protocol.h"

namespace oriel::display {

// A read-only view of the framebuffer: 4 bytes per pixel, R,G,B,X in memory.
struct FrameView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  size_t stride = 0;  // bytes per row
};

struct Quality {
  int jpeg_quality = 80;
  bool allow_lossy = true;
};

struct EncodeStats {
  size_t bytes = 0;
  int solid = 0, copies = 0, png = 0, jpeg = 0;
  int64_t changed_pixels = 0;
  std::chrono::microseconds elapsed{0};
};

struct EncoderOptions {
  int tile = 64;
  boost::asio::thread_pool* pool = nullptr;  // null: encode on the caller's thread
  std::chrono::milliseconds lossless_refresh_after{300};
};

class FrameEncoder {
 public:
  explicit FrameEncoder(EncoderOptions options = {});

  // Forgets every tile (a new size or a new client): the next encode()
  // sends whatever lies in its damage.
  void reset(int width, int height);

  // Appends messages (Solid, Image; never FrameEnd) for the tiles inside
  // `damage` whose content changed since they were last sent. A frame whose
  // size differs from reset()'s is treated as a reset first.
  EncodeStats encode(const FrameView& frame, std::span<const Rect> damage, std::chrono::steady_clock::time_point now,
                     const Quality& quality, std::vector<std::string>& out);

  // When the oldest region sent lossy is due for its lossless refresh (call
  // encode() then, with or without damage); nullopt when none is lossy.
  std::optional<std::chrono::steady_clock::time_point> refresh_due() const;

 private:
  struct Copy {
    Rect to;
    int src_y;
  };
  // Runs fn(tile_row) for each row in `rows`, on the pool when there is one.
  void for_rows(const std::vector<int>& rows, const std::function<void(int)>& fn);
  // Hashes the rows of the touched tiles of one tile row into new_rows_,
  // and those tiles' hashes into tile_hashes_.
  void hash_row(const FrameView& frame, int row, const std::vector<char>& touched);
  // The copies that bring the client's rows to the new frame's: one
  // vertical offset for the frame, at most one run per column band.
  std::vector<Copy> find_scroll(const std::vector<int>& rows, const std::vector<char>& touched) const;
  // One tile row's messages, in order. `lossless` tiles are refreshes.
  void encode_row(const FrameView& frame, int row, const std::vector<char>& touched,
                  const std::vector<char>& lossless, const Quality& quality,
                  std::chrono::steady_clock::time_point now, std::vector<std::string>& out, EncodeStats& stats);

  EncoderOptions options_;
  int width_ = 0, height_ = 0;
  int columns_ = 0, rows_ = 0;
  std::vector<uint64_t> hashes_;       // per tile, as the client has it; 0: unknown (always sent)
  std::vector<uint64_t> tile_hashes_;  // per tile, of the frame being encoded
  std::vector<uint64_t> old_rows_;     // per column band and pixel row, as the client has it
  std::vector<uint64_t> new_rows_;     // the same for the frame being encoded
  std::vector<std::chrono::steady_clock::time_point> lossy_at_;  // per tile: sent lossy then; epoch: lossless
};

}  // namespace oriel::display
