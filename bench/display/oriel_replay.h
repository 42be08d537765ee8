// Replays a recorded workload through Oriel's encoder
// (oriel::display::FrameEncoder) on one core and rebuilds, from its output
// alone, the screen a browser client would show (PNG and JPEG decoded,
// Solid and Copy applied), to measure the quality against the source.
#pragma once

#include <string>
#include <vector>

#include "sequence.h"

namespace oriel::bench {

// Figures of one replay, over frames 1..N-1 (frame 0, the first full
// screen, is sent but not counted, as for the VNC clients).
struct ReplayFigures {
  std::string encoder;  // e.g. "Oriel q80"
  int frames = 0;
  double bytes = 0;           // total sent
  double encode_seconds = 0;  // total, one core
  double pixels = 0;          // changed screen, as the encoder counts it
  QualityTotals quality;
  int jpeg = 0, png = 0, solid = 0, copies = 0;  // messages (Oriel) or rectangles (VNC)
  bool ok = true;
  std::string error;  // when !ok
  // With OrielSettings::keep_output: each counted frame's messages, joined
  // as the gateway sends them (one WebSocket message per frame).
  std::vector<std::string> output;

  double bytes_per_frame() const { return frames ? bytes / frames : 0; }
  double ms_per_frame() const { return frames ? encode_seconds * 1000 / frames : 0; }
  double mpps() const { return encode_seconds > 0 ? pixels / 1e6 / encode_seconds : 0; }
};

struct OrielSettings {
  int jpeg_quality = 80;  // the gateway's default (RateControl on a fast link)
  bool allow_lossy = true;
  display::Deflate deflate = display::Deflate::kFast;  // kDense: RateControl on a slow link
  int frame_interval_ms = 100;                         // the replay's clock: frames 100 ms apart
  int passes = 3;                                      // time: the fastest pass
  bool keep_output = false;                            // fill ReplayFigures::output
};

// Encodes every frame (damage: the 16 x 16 cells that changed) and decodes
// the output. An output the client model cannot apply is an error in the
// figures, not an abort.
ReplayFigures replay_oriel(const Sequence& s, const OrielSettings& settings);

}  // namespace oriel::bench
