// Adapts the lossy quality and the deflate to the link: bandwidth from the
// bytes of the frames the client acknowledged and the time they took,
// round-trip time from the fastest recent acknowledgement.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

#include "oriel/display/frame_encoder.h"

namespace oriel::display {

class RateControl {
 public:
  void on_frame_sent(uint32_t frame, size_t bytes, std::chrono::steady_clock::time_point now);
  void on_frame_acked(uint32_t frame, std::chrono::steady_clock::time_point now);
  Quality quality() const;  // for the next frame
  double bandwidth_bytes_per_s() const { return bandwidth_; }
  std::chrono::microseconds rtt() const { return rtt_; }

 private:
  struct Sent {
    uint32_t frame;
    size_t bytes;
    std::chrono::steady_clock::time_point at;
  };
  std::deque<Sent> in_flight_;
  double bandwidth_ = 0;  // bytes per second, smoothed; 0 until measured
  std::chrono::microseconds rtt_{0};
};

}  // namespace oriel::display
