#include "vnc_viewer.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <rfb/rfbclient.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

namespace oriel::bench {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

int unix_socket(const std::string& path, bool listen_on) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  int rc = listen_on ? (::unlink(path.c_str()), ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr))
                     : ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc == 0 && listen_on) rc = ::listen(fd, 1);
  if (rc != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w, n -= size_t(w);
  }
  return true;
}

uint32_t be32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint8_t(s[at + 3]);
}

}  // namespace

// Forwards bytes between one client and the server, counting the server's,
// and holds the client's FramebufferUpdateRequests once gated until
// grant()ed. It parses the client's side (RFB 3.8 with security None: 12
// bytes of version, 1 of security type, 1 of ClientInit, then client
// messages per RFB 7.5). Thread-safe: the public methods run on the
// viewer's thread, the forwarding on the relay's own.
class CountingRelay {
 public:
  static Result<std::unique_ptr<CountingRelay>> start(const std::string& listen_path, const std::string& server_path) {
    std::unique_ptr<CountingRelay> r(new CountingRelay());
    r->listen_fd_ = unix_socket(listen_path, true);
    if (r->listen_fd_ < 0) return Error::Unavailable("cannot listen on " + listen_path);
    r->server_path_ = server_path;
    r->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->thread_ = std::thread([p = r.get()] { p->run(); });
    return r;
  }
  ~CountingRelay() {
    stop_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
    for (int fd : {listen_fd_, client_fd_, server_fd_, wake_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  void gate() {
    std::lock_guard lock(mu_);
    gated_ = true;
  }
  void grant() {
    {
      std::lock_guard lock(mu_);
      ++credits_;
    }
    wake();
  }
  uint64_t server_bytes() const { return server_bytes_; }
  std::string error() const {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  CountingRelay() = default;
  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  void fail(const std::string& why) {
    std::lock_guard lock(mu_);
    if (error_.empty()) error_ = why;
    stop_ = true;
  }
  void run();
  bool accept_and_connect();
  bool from_client();
  bool from_server();
  // Length of the client message at the start of `in`, 0 if incomplete, -1 if unknown.
  static long message_size(const std::string& in);
  bool forward_client_messages();

  int listen_fd_ = -1, client_fd_ = -1, server_fd_ = -1, wake_fd_ = -1;
  std::string server_path_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> server_bytes_{0};
  mutable std::mutex mu_;
  bool gated_ = false;   // guarded by mu_
  int credits_ = 0;      // guarded by mu_
  std::string error_;    // guarded by mu_
  std::string pending_;  // client bytes not yet forwarded (relay thread only)
  std::string held_;     // the latest held update request (relay thread only)
  size_t handshake_left_ = 14;
};

bool CountingRelay::accept_and_connect() {
  pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stop_ && client_fd_ < 0) {
    if (::poll(p, 2, 1000) > 0 && (p[0].revents & POLLIN))
      client_fd_ = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }
  if (client_fd_ < 0) return false;
  server_fd_ = unix_socket(server_path_, false);
  if (server_fd_ < 0) fail("cannot connect to the VNC server at " + server_path_);
  return server_fd_ >= 0;
}

void CountingRelay::run() {
  if (!accept_and_connect()) return;
  while (!stop_) {
    pollfd p[3] = {{client_fd_, POLLIN, 0}, {server_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(p, 3, 1000) < 0) continue;
    if (p[2].revents & POLLIN) {
      uint64_t n;
      [[maybe_unused]] ssize_t r = ::read(wake_fd_, &n, sizeof n);
    }
    if ((p[1].revents & (POLLIN | POLLHUP)) && !from_server()) return;
    if ((p[0].revents & (POLLIN | POLLHUP)) && !from_client()) return;
    if (!forward_client_messages()) return;
  }
}

bool CountingRelay::from_server() {
  char buf[65536];
  ssize_t n = ::recv(server_fd_, buf, sizeof buf, 0);
  if (n <= 0) {
    fail("the VNC server closed the connection");
    return false;
  }
  server_bytes_ += uint64_t(n);
  if (!write_all(client_fd_, buf, size_t(n))) {
    fail("the VNC client closed the connection");
    return false;
  }
  return true;
}

bool CountingRelay::from_client() {
  char buf[65536];
  ssize_t n = ::recv(client_fd_, buf, sizeof buf, 0);
  if (n <= 0) {
    stop_ = true;  // the viewer went away: a normal end
    return false;
  }
  pending_.append(buf, size_t(n));
  return true;
}

long CountingRelay::message_size(const std::string& in) {
  if (in.empty()) return 0;
  auto need = [&](size_t n) { return in.size() >= n; };
  switch (uint8_t(in[0])) {
    case 0: return 20;                                                                // SetPixelFormat
    case 2: return need(4) ? 4 + 4 * long(uint8_t(in[2]) << 8 | uint8_t(in[3])) : 0;  // SetEncodings
    case 3: return 10;                                                                // FramebufferUpdateRequest
    case 4: return 8;                                                                 // KeyEvent
    case 5: return 6;                                                                 // PointerEvent
    case 6: return need(8) ? 8 + long(be32(in, 4)) : 0;                               // ClientCutText
    default: return -1;
  }
}

bool CountingRelay::forward_client_messages() {
  size_t take = std::min(handshake_left_, pending_.size());
  if (take > 0) {
    if (!write_all(server_fd_, pending_.data(), take)) return fail("the VNC server closed the connection"), false;
    pending_.erase(0, take);
    handshake_left_ -= take;
  }
  for (;;) {
    long size = message_size(pending_);
    if (size < 0) return fail("unexpected client message type " + std::to_string(uint8_t(pending_[0]))), false;
    if (size == 0 || pending_.size() < size_t(size)) break;
    std::string msg = pending_.substr(0, size_t(size));
    pending_.erase(0, size_t(size));
    std::lock_guard lock(mu_);
    if (gated_ && msg[0] == 3) {
      held_ = msg;  // requests are all the same incremental one: keep the latest
      continue;
    }
    if (!write_all(server_fd_, msg.data(), msg.size())) return error_ = "the VNC server closed the connection", false;
  }
  std::lock_guard lock(mu_);
  while (credits_ > 0 && !held_.empty()) {
    --credits_;
    if (!write_all(server_fd_, held_.data(), held_.size()))
      return error_ = "the VNC server closed the connection", false;
    held_.clear();
  }
  return true;
}

namespace {

int kTag;  // its address tags our pointer in the rfbClient

// Replaces libvncclient's encoding list with exactly one real encoding (and
// Tight's compression and quality levels), RFB 7.5.2: no pseudo-encodings,
// so the server sends nothing unasked.
bool set_encodings(rfbClient* c, const VncSettings& s) {
  std::vector<int32_t> encodings;
  if (s.encoding == VncEncoding::kZrle) {
    encodings = {rfbEncodingZRLE};
  } else {
    encodings = {rfbEncodingTight, int32_t(rfbEncodingCompressLevel0 + s.tight_compress),
                 int32_t(rfbEncodingQualityLevel0 + s.tight_quality)};
  }
  std::string msg = {char(rfbSetEncodings), 0, 0, char(encodings.size())};
  for (int32_t e : encodings) {
    for (int shift = 24; shift >= 0; shift -= 8) msg += char(uint32_t(e) >> shift);
  }
  return WriteToRFBServer(c, msg.data(), unsigned(msg.size()));
}

}  // namespace

Result<std::unique_ptr<VncViewer>> VncViewer::connect(const std::string& server_socket, const std::string& relay_socket,
                                                      const VncSettings& settings) {
  rfbEnableClientLogging = FALSE;
  std::unique_ptr<VncViewer> v(new VncViewer());
  v->relay_ = TRY(CountingRelay::start(relay_socket, server_socket));
  rfbClient* c = rfbGetClient(8, 3, 4);  // 32 bpp, bytes R,G,B,X in memory
  if (c == nullptr) return Error::Internal("libvncclient could not allocate a client");
  v->client_ = c;
  std::free(c->serverHost);
  c->serverHost = strdup(relay_socket.c_str());
  c->serverPort = 0;
  c->appData.encodingsString = settings.encoding == VncEncoding::kZrle ? "zrle" : "tight";
  c->appData.compressLevel = settings.tight_compress;
  c->appData.qualityLevel = settings.tight_quality;
  c->appData.enableJPEG = settings.encoding == VncEncoding::kTight;
  c->appData.useRemoteCursor = FALSE;
  c->canHandleNewFBSize = FALSE;
  rfbClientSetClientData(c, &kTag, v.get());
  c->GotFrameBufferUpdate = [](rfbClient* rc, int, int, int w, int h) {
    auto* self = static_cast<VncViewer*>(rfbClientGetClientData(rc, &kTag));
    self->pixels_ += int64_t(w) * h, ++self->rects_;
  };
  c->FinishedFrameBufferUpdate = [](rfbClient* rc) {
    ++static_cast<VncViewer*>(rfbClientGetClientData(rc, &kTag))->updates_done_;
  };
  if (!rfbInitClient(c, nullptr, nullptr)) {
    v->client_ = nullptr;  // rfbInitClient frees the client when it fails
    return Error::Unavailable("VNC handshake failed: " + v->relay_->error());
  }
  // The initial full request has gone; from now on the benchmark paces them.
  v->relay_->gate();
  if (!set_encodings(c, settings)) return Error::Unavailable("cannot send SetEncodings");
  // The first screen, plus whatever the server sent for libvncclient's own
  // pseudo-encodings, then quiet.
  auto last = Clock::now();
  int seen = 0;
  TRY(v->pump(
      [&] {
        if (v->updates_done_ != seen) seen = v->updates_done_, last = Clock::now();
        return v->pixels_ > 0 && Clock::now() - last > 1500ms;
      },
      30s));
  return v;
}

VncViewer::~VncViewer() {
  if (client_ != nullptr) rfbClientCleanup(client_);
}

Result<void> VncViewer::pump(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return Error::Timeout("no update from the VNC server in time");
    if (client_->buffered == 0) {
      int r = WaitForMessage(client_, 50000);
      if (r < 0) return Error::Unavailable("VNC connection failed: " + relay_->error());
      if (r == 0) continue;
    }
    if (!HandleRFBServerMessage(client_)) return Error::Unavailable("VNC connection lost: " + relay_->error());
  }
  return Ok();
}

Result<UpdateFigures> VncViewer::next_update() {
  const uint64_t bytes = relay_->server_bytes();
  const int64_t pixels = pixels_;
  const int rects = rects_, updates = updates_done_;
  relay_->grant();
  TRY(pump([&] { return updates_done_ > updates && pixels_ > pixels; }, 60s));
  return UpdateFigures{relay_->server_bytes() - bytes, pixels_ - pixels, rects_ - rects};
}

const uint8_t* VncViewer::framebuffer() const { return client_->frameBuffer; }
size_t VncViewer::stride() const { return size_t(client_->width) * 4; }

}  // namespace oriel::bench
