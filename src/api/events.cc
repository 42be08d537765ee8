// The event stream's connections and the hub's thread. A connection is a
// reader and a writer coroutine on the io_context; the hub's thread computes
// what to send and posts it to the connection's executor, so the controller
// (SQLite) is never called on the event loop.
#include "events.h"  // first: http.h includes <utility> before Asio

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <set>

#include "oriel/common/log.h"

namespace oriel::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::use_awaitable;
using controller::Principal;

namespace {

constexpr auto kSignInTime = std::chrono::seconds(10);  // to send the token
constexpr auto kCloseGrace = std::chrono::seconds(5);
constexpr size_t kMaxClientMessage = 16 * 1024;
constexpr size_t kMaxQueuedBytes = 32 << 20;  // unsent: the browser is not reading

}  // namespace

// Wakes the hub's thread early (a browser just sent its token); shared with
// the connections so that a late one never touches a destroyed hub.
struct EventHub::Wake {
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;    // GUARDED_BY(mu)
  bool stopping = false; // GUARDED_BY(mu)
  void notify() {
    {
      std::lock_guard lock(mu);
      woken = true;
    }
    cv.notify_all();
  }
};

class EventConnection : public std::enable_shared_from_this<EventConnection> {
 public:
  EventConnection(WebSocket&& ws, std::shared_ptr<EventHub::Wake> wake, std::string remote)
      : ws_(std::move(ws)), timer_(ws_.get_executor()), wake_(std::move(wake)), remote_(std::move(remote)) {
    ws_.text(true);
    ws_.read_message_max(kMaxClientMessage);
    auto t = websocket::stream_base::timeout::suggested(beast::role_type::server);
    t.idle_timeout = std::chrono::seconds(30);
    t.keep_alive_pings = true;
    ws_.set_option(t);
  }

  // On the io_context.
  void start() {
    asio::co_spawn(ws_.get_executor(), read_loop(shared_from_this()), asio::detached);
    timer_.expires_after(kSignInTime);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && self->token().empty()) self->begin_close(EventsClose::kUnauthenticated, "no token was sent");
    });
  }

  // From the hub's thread.
  std::string token() const {
    std::lock_guard lock(mu_);
    return token_;
  }
  bool open() const { return !finished_; }
  void send(const Json& message) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), m = message.dump()]() mutable {
      self->queue(std::move(m));
    });
  }
  void close(EventsClose code, std::string reason) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), code, r = std::move(reason)]() mutable {
      self->begin_close(code, std::move(r));
    });
  }

  // What the browser was sent, per topic: only the hub's thread touches these.
  bool greeted = false;
  std::map<std::string, std::map<std::string, std::string>> sent;

 private:
  void queue(std::string message) {
    if (closing_) return;
    queued_bytes_ += message.size();
    outbox_.push_back(std::move(message));
    if (queued_bytes_ > kMaxQueuedBytes) return begin_close(EventsClose::kTooSlow, "the updates are not being read");
    if (!writing_) start_writer();
  }
  void start_writer() {
    writing_ = true;
    asio::co_spawn(ws_.get_executor(), write_loop(shared_from_this()), asio::detached);
  }
  void begin_close(EventsClose code, std::string reason) {
    if (closing_) return;
    closing_ = true;
    close_.code = static_cast<std::uint16_t>(code);
    close_.reason = std::move(reason);
    outbox_.clear();
    queued_bytes_ = 0;
    if (!writing_) start_writer();
    timer_.expires_after(kCloseGrace);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->cut();
    });
  }
  void cut() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }
  void received(std::string_view text);
  static asio::awaitable<void> write_loop(std::shared_ptr<EventConnection> self);
  static asio::awaitable<void> read_loop(std::shared_ptr<EventConnection> self);

  WebSocket ws_;
  asio::steady_timer timer_;
  std::shared_ptr<EventHub::Wake> wake_;
  std::string remote_;
  mutable std::mutex mu_;
  std::string token_;  // GUARDED_BY(mu_)
  std::atomic<bool> finished_{false};
  // On the io_context only.
  std::deque<std::string> outbox_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  websocket::close_reason close_;
};

asio::awaitable<void> EventConnection::write_loop(std::shared_ptr<EventConnection> self) {
  beast::error_code ec;
  while (!self->outbox_.empty()) {
    std::string message = std::move(self->outbox_.front());
    self->outbox_.pop_front();
    self->queued_bytes_ -= message.size();
    co_await self->ws_.async_write(asio::buffer(message), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
  }
  if (!ec && self->closing_) {
    co_await self->ws_.async_close(self->close_, asio::redirect_error(use_awaitable, ec));
    self->timer_.cancel();
  }
  self->writing_ = false;
  if (ec) self->cut();
}

asio::awaitable<void> EventConnection::read_loop(std::shared_ptr<EventConnection> self) {
  beast::flat_buffer buffer;
  for (;;) {
    beast::error_code ec;
    co_await self->ws_.async_read(buffer, asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    auto data = buffer.cdata();
    self->received(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer.consume(buffer.size());
  }
  self->finished_ = true;
  self->timer_.cancel();
}

// The first message carries the token; later ones are ignored (a browser may
// send keep-alives of its own).
void EventConnection::received(std::string_view text) {
  if (closing_ || !token().empty()) return;
  auto token = parse_events_auth(text);
  if (!token.ok()) return begin_close(EventsClose::kBadMessage, token.error().message());
  {
    std::lock_guard lock(mu_);
    token_ = std::move(*token);
  }
  wake_->notify();
}

EventHub::EventHub(Authenticator authenticate, std::vector<Topic> topics, std::chrono::milliseconds interval)
    : authenticate_(std::move(authenticate)), topics_(std::move(topics)), interval_(interval), wake_(std::make_shared<Wake>()) {}

EventHub::~EventHub() { stop(); }

void EventHub::start(std::function<void()> each_tick) {
  thread_ = std::thread([this, each_tick = std::move(each_tick)] {
    std::unique_lock lock(wake_->mu);
    while (!wake_->stopping) {
      wake_->cv.wait_for(lock, interval_, [this] { return wake_->stopping || wake_->woken; });
      if (wake_->stopping) break;
      wake_->woken = false;
      lock.unlock();
      tick();
      if (each_tick) each_tick();
      lock.lock();
    }
  });
}

void EventHub::stop() {
  {
    std::lock_guard lock(wake_->mu);
    wake_->stopping = true;
  }
  wake_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventHub::accept(const Request& req, WebSocket&& ws) {
  auto c = std::make_shared<EventConnection>(std::move(ws), wake_, req.remote_address);
  {
    std::lock_guard lock(mu_);
    connections_.push_back(c);
  }
  c->start();
}

size_t EventHub::connection_count() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& weak : connections_) {
    if (auto c = weak.lock(); c && c->open()) ++n;
  }
  return n;
}

namespace {

// One principal's lists for one tick, computed once however many of their
// tabs are open.
using Lists = std::map<std::string, TopicItems>;

Lists lists_for(const Principal& who, const std::vector<Topic>& topics) {
  Lists out;
  for (const auto& topic : topics) {
    auto items = topic.list(who);
    if (!items.ok()) continue;  // not for this role (403), or the store is busy: next tick
    auto indexed = index_items(std::move(*items), topic.key);
    if (indexed.ok()) out.emplace(topic.name, std::move(*indexed));
  }
  return out;
}

void update(EventConnection& c, const Principal& who, const Lists& lists, std::chrono::milliseconds interval) {
  if (!c.greeted) {
    std::vector<std::string> names;
    for (const auto& [name, items] : lists) names.push_back(name);
    c.send(hello_message(who, names, interval));
    c.greeted = true;
  }
  for (const auto& [name, now] : lists) {
    auto before = c.sent.find(name);
    if (before == c.sent.end()) {
      c.send(snapshot_message(name, now));
    } else {
      auto changes = diff_topic(before->second, now);
      if (changes.empty()) continue;
      c.send(changes_message(name, changes));
    }
    c.sent[name] = now.dumps;
  }
}

}  // namespace

void EventHub::tick() {
  std::vector<std::shared_ptr<EventConnection>> live;
  {
    std::lock_guard lock(mu_);
    std::erase_if(connections_, [&](const std::weak_ptr<EventConnection>& weak) {
      auto c = weak.lock();
      if (!c || !c->open()) return true;
      live.push_back(std::move(c));
      return false;
    });
  }
  std::map<std::string, Result<Principal>> principals;  // by token
  std::map<std::string, Lists> lists;                    // by user id
  for (const auto& c : live) {
    std::string token = c->token();
    if (token.empty()) continue;  // not signed in yet: its timer closes it
    auto known = principals.find(token);
    if (known == principals.end()) known = principals.emplace(token, authenticate_(token)).first;
    if (!known->second.ok()) {
      c->close(EventsClose::kUnauthenticated, "your sign-in has expired: sign in again");
      continue;
    }
    const Principal& who = *known->second;
    auto mine = lists.find(who.user_id);
    if (mine == lists.end()) mine = lists.emplace(who.user_id, lists_for(who, topics_)).first;
    update(*c, who, mine->second, interval_);
  }
}

}  // namespace oriel::api
