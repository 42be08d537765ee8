// Recorded workloads for the display comparison (display_compare): frame
// sequences captured from the desktop image by bench/display/record-workloads
// and kept compressed in a cache directory, plus what every replay needs of
// them (the damage between two frames, quality against the source).
//
// A workload file is external input: load_sequence() checks every size and
// returns an error for anything malformed; nothing here asserts on it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oriel/common/result.h"
#include "oriel/display/frame_encoder.h"

namespace oriel::bench {

// One frame: 4 bytes per pixel, R, G, B, X in memory (as the encoder's
// FrameView and libvncclient's 32-bpp framebuffer).
struct Frame {
  std::vector<uint8_t> rgbx;
};

struct Sequence {
  std::string name;
  int width = 0, height = 0;
  std::vector<Frame> frames;

  size_t stride() const { return static_cast<size_t>(width) * 4; }
  display::FrameView view(size_t i) const { return {frames[i].rgbx.data(), width, height, stride()}; }
};

// Where the recorder writes: $ORIEL_WORKLOAD_DIR, else
// ${XDG_CACHE_HOME:-~/.cache}/oriel/workloads.
std::string workload_dir();

// Reads DIR/NAME.frames.gz (format in bench/display/record-workloads). At
// most `max_frames` frames are kept (0: all).
Result<Sequence> load_sequence(const std::string& dir, const std::string& name, int max_frames);

// What changed from `a` to `b`, as a VNC server would report it: 16 x 16
// cells that differ, merged into runs along each 16-pixel band of rows.
std::vector<display::Rect> damage_between(const Sequence& s, size_t a, size_t b);

// The quality of `got` (any stride, R,G,B,X) against `want`.
struct FrameQuality {
  double mse = 0;   // mean squared error per sample over R, G and B
  double ssim = 1;  // mean SSIM of the luma, 8 x 8 windows every 4 pixels
};
FrameQuality compare_frames(const Sequence& s, size_t want, const uint8_t* got, size_t got_stride);

// Writes a screen (R,G,B,X, any stride) as a binary PPM, for looking at
// what a client showed (display_compare --dump-dir).
Result<void> write_ppm(const std::string& path, const uint8_t* px, size_t stride, int width, int height);

// Aggregates per-frame quality: PSNR from the mean MSE (infinite when every
// frame is exact), mean SSIM.
struct QualityTotals {
  double mse_sum = 0, ssim_sum = 0;
  int frames = 0;
  void add(const FrameQuality& q) { mse_sum += q.mse, ssim_sum += q.ssim, ++frames; }
  double psnr() const;
  double ssim() const { return frames ? ssim_sum / frames : 1.0; }
};

}  // namespace oriel::bench
