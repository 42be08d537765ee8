#include "qemu_guest.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.h"
#include "oriel/common/process.h"

namespace oriel::bench {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A connected unix stream socket read line by line, with deadlines.
class LineSocket {
 public:
  static Result<std::unique_ptr<LineSocket>> connect(const std::string& path, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
      if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        return std::unique_ptr<LineSocket>(new LineSocket(fd));
      }
      if (fd >= 0) ::close(fd);
      if (Clock::now() > deadline) return Error::Unavailable("cannot connect to " + path);
      std::this_thread::sleep_for(50ms);
    }
  }
  ~LineSocket() { ::close(fd_); }

  Result<void> send(const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::send(fd_, text.data() + done, text.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return Error::Unavailable("socket closed while sending");
      done += size_t(n);
    }
    return Ok();
  }

  // The next line that contains `needle` (lines before it are dropped).
  Result<std::string> wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      size_t nl;
      while ((nl = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.find(needle) != std::string::npos) return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Error::Timeout("no '" + needle + "' within the deadline");
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return Error::Unavailable("socket closed while waiting for '" + needle + "'");
      buffer_.append(chunk, size_t(n));
      if (buffer_.size() > (1 << 20)) buffer_.erase(0, buffer_.size() - 4096);  // a chatty peer: keep the tail
    }
  }

 private:
  explicit LineSocket(int fd) : fd_(fd) {}
  int fd_;
  std::string buffer_;
};

namespace {

// The replacement /init (see the header): busybox sh.
constexpr const char* kInit = R"(#!/bin/sh
# Oriel display bench: shows frames of /dev/vda on /dev/fb0 on command (ttyS0).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for list in early late; do
  while read -r m; do insmod /lib/modules/$m.ko 2>/dev/null; done < /lib/modules/$list.order
done
n=0
while ! { [ -c /dev/fb0 ] && [ -b /dev/vda ]; } && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
for v in /sys/class/vtconsole/vtcon*; do
  grep -q "frame buffer" $v/name 2>/dev/null && echo 0 > $v/bind
done
stty -F /dev/ttyS0 raw -echo
size=$(cat /sys/class/graphics/fb0/virtual_size)
stride=$(cat /sys/class/graphics/fb0/stride)
frame=$((stride * ${size#*,}))
echo "REPLAY-READY $size $stride" > /dev/ttyS0
while read -r cmd n; do
  [ "$cmd" = F ] || continue
  dd if=/dev/vda of=/dev/fb0 bs=$frame skip=$n count=1 conv=fsync 2>/dev/null
  echo "DONE $n"
done < /dev/ttyS0 > /dev/ttyS0
while true; do sleep 3600; done
)";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One entry of a "newc" cpio archive (the kernel's initramfs format,
// Documentation/driver-api/early-userspace/buffer-format.rst).
void cpio_entry(std::string& out, const std::string& name, const std::string& data, unsigned mode) {
  char header[111];
  std::snprintf(header, sizeof header, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", 0u, mode, 0u, 0u,
                1u, 0u, data.size(), 0u, 0u, 0u, 0u, name.size() + 1, 0u);
  out += header;
  out += name;
  out += '\0';
  while (out.size() % 4) out += '\0';
  out += data;
  while (out.size() % 4) out += '\0';
}

// The test guest's initrd with our /oriel-fb-replay appended. The kernel
// unpacks concatenated archives; zero padding before a header is skipped.
Result<void> write_initrd(const std::string& base, const std::string& path) {
  std::string initrd = read_all(base);
  if (initrd.empty()) return Error::NotFound("test guest initrd", base);
  while (initrd.size() % 4) initrd += '\0';
  std::string cpio;
  cpio_entry(cpio, "oriel-fb-replay", kInit, 0100755);
  cpio_entry(cpio, "TRAILER!!!", "", 0);
  std::ofstream out(path, std::ios::binary);
  out << initrd << cpio;
  if (!out.good()) return Error::Internal("cannot write " + path);
  return Ok();
}

// Frames in the framebuffer's layout (XRGB8888 little-endian: B,G,R,X).
Result<std::vector<size_t>> write_disk(const std::string& path, const std::vector<const Sequence*>& sequences) {
  std::ofstream out(path, std::ios::binary);
  std::vector<size_t> first;
  size_t slot = 0;
  std::vector<uint8_t> bgrx;
  for (const Sequence* s : sequences) {
    first.push_back(slot);
    for (const Frame& f : s->frames) {
      bgrx.resize(f.rgbx.size());
      for (size_t i = 0; i < f.rgbx.size(); i += 4) {
        bgrx[i] = f.rgbx[i + 2], bgrx[i + 1] = f.rgbx[i + 1], bgrx[i + 2] = f.rgbx[i], bgrx[i + 3] = 0;
      }
      out.write(reinterpret_cast<const char*>(bgrx.data()), std::streamsize(bgrx.size()));
      ++slot;
    }
  }
  if (!out.good()) return Error::Internal("cannot write the frames disk " + path);
  return first;
}

}  // namespace

Result<std::unique_ptr<ReplayGuest>> ReplayGuest::start(const std::string& dir,
                                                        const std::vector<const Sequence*>& sequences) {
  for (const Sequence* s : sequences) {
    if (s->width != 1280 || s->height != 800) {
      return Error::InvalidArgument(s->name + ": the test guest's screen is 1280x800, the workload " +
                                    std::to_string(s->width) + "x" + std::to_string(s->height));
    }
  }
  std::unique_ptr<ReplayGuest> g(new ReplayGuest());
  g->dir_ = dir;
  g->vnc_socket_ = dir + "/vnc.sock";
  g->shot_ = dir + "/shot.ppm";
  g->first_slots_ = TRY(write_disk(dir + "/frames.raw", sequences));
  TRY(g->boot(dir + "/initrd.img", dir + "/frames.raw"));
  return g;
}

Result<void> ReplayGuest::boot(const std::string& initrd, const std::string& disk) {
  testing::TestGuest guest;
  try {
    guest = testing::TestGuest::locate();
  } catch (const std::exception& e) {
    return Error::Unavailable(e.what());
  }
  TRY(write_initrd(guest.initrd, initrd));
  SystemProcessRunner runner;
  std::vector<std::string> argv = {"qemu-system-x86_64",
                                   "-name",
                                   "oriel-replay,debug-threads=on",
                                   "-machine",
                                   "q35",
                                   "-accel",
                                   "tcg,thread=multi",
                                   "-m",
                                   "256",
                                   "-smp",
                                   "1",
                                   "-nodefaults",
                                   "-vga",
                                   "std",
                                   "-display",
                                   "none",
                                   "-kernel",
                                   guest.kernel,
                                   "-initrd",
                                   initrd,
                                   "-append",
                                   guest.cmdline + " rdinit=/oriel-fb-replay",
                                   "-drive",
                                   "file=" + disk + ",if=virtio,format=raw,readonly=on",
                                   "-chardev",
                                   "socket,id=ser,path=" + dir_ + "/serial.sock,server=on,wait=off",
                                   "-serial",
                                   "chardev:ser",
                                   "-qmp",
                                   "unix:" + dir_ + "/qmp.sock,server=on,wait=off",
                                   "-vnc",
                                   "unix:" + vnc_socket_ + ",lossy=on,non-adaptive=on",
                                   "-daemonize",
                                   "-pidfile",
                                   dir_ + "/qemu.pid"};
  auto run = runner.run(argv, {.timeout = 60s});
  if (!run.ok()) return run.take_error().context("starting QEMU");
  if (run->exit_code != 0) return Error::Unavailable("QEMU did not start: " + run->err);
  std::ifstream(dir_ + "/qemu.pid") >> pid_;
  serial_ = TRY(LineSocket::connect(dir_ + "/serial.sock", 10s));
  auto ready = serial_->wait_for("REPLAY-READY", 120s);
  if (!ready.ok()) return ready.take_error().context("booting the replay guest");
  if (ready->find("REPLAY-READY 1280,800 5120") == std::string::npos) {
    return Error::Unavailable("unexpected framebuffer: " + *ready);
  }
  qmp_ = TRY(LineSocket::connect(dir_ + "/qmp.sock", 10s));
  TRY(qmp_->wait_for("QMP", 10s));
  TRY(qmp_->send(R"({"execute":"qmp_capabilities"})"
                 "\n"));
  TRY(qmp_->wait_for("\"return\"", 10s));
  return Ok();
}

ReplayGuest::~ReplayGuest() {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
}

Result<bool> ReplayGuest::screen_matches(const Sequence& s, size_t frame) {
  std::filesystem::remove(shot_);
  TRY(qmp_->send(R"({"execute":"screendump","arguments":{"filename":")" + shot_ + "\"}}\n"));
  auto reply = TRY(qmp_->wait_for("\"return\"", 10s));
  std::string ppm = read_all(shot_);
  std::string header = "P6\n" + std::to_string(s.width) + " " + std::to_string(s.height) + "\n255\n";
  if (ppm.compare(0, header.size(), header) != 0 || ppm.size() != header.size() + size_t(s.width) * s.height * 3) {
    return Error::Unavailable("screendump is not a " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                              " PPM");
  }
  const uint8_t* want = s.frames[frame].rgbx.data();
  const char* got = ppm.data() + header.size();
  for (size_t p = 0; p < size_t(s.width) * s.height; ++p) {
    if (std::memcmp(want + p * 4, got + p * 3, 3) != 0) return false;
  }
  return true;
}

Result<void> ReplayGuest::show(size_t slot, const Sequence& s, size_t frame) {
  TRY(serial_->send("F " + std::to_string(slot) + "\n"));
  auto done = serial_->wait_for("DONE " + std::to_string(slot), 60s);
  if (!done.ok()) return done.take_error().context("showing frame " + std::to_string(frame));
  // The framebuffer's shadow copy reaches the display from a kernel worker.
  auto deadline = Clock::now() + 10s;
  while (!TRY(screen_matches(s, frame))) {
    if (Clock::now() > deadline) {
      return Error::Timeout(s.name + " frame " + std::to_string(frame) + ": the display never matched the frame");
    }
    std::this_thread::sleep_for(30ms);
  }
  return Ok();
}

Result<int64_t> ReplayGuest::vnc_worker_cpu_ns() {
  namespace fs = std::filesystem;
  std::string task = "/proc/" + std::to_string(pid_) + "/task";
  if (worker_tid_ < 0) {
    std::error_code ec;
    for (const auto& t : fs::directory_iterator(task, ec)) {
      std::string comm;
      std::ifstream(t.path() / "comm") >> comm;
      if (comm == "vnc_worker") worker_tid_ = std::stoi(t.path().filename().string());
    }
    if (worker_tid_ < 0) return Error::NotFound("QEMU thread", "vnc_worker");
  }
  // schedstat: time on the CPU in ns, time waiting, timeslices.
  int64_t ns = -1;
  std::ifstream(task + "/" + std::to_string(worker_tid_) + "/schedstat") >> ns;
  if (ns < 0) return Error::Unavailable("cannot read the vnc_worker thread's schedstat");
  return ns;
}

}  // namespace oriel::bench
