// Display figures. Part 1, the encoder on synthetic 1280x800 workloads (a
// terminal scrolling text, a window dragged over a flat desktop, a photo
// slideshow, full-screen changes): bytes per frame, encode time per frame
// and megapixels of changed screen per second, on one core and on the pool.
// Part 2, the gateway with a real QEMU test guest: a shell on the guest's
// screen prints without pause while a display session serves an in-process
// client that acknowledges at once; the latency the gateway adds (VNC
// update read -> frame handed to the socket) and the memory of a session:
// of the first, and of each further one on the same display.
//   build/bin/display_bench [--frames 60] [--seconds 10] [--only encoder|gateway]
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "display_session.h"
#include "harness.h"
#include "oriel/common/process.h"
#include "oriel/display/frame_encoder.h"

using namespace oriel;
using namespace oriel::display;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

constexpr int kWidth = 1280, kHeight = 800;

struct Frame {
  std::vector<uint8_t> px = std::vector<uint8_t>(size_t(kWidth) * kHeight * 4, 0);
  void set(int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    uint8_t* p = &px[(size_t(y) * kWidth + x) * 4];
    p[0] = r, p[1] = g, p[2] = b;
  }
  FrameView view() const { return {px.data(), kWidth, kHeight, size_t(kWidth) * 4}; }
};

// A line of "text": 8x16 cells of pseudo-glyph strokes, seeded per line,
// from x0 for `width` pixels.
void text_line(Frame& f, int y0, uint32_t seed, int x0 = 0, int width = kWidth) {
  std::mt19937 rng(seed);
  for (int cell = x0 / 8; cell < std::min(kWidth, x0 + width) / 8; ++cell) {
    bool blank = rng() % 5 == 0;
    uint32_t glyph = rng();
    for (int y = 0; y < 16 && y0 + y < kHeight; ++y) {
      for (int x = 0; x < 8; ++x) {
        bool ink = !blank && y > 2 && y < 14 && x < 7 && (glyph >> ((x + y * 3) % 32) & 1);
        f.set(cell * 8 + x, y0 + y, ink ? 220 : 12, ink ? 220 : 12, ink ? 220 : 16);
      }
    }
  }
}

struct Workload {
  std::string name;
  std::function<void(Frame&, int frame, std::vector<Rect>& damage)> step;
};

std::vector<Workload> workloads() {
  return {
      {"terminal scrolling text",
       [](Frame& f, int n, std::vector<Rect>& d) {
         // The whole screen moves up one line; a new line at the bottom.
         for (int row = 0; row < kHeight / 16; ++row) text_line(f, row * 16, uint32_t(n + row));
         d = {{0, 0, kWidth, kHeight}};
       }},
      {"window dragged over a flat desktop",
       [](Frame& f, int n, std::vector<Rect>& d) {
         for (int y = 0; y < kHeight; ++y) {
           for (int x = 0; x < kWidth; ++x) f.set(x, y, 58, 110, 165);
         }
         int wx = 100 + n * 9, wy = 80 + n * 4;
         for (int y = wy; y < wy + 400 && y < kHeight; ++y) {
           for (int x = wx; x < wx + 560 && x < kWidth; ++x) f.set(x, y, y < wy + 24 ? 40 : 245, 245, 245);
         }
         for (int row = 0; row < 20; ++row) text_line(f, wy + 40 + row * 16, uint32_t(row), wx + 8, 544);
         d = {{0, 0, kWidth, kHeight}};
       }},
      {"photo slideshow",
       [](Frame& f, int n, std::vector<Rect>& d) {
         std::mt19937 rng{static_cast<uint32_t>(n)};
         double fx = 0.005 + rng() % 100 / 10000.0, fy = 0.004 + rng() % 100 / 12000.0;
         for (int y = 0; y < kHeight; ++y) {
           for (int x = 0; x < kWidth; ++x) {
             int noise = int(rng() % 9) - 4;
             f.set(x, y, uint8_t(std::clamp(128 + 100 * std::sin(x * fx + n) + noise, 0.0, 255.0)),
                   uint8_t(std::clamp(128 + 90 * std::cos(y * fy) + noise, 0.0, 255.0)),
                   uint8_t(std::clamp(90 + 60 * std::sin((x + y) * 0.003 * n) + noise, 0.0, 255.0)));
           }
         }
         d = {{0, 0, kWidth, kHeight}};
       }},
      {"full-screen UI changes",
       [](Frame& f, int n, std::vector<Rect>& d) {
         uint8_t shade = uint8_t(200 + n % 40);
         for (int y = 0; y < kHeight; ++y) {
           for (int x = 0; x < kWidth; ++x) f.set(x, y, shade, shade, uint8_t(shade - 10));
         }
         for (int row = 0; row < 30; ++row) text_line(f, 60 + row * 24, uint32_t(n * 97 + row));
         d = {{0, 0, kWidth, kHeight}};
       }},
  };
}

void encoder_figures(int frames) {
  boost::asio::thread_pool pool(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("Encoder, %dx%d, %d frames per workload (Solid, Copy, PNG; JPEG at quality 80 for photos)\n", kWidth,
              kHeight, frames);
  std::printf("%-36s %14s %14s %12s %14s\n", "workload", "bytes/frame", "ms/frame 1T", "MP/s 1T", "MP/s pool");
  for (const auto& w : workloads()) {
    double mps[2] = {0, 0};
    double bytes = 0, ms1 = 0;
    for (int mode = 0; mode < 2; ++mode) {
      FrameEncoder enc(EncoderOptions{.pool = mode ? &pool : nullptr});
      Frame f;
      int64_t pixels = 0;
      double seconds = 0;
      size_t total = 0;
      for (int n = 0; n < frames; ++n) {
        std::vector<Rect> damage;
        w.step(f, n, damage);
        std::vector<std::string> out;
        auto stats = enc.encode(f.view(), damage, Steady::now(), Quality{}, out);
        pixels += stats.changed_pixels;
        seconds += std::chrono::duration<double>(stats.elapsed).count();
        total += stats.bytes;
      }
      mps[mode] = pixels / 1e6 / seconds;
      if (mode == 0) bytes = double(total) / frames, ms1 = seconds * 1000 / frames;
    }
    std::printf("%-36s %14.0f %14.2f %12.1f %14.1f\n", w.name.c_str(), bytes, ms1, mps[0], mps[1]);
  }
  pool.join();
}

// A client that acknowledges every frame at once, as a browser on a LAN.
class AckingSink final : public ClientSink {
 public:
  explicit AckingSink(std::function<void(uint32_t)> ack) : ack_(std::move(ack)) {}
  void send(std::string m) override {
    bytes_ += m.size();
    // FrameEnd is the last message of a frame: type 0x40, u32 frame, u32 encode_us.
    if (m.size() >= 9 && uint8_t(m[m.size() - 9]) == 0x40) {
      uint32_t frame = 0;
      for (int i = 0; i < 4; ++i) frame |= uint32_t(uint8_t(m[m.size() - 8 + i])) << (8 * i);
      ++frames_;
      ack_(frame);
    }
  }
  void close(CloseCode code, std::string reason) override {
    std::printf("  the session closed the client: %d %s\n", int(code), reason.c_str());
  }
  std::atomic<size_t> bytes_{0};
  std::atomic<int> frames_{0};

 private:
  std::function<void(uint32_t)> ack_;
};

// A figure of /proc/self/status in kB: VmRSS (all resident memory), or
// RssAnon (less the pages of program and libraries, which every session shares).
long status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return 0;
}

// A display session with a client that acknowledges at once.
struct BenchSession {
  BenchSession(const std::string& id, const std::string& vnc, boost::asio::thread_pool& pool)
      : session({id, "d-bench", "bench", vnc}, pool) {
    sink = std::make_shared<AckingSink>([this](uint32_t f) { session.input(sink.get(), FrameAck{f}); });
    session.attach(sink);
    session.input(sink.get(), ClientHello{1, kWidth, kHeight});
  }
  ~BenchSession() { session.stop(); }
  DisplaySession session;
  std::shared_ptr<AckingSink> sink;
};

void gateway_figures(int seconds) {
  auto guest = testing::TestGuest::locate();
  std::string dir = testing::make_temp_dir("display-bench");
  std::string vnc = dir + "/vnc.sock", pidfile = dir + "/qemu.pid";
  SystemProcessRunner runner;
  // clang-format off
  auto qemu = runner.run({"qemu-system-x86_64", "-accel", "tcg,thread=multi", "-m", "192", "-machine", "q35",
                          "-kernel", guest.kernel, "-initrd", guest.initrd, "-append", guest.cmdline, "-vga", "std",
                          "-display", "none", "-vnc", "unix:" + vnc, "-serial", "file:" + dir + "/serial.log",
                          "-daemonize", "-pidfile", pidfile},
                         {.timeout = 30s});
  // clang-format on
  if (!qemu.ok() || qemu->exit_code != 0) {
    std::printf("gateway: QEMU did not start\n");
    return;
  }
  testing::wait_for_text(dir + "/serial.log", "ORIEL-GUEST-READY", 60s);
  std::this_thread::sleep_for(1s);  // the framebuffer console appears just after READY
  boost::asio::thread_pool pool(std::max(1u, std::thread::hardware_concurrency()));
  const long rss_before = status_kb("VmRSS"), anon_before = status_kb("RssAnon");
  {
    BenchSession first("s-bench", vnc, pool);
    DisplaySession& session = first.session;
    const std::shared_ptr<AckingSink>& sink = first.sink;
    std::this_thread::sleep_for(2s);
    // The shell prints numbers without pause: the console scrolls all the time.
    for (char c : std::string("while true; do echo $RANDOM $RANDOM $RANDOM; done\n")) {
      uint32_t keysym = c == '\n' ? 0xff0d : uint32_t(c);
      session.input(sink.get(), KeyEvent{true, keysym, 0});
      session.input(sink.get(), KeyEvent{false, keysym, 0});
    }
    int frames_before = sink->frames_;
    size_t bytes_before = sink->bytes_;
    auto started = Steady::now();
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    double elapsed = std::chrono::duration<double>(Steady::now() - started).count();
    const long rss_during = status_kb("VmRSS"), anon_during = status_kb("RssAnon");
    std::vector<double> ms;
    for (auto l : session.latencies()) ms.push_back(l.count() / 1000.0);
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, size_t(p / 100 * ms.size()))]; };
    std::printf("\nGateway with a real QEMU guest (TCG), console scrolling for %d s, client acking at once\n", seconds);
    std::printf("  frames: %.1f per second, %.0f kB/s to the client\n", (sink->frames_ - frames_before) / elapsed,
                (sink->bytes_ - bytes_before) / elapsed / 1000);
    std::printf("  added latency (VNC update read -> frame handed to the socket), %zu frames: p50 %.2f ms, "
                "p95 %.2f ms, max %.2f ms\n",
                ms.size(), pct(50), pct(95), pct(100));
    // More sessions on the same display: what each costs once the pool's
    // threads have grown their buffers (a few sessions first, so that every
    // thread has encoded a whole screen) and the code is in memory.
    constexpr int kMore = 3;
    std::vector<std::unique_ptr<BenchSession>> more;
    auto open_more = [&] {
      for (int i = 0; i < kMore; ++i) {
        more.push_back(std::make_unique<BenchSession>(fmt::format("s-more-{}", more.size()), vnc, pool));
      }
      std::this_thread::sleep_for(3s);
      return status_kb("RssAnon");
    };
    const long anon_warm = open_more();
    const long anon_more = open_more();
    std::printf("  memory, the framebuffer being %d kB: the first session %ld kB (RSS growth; %ld kB anonymous), "
                "each further session %ld kB (anonymous, the mean of %d after %d more)\n",
                kWidth * kHeight * 4 / 1024, rss_during - rss_before, anon_during - anon_before,
                (anon_more - anon_warm) / kMore, kMore, kMore);
  }
  pool.join();
  std::ifstream pid(pidfile);
  pid_t p = 0;
  if (pid >> p && p > 0) ::kill(p, SIGKILL);
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  int frames = 60, seconds = 10;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--frames") frames = std::atoi(argv[i + 1]);
    if (a == "--seconds") seconds = std::atoi(argv[i + 1]);
    if (a == "--only") only = argv[i + 1];
  }
  std::printf("machine: %u cores\n\n", std::thread::hardware_concurrency());
  if (only.empty() || only == "encoder") encoder_figures(frames);
  if (only.empty() || only == "gateway") gateway_figures(seconds);
}
