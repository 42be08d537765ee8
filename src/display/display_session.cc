// The session thread: poll the VNC socket and a wake-up eventfd, handle
// what arrived, then send a frame if the client may take one.
#include "display_session.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <deque>

#include "oriel/common/log.h"
#include "oriel/common/metrics.h"
#include "oriel/common/mutex.h"
#include "oriel/display/frame_encoder.h"
#include "oriel/display/rate_control.h"
#include "vnc_client.h"

namespace oriel::display {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr size_t kMaxDamageRects = 256;  // beyond it, their bounding box
constexpr size_t kLatencySamples = 1024;
// Input while the display reconnects (the desktop moved host, or QEMU's
// VNC server dropped us) waits for it, as long as the gap stays short: a
// user who types through a migration's freeze loses no keys. Longer, and
// what they typed blind is dropped rather than delivered late.
constexpr auto kHoldInputFor = std::chrono::seconds(3);
constexpr size_t kMaxHeldInput = 1024;

Rect bounding_box(const std::vector<Rect>& rects) {
  int x0 = INT32_MAX, y0 = INT32_MAX, x1 = 0, y1 = 0;
  for (const auto& r : rects) {
    x0 = std::min(x0, r.x), y0 = std::min(y0, r.y);
    x1 = std::max(x1, r.x + r.w), y1 = std::max(y1, r.y + r.h);
  }
  return rects.empty() ? Rect{} : Rect{x0, y0, x1 - x0, y1 - y0};
}

// X11 keysyms and PC scancodes of the secure attention sequence.
struct Key {
  uint32_t keysym;
  uint16_t scancode;
};
constexpr Key kCtrlAltDel[] = {{0xffe3, 0x1d}, {0xffe9, 0x38}, {0xffff, 0xe053}};

// Keys, pointer, clipboard and Ctrl-Alt-Del: what goes to the desktop.
bool for_desktop(const ClientMessage& m) {
  return std::holds_alternative<KeyEvent>(m) || std::holds_alternative<PointerEvent>(m) ||
         std::holds_alternative<ClipboardText>(m) || std::holds_alternative<CtrlAltDel>(m);
}

// The gateway's figures for GET /metrics.
struct DisplayMetrics {
  prometheus::Gauge& sessions = metrics::gauge("oriel_display_sessions", "Display sessions in this gateway").Add({});
  prometheus::Counter& frames = metrics::counter("oriel_display_frames_total", "Frames sent to browsers").Add({});
  prometheus::Counter& bytes =
      metrics::counter("oriel_display_bytes_total", "Bytes of display messages sent to browsers").Add({});
  prometheus::Histogram& encode = metrics::histogram("oriel_display_encode_seconds", "Time to encode one frame")
                                      .Add({}, metrics::seconds_buckets());
  prometheus::Histogram& update =
      metrics::histogram("oriel_display_update_seconds", "From a change on the screen to its frame leaving the gateway")
          .Add({}, metrics::seconds_buckets());
  prometheus::Histogram& round_trip =
      metrics::histogram("oriel_display_round_trip_seconds",
                         "From a frame leaving the gateway to the browser's acknowledgement (network and decode)")
          .Add({}, metrics::seconds_buckets());
  prometheus::Histogram& unacked =
      metrics::histogram("oriel_display_frames_unacked", "Frames sent and not yet acknowledged, at each frame sent")
          .Add({}, prometheus::Histogram::BucketBoundaries{0, 1, 2, 3, 4, 6, 8});
};

DisplayMetrics& display_metrics() {
  static DisplayMetrics m;
  return m;
}

}  // namespace

class DisplaySession::Worker final : public VncEvents {
 public:
  Worker(DisplayTarget target, boost::asio::thread_pool& pool, SessionTimings timings)
      : target_(std::move(target)),
        timings_(timings),
        wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        encoder_(EncoderOptions{.pool = &pool}) {
    display_metrics().sessions.Increment();
  }
  ~Worker() override {
    display_metrics().sessions.Decrement();
    ::close(wake_fd_);
  }

  void post(std::function<void(Worker&)> command) {
    {
      MutexLock lock(mu_);
      queue_.push_back(std::move(command));
    }
    wake();
  }
  void stop() {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    wake();
  }
  void run();

  bool has_client() const { return has_client_; }
  std::vector<microseconds> latencies() const {
    MutexLock lock(mu_);
    return {latencies_.begin(), latencies_.end()};
  }

  // ------------------------------------------------ commands (session thread)
  void attach(std::shared_ptr<ClientSink> sink) {
    if (sink_) sink_->close(CloseCode::kReplaced, "this desktop was opened from another window or device");
    sink_ = std::move(sink);
    hello_ = false;
    sent_ = acked_ = 0;
    in_flight_.clear();
    has_client_ = true;
  }
  void detach(const ClientSink* sink) {
    if (sink_.get() != sink) return;
    sink_.reset();
    has_client_ = false;
  }
  void input(const ClientSink* from, ClientMessage message);
  void move_backend(std::string vnc) {
    spdlog::info("display {}: the desktop's display moved to {}", target_.session_id, vnc);
    target_.vnc = std::move(vnc);
    vnc_.reset();
    backend_lost_at_ = SteadyClock::now();
    next_attempt_ = {};
  }
  void end(CloseCode code, std::string reason) {
    if (sink_) sink_->close(code, std::move(reason));
    detach(sink_.get());
    MutexLock lock(mu_);
    stopping_ = true;
  }

  // ------------------------------------------------ VncEvents (session thread)
  void on_resize(int width, int height) override {
    encoder_.reset(width, height);
    damage_ = {Rect{0, 0, width, height}};
    first_damage_at_ = SteadyClock::now();
    resized_ = true;
  }
  void on_damage(const Rect& r) override {
    if (damage_.empty()) first_damage_at_ = SteadyClock::now();
    damage_.push_back(r);
    if (damage_.size() > kMaxDamageRects) damage_ = {bounding_box(damage_)};
  }
  void on_update_done() override {}
  // The whole screen again, at the size the client already knows.
  void refresh_all() {
    FrameView f = vnc_->frame();
    on_resize(f.width, f.height);
    resized_ = false;
  }
  void on_cursor(int hot_x, int hot_y, int width, int height, std::string rgba) override {
    cursor_.clear();
    write_cursor_shape(cursor_, static_cast<uint16_t>(hot_x), static_cast<uint16_t>(hot_y),
                       static_cast<uint16_t>(width), static_cast<uint16_t>(height), rgba);
  }
  void on_clipboard(std::string utf8) override {
    if (!(target_.policy & kClipboardToClient) || utf8.size() > kMaxClipboardBytes) return;
    clipboard_.clear();
    write_clipboard(clipboard_, utf8);
  }

 private:
  void wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
  bool take_commands();
  void connect_backend(SteadyClock::time_point now);
  void to_desktop(const ClientMessage& m);
  void hold(ClientMessage m, SteadyClock::time_point now);
  void read_backend();
  void maybe_send(SteadyClock::time_point now);
  int poll_timeout_ms(SteadyClock::time_point now) const;
  void fail(CloseCode code, std::string reason) {
    spdlog::info("display {}: closing the client: {}", target_.session_id, reason);
    if (sink_) sink_->close(code, std::move(reason));
    sink_.reset();
    has_client_ = false;
  }

  DisplayTarget target_;
  const SessionTimings timings_;

  mutable Mutex mu_;
  std::deque<std::function<void(Worker&)>> queue_ ORIEL_GUARDED_BY(mu_);
  bool stopping_ ORIEL_GUARDED_BY(mu_) = false;
  std::deque<microseconds> latencies_ ORIEL_GUARDED_BY(mu_);
  std::atomic<bool> has_client_{false};
  int wake_fd_;

  // Owned by the session thread.
  std::unique_ptr<VncClient> vnc_;
  FrameEncoder encoder_;
  RateControl rate_;
  std::shared_ptr<ClientSink> sink_;
  bool hello_ = false;
  uint16_t version_ = 1;  // negotiated in the client's hello
  bool resized_ = false;
  std::vector<Rect> damage_;
  SteadyClock::time_point first_damage_at_;
  std::string cursor_, clipboard_;   // messages waiting for the next send
  std::vector<ClientMessage> held_;  // input for the desktop while it reconnects
  uint32_t sent_ = 0, acked_ = 0;
  std::deque<std::pair<uint32_t, SteadyClock::time_point>> in_flight_;  // frames unacknowledged, when each left
  SteadyClock::time_point last_ack_;
  SteadyClock::time_point backend_lost_at_ = SteadyClock::now();
  SteadyClock::time_point next_attempt_;
};

void DisplaySession::Worker::run() {
  // libvncclient write()s to its socket. Once the desktop's QEMU is gone,
  // a write must fail with EPIPE (and the session reconnect) rather than
  // raise SIGPIPE, which would end whatever process hosts the session.
  // Blocked on this thread only, and never unblocked: a SIGPIPE a write
  // raises here stays pending on it.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  while (take_commands()) {
    auto now = SteadyClock::now();
    if (!vnc_ && now >= next_attempt_) connect_backend(now);
    if (vnc_ && vnc_->has_buffered()) {
      read_backend();
    } else {
      pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {vnc_ ? vnc_->fd() : -1, POLLIN, 0}};
      int ready = ::poll(fds, 2, poll_timeout_ms(now));
      if (ready > 0 && (fds[0].revents & POLLIN)) {
        uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof count);
      }
      if (ready > 0 && vnc_ && fds[1].revents) read_backend();
    }
    maybe_send(SteadyClock::now());
  }
}

// Runs queued commands; false once the session is stopping.
bool DisplaySession::Worker::take_commands() {
  std::deque<std::function<void(Worker&)>> commands;
  {
    MutexLock lock(mu_);
    if (stopping_) return false;
    commands.swap(queue_);
  }
  for (auto& c : commands) c(*this);
  MutexLock lock(mu_);
  return !stopping_;
}

void DisplaySession::Worker::connect_backend(SteadyClock::time_point now) {
  auto client = VncClient::connect(target_.vnc, target_.vnc_token, target_.vnc_tls, *this);
  if (client.ok()) {
    vnc_ = std::move(*client);
    spdlog::debug("display {}: connected to {}", target_.session_id, target_.vnc);
    if (now - backend_lost_at_ <= kHoldInputFor) {
      for (const ClientMessage& m : held_) to_desktop(m);
    }
    held_.clear();
    return;
  }
  if (now - backend_lost_at_ >= timings_.backend_give_up) {
    fail(CloseCode::kDisplayUnavailable, "the desktop's display is not available; is the desktop running?");
    MutexLock lock(mu_);
    stopping_ = true;
    return;
  }
  next_attempt_ = now + timings_.backend_retry;
}

void DisplaySession::Worker::read_backend() {
  do {
    if (auto r = vnc_->handle_message(); !r.ok()) {
      spdlog::info("display {}: {}; reconnecting", target_.session_id, r.error().message());
      vnc_.reset();
      backend_lost_at_ = SteadyClock::now();
      next_attempt_ = backend_lost_at_ + timings_.backend_retry;
      return;
    }
  } while (vnc_->has_buffered());
}

int DisplaySession::Worker::poll_timeout_ms(SteadyClock::time_point now) const {
  auto until = now + milliseconds(1000);
  if (!vnc_) until = std::min(until, next_attempt_);
  if (sink_ && sent_ > acked_) until = std::min(until, last_ack_ + timings_.ack_timeout);
  if (auto due = encoder_.refresh_due(); due && sink_ && hello_) until = std::min(until, *due);
  return static_cast<int>(std::max<int64_t>(0, duration_cast<milliseconds>(until - now).count() + 1));
}

void DisplaySession::Worker::maybe_send(SteadyClock::time_point now) {
  if (!sink_ || !hello_) return;
  if (sent_ > acked_ && now - last_ack_ >= timings_.ack_timeout) {
    return fail(CloseCode::kTooSlow, "the browser stopped acknowledging frames");
  }
  std::string batch = std::move(cursor_) + std::move(clipboard_);
  cursor_.clear(), clipboard_.clear();
  bool refresh = encoder_.refresh_due().has_value() && *encoder_.refresh_due() <= now;
  if (vnc_ && sent_ - acked_ < static_cast<uint32_t>(kMaxFramesInFlight) && (!damage_.empty() || refresh)) {
    FrameView frame = vnc_->frame();
    if (resized_) write_resize(batch, static_cast<uint16_t>(frame.width), static_cast<uint16_t>(frame.height));
    resized_ = false;
    std::vector<std::string> messages;
    auto stats = encoder_.encode(frame, damage_, now, rate_.quality(), messages);
    auto& figures = display_metrics();
    figures.encode.Observe(std::chrono::duration<double>(stats.elapsed).count());
    if (!damage_.empty()) {
      auto latency = duration_cast<microseconds>(SteadyClock::now() - std::max(first_damage_at_, last_ack_));
      figures.update.Observe(std::chrono::duration<double>(latency).count());
      MutexLock lock(mu_);
      latencies_.push_back(latency);
      if (latencies_.size() > kLatencySamples) latencies_.pop_front();
    }
    damage_.clear();
    if (!messages.empty()) {
      for (auto& m : messages) batch += m;
      if (sent_ == acked_) last_ack_ = now;  // the ack clock starts with the first frame in flight
      write_frame_end(batch, ++sent_, static_cast<uint32_t>(stats.elapsed.count()));
      figures.unacked.Observe(static_cast<double>(sent_ - acked_ - 1));
      figures.frames.Increment();
      in_flight_.emplace_back(sent_, now);
      rate_.on_frame_sent(sent_, batch.size(), now);
    }
  }
  if (!batch.empty()) {
    display_metrics().bytes.Increment(static_cast<double>(batch.size()));
    sink_->send(std::move(batch));
  }
}

void DisplaySession::Worker::hold(ClientMessage m, SteadyClock::time_point now) {
  if (now - backend_lost_at_ > kHoldInputFor) return held_.clear();
  // Pointer motion without a change of buttons keeps only its latest place.
  if (auto* p = std::get_if<PointerEvent>(&m); p && !held_.empty()) {
    if (auto* last = std::get_if<PointerEvent>(&held_.back()); last && last->buttons == p->buttons) {
      *last = *p;
      return;
    }
  }
  if (held_.size() < kMaxHeldInput) held_.push_back(std::move(m));
}

void DisplaySession::Worker::to_desktop(const ClientMessage& message) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, KeyEvent>) {
          vnc_->key(m.keysym, m.scancode, m.down);
        } else if constexpr (std::is_same_v<T, PointerEvent>) {
          FrameView f = vnc_->frame();
          vnc_->pointer(std::min<int>(m.x, f.width - 1), std::min<int>(m.y, f.height - 1), m.buttons);
        } else if constexpr (std::is_same_v<T, ClipboardText>) {
          if (target_.policy & kClipboardToDesktop) vnc_->clipboard(m.text);
        } else if constexpr (std::is_same_v<T, CtrlAltDel>) {
          for (const auto& k : kCtrlAltDel) vnc_->key(k.keysym, k.scancode, true);
          for (const auto& k : kCtrlAltDel) vnc_->key(k.keysym, k.scancode, false);
        }
      },
      message);
}

void DisplaySession::Worker::input(const ClientSink* from, ClientMessage message) {
  if (!sink_ || sink_.get() != from) return;
  if (std::holds_alternative<ClientHello>(message)) {
    if (hello_) return fail(CloseCode::kProtocolError, "ClientHello sent twice");
    hello_ = true;
    version_ = negotiated_version(std::get<ClientHello>(message).version);
    std::string out;
    FrameView f = vnc_ ? vnc_->frame() : FrameView{nullptr, 0, 0, 0};
    write_server_hello(out, version_, static_cast<uint16_t>(f.width), static_cast<uint16_t>(f.height), target_.policy,
                       target_.desktop_name);
    sink_->send(std::move(out));
    if (vnc_) refresh_all();
    return;
  }
  if (!hello_) return fail(CloseCode::kProtocolError, "the first message must be ClientHello");
  if (for_desktop(message)) {
    if (vnc_) {
      to_desktop(message);
    } else {
      hold(std::move(message), SteadyClock::now());
    }
    return;
  }
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, FrameAck>) {
          if (m.frame > sent_) return fail(CloseCode::kProtocolError, "FrameAck for a frame never sent");
          if (m.frame > acked_) {
            acked_ = m.frame;
            last_ack_ = SteadyClock::now();
            while (!in_flight_.empty() && in_flight_.front().first <= m.frame) {
              if (in_flight_.front().first == m.frame) {
                display_metrics().round_trip.Observe(
                    std::chrono::duration<double>(last_ack_ - in_flight_.front().second).count());
              }
              in_flight_.pop_front();
            }
            rate_.on_frame_acked(m.frame, last_ack_);
          }
        } else if constexpr (std::is_same_v<T, Refresh>) {
          if (vnc_) refresh_all();
        } else if constexpr (std::is_same_v<T, Ping>) {
          if (version_ < 2) return fail(CloseCode::kProtocolError, "Ping needs protocol version 2");
          std::string pong;
          write_pong(pong, m.token);
          sink_->send(std::move(pong));
        }
        // RequestSize: QEMU's standard VGA cannot follow the window; the client scales.
      },
      message);
}

DisplaySession::DisplaySession(DisplayTarget target, boost::asio::thread_pool& encoders, SessionTimings timings)
    : target_(target), worker_(std::make_unique<Worker>(std::move(target), encoders, timings)) {
  thread_ = std::thread([w = worker_.get()] { w->run(); });
}

DisplaySession::~DisplaySession() { stop(); }

void DisplaySession::stop() {
  worker_->stop();
  if (thread_.joinable()) thread_.join();
}

void DisplaySession::post(std::function<void(Worker&)> command) { worker_->post(std::move(command)); }

void DisplaySession::attach(std::shared_ptr<ClientSink> sink) {
  post([sink = std::move(sink)](Worker& w) mutable { w.attach(std::move(sink)); });
}
void DisplaySession::detach(const ClientSink* sink) {
  post([sink](Worker& w) { w.detach(sink); });
}
void DisplaySession::input(const ClientSink* from, ClientMessage message) {
  post([from, message = std::move(message)](Worker& w) mutable { w.input(from, std::move(message)); });
}
void DisplaySession::move_backend(std::string vnc) {
  post([s = std::move(vnc)](Worker& w) mutable { w.move_backend(std::move(s)); });
}
void DisplaySession::end(CloseCode code, std::string reason) {
  post([code, reason = std::move(reason)](Worker& w) mutable { w.end(code, std::move(reason)); });
}
bool DisplaySession::has_client() const { return worker_->has_client(); }
std::vector<microseconds> DisplaySession::latencies() const { return worker_->latencies(); }

}  // namespace oriel::display
