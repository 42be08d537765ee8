#include "sequence.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

namespace oriel::bench {
namespace {

constexpr int kMaxSide = 8192;
constexpr int kMaxFrames = 100000;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// One header line, without its '\n'; at most 64 bytes.
Result<std::string> read_line(gzFile f) {
  std::string line;
  for (;;) {
    int c = gzgetc(f);
    if (c < 0) return Error::InvalidArgument("truncated header");
    if (c == '\n') return line;
    if (line.size() >= 64) return Error::InvalidArgument("header line too long");
    line += static_cast<char>(c);
  }
}

Result<void> read_exact(gzFile f, uint8_t* out, size_t n) {
  while (n > 0) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
    int got = gzread(f, out, chunk);
    if (got <= 0) return Error::InvalidArgument("truncated frame data");
    out += got;
    n -= static_cast<size_t>(got);
  }
  return Ok();
}

// BT.601 luma, integer.
inline int luma(const uint8_t* p) { return (77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8; }

// Sums of a 4 x 4 block of both images: x, y, x*x + y*y, x*y.
struct BlockSums {
  int64_t a = 0, b = 0, sq = 0, ab = 0;
};

double window_ssim(const BlockSums& s) {
  constexpr double kN = 64, kC1 = 6.5025, kC2 = 58.5225;  // (0.01*255)^2, (0.03*255)^2
  double ma = s.a / kN, mb = s.b / kN;
  double var_sum = s.sq / kN - ma * ma - mb * mb;  // var(a) + var(b)
  double cov = s.ab / kN - ma * mb;
  return ((2 * ma * mb + kC1) * (2 * cov + kC2)) / ((ma * ma + mb * mb + kC1) * (var_sum + kC2));
}

}  // namespace

std::string workload_dir() {
  if (const char* d = std::getenv("ORIEL_WORKLOAD_DIR"); d && *d) return d;
  std::string base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    base = x;
  } else {
    const char* home = std::getenv("HOME");
    base = std::string(home ? home : "/tmp") + "/.cache";
  }
  return base + "/oriel/workloads";
}

Result<Sequence> load_sequence(const std::string& dir, const std::string& name, int max_frames) {
  std::string path = dir + "/" + name + ".frames.gz";
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) return Error::NotFound("workload file", path);
  gzbuffer(f.get(), 1 << 20);
  auto magic = read_line(f.get());
  if (!magic.ok() || *magic != "ORIEL-FRAMES 1") return Error::InvalidArgument(path + ": not a workload file");
  auto dims = read_line(f.get());
  if (!dims.ok()) return dims.take_error().context(path);
  Sequence s;
  s.name = name;
  int count = 0;
  char extra = 0;
  if (std::sscanf(dims->c_str(), "%d %d %d%c", &s.width, &s.height, &count, &extra) != 3 || s.width <= 0 ||
      s.height <= 0 || s.width > kMaxSide || s.height > kMaxSide || count <= 0 || count > kMaxFrames) {
    return Error::InvalidArgument(path + ": bad dimensions line '" + *dims + "'");
  }
  if (max_frames > 0) count = std::min(count, max_frames);
  const size_t pixels = static_cast<size_t>(s.width) * s.height;
  std::vector<uint8_t> rgb(pixels * 3);
  for (int i = 0; i < count; ++i) {
    if (auto r = read_exact(f.get(), rgb.data(), rgb.size()); !r.ok()) {
      return r.take_error().context(path + " frame " + std::to_string(i));
    }
    Frame frame;
    frame.rgbx.resize(pixels * 4);
    for (size_t p = 0; p < pixels; ++p) {
      std::memcpy(&frame.rgbx[p * 4], &rgb[p * 3], 3);
      frame.rgbx[p * 4 + 3] = 0;
    }
    s.frames.push_back(std::move(frame));
  }
  return s;
}

std::vector<display::Rect> damage_between(const Sequence& s, size_t a, size_t b) {
  constexpr int kCell = 16;
  std::vector<display::Rect> out;
  const uint8_t* pa = s.frames[a].rgbx.data();
  const uint8_t* pb = s.frames[b].rgbx.data();
  for (int y0 = 0; y0 < s.height; y0 += kCell) {
    int h = std::min(kCell, s.height - y0);
    display::Rect run;
    for (int x0 = 0; x0 < s.width; x0 += kCell) {
      int w = std::min(kCell, s.width - x0);
      bool differs = false;
      for (int y = y0; y < y0 + h && !differs; ++y) {
        size_t off = y * s.stride() + static_cast<size_t>(x0) * 4;
        differs = std::memcmp(pa + off, pb + off, static_cast<size_t>(w) * 4) != 0;
      }
      if (differs && !run.empty()) {
        run.w += w;
      } else if (differs) {
        run = {x0, y0, w, h};
      } else if (!run.empty()) {
        out.push_back(run);
        run = {};
      }
    }
    if (!run.empty()) out.push_back(run);
  }
  return out;
}

FrameQuality compare_frames(const Sequence& s, size_t want, const uint8_t* got, size_t got_stride) {
  const uint8_t* ref = s.frames[want].rgbx.data();
  const int bw = s.width / 4, bh = s.height / 4;
  std::vector<BlockSums> blocks(static_cast<size_t>(bw) * bh);
  uint64_t sq_err = 0;
  for (int y = 0; y < s.height; ++y) {
    const uint8_t* r = ref + y * s.stride();
    const uint8_t* g = got + y * got_stride;
    for (int x = 0; x < s.width; ++x, r += 4, g += 4) {
      for (int c = 0; c < 3; ++c) {
        int d = int(r[c]) - int(g[c]);
        sq_err += static_cast<uint64_t>(d * d);
      }
      if (x / 4 >= bw || y / 4 >= bh) continue;
      int la = luma(r), lb = luma(g);
      BlockSums& bs = blocks[static_cast<size_t>(y / 4) * bw + x / 4];
      bs.a += la, bs.b += lb, bs.sq += la * la + lb * lb, bs.ab += la * lb;
    }
  }
  FrameQuality q;
  q.mse = static_cast<double>(sq_err) / (static_cast<double>(s.width) * s.height * 3);
  // 8 x 8 windows every 4 pixels: 2 x 2 neighbouring blocks.
  double sum = 0;
  int windows = 0;
  for (int by = 0; by + 1 < bh; ++by) {
    for (int bx = 0; bx + 1 < bw; ++bx) {
      BlockSums w;
      for (int dy = 0; dy < 2; ++dy) {
        for (int dx = 0; dx < 2; ++dx) {
          const BlockSums& b = blocks[static_cast<size_t>(by + dy) * bw + bx + dx];
          w.a += b.a, w.b += b.b, w.sq += b.sq, w.ab += b.ab;
        }
      }
      sum += window_ssim(w);
      ++windows;
    }
  }
  q.ssim = windows ? sum / windows : 1.0;
  return q;
}

Result<void> write_ppm(const std::string& path, const uint8_t* px, size_t stride, int width, int height) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Error::Unavailable("cannot write " + path);
  std::fprintf(f, "P6\n%d %d\n255\n", width, height);
  std::vector<uint8_t> row(static_cast<size_t>(width) * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) std::memcpy(&row[size_t(x) * 3], px + y * stride + size_t(x) * 4, 3);
    std::fwrite(row.data(), 1, row.size(), f);
  }
  bool ok = std::fclose(f) == 0;
  if (!ok) return Error::Unavailable("cannot write " + path);
  return Ok();
}

double QualityTotals::psnr() const {
  if (frames == 0 || mse_sum == 0) return std::numeric_limits<double>::infinity();
  return 10 * std::log10(255.0 * 255.0 / (mse_sum / frames));
}

}  // namespace oriel::bench
