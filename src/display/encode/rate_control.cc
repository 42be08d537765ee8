#include "oriel/display/rate_control.h"

#include <algorithm>
#include <cmath>

namespace oriel::display {

using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::microseconds;

void RateControl::on_frame_sent(uint32_t frame, size_t bytes, std::chrono::steady_clock::time_point now) {
  in_flight_.push_back({frame, bytes, now});
  if (in_flight_.size() > 64) in_flight_.pop_front();
}

void RateControl::on_frame_acked(uint32_t frame, std::chrono::steady_clock::time_point now) {
  while (!in_flight_.empty() && in_flight_.front().frame <= frame) {
    Sent s = in_flight_.front();
    in_flight_.pop_front();
    if (s.frame != frame) continue;
    auto took = std::max(duration_cast<microseconds>(now - s.at), microseconds(1));
    rtt_ = rtt_.count() == 0 ? took : std::min(took, (rtt_ * 7 + took) / 8);
    // Small frames say more about latency than bandwidth.
    if (s.bytes >= 16 * 1024) {
      double rate = static_cast<double>(s.bytes) / duration<double>(took).count();
      bandwidth_ = bandwidth_ == 0 ? rate : 0.8 * bandwidth_ + 0.2 * rate;
    }
  }
}

Quality RateControl::quality() const {
  Quality q;
  if (bandwidth_ == 0) return q;  // unmeasured: the default
  // 80 at 2 MB/s and more, down to 40 at 125 kB/s (1 Mbit/s) and below.
  double mb = bandwidth_ / 1e6;
  q.jpeg_quality = static_cast<int>(std::clamp(40.0 + 20.0 * std::log2(std::max(mb, 0.125) / 0.125) / 2.0, 40.0, 80.0));
  // Below 2 MB/s the link sets the pace. On a page of text the fast deflate
  // saves 1.4 ms and costs 6 kB more, which a link slower than 4.4 MB/s
  // takes longer to carry; the bandwidth measured here includes the
  // client's decoding and reads low, hence the margin (BENCHMARKS.md).
  if (mb < 2) q.deflate = Deflate::kDense;
  return q;
}

}  // namespace oriel::display
