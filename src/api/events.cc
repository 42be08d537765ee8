// The event stream's connections and the hub's thread. A connection is a
// net::WebSocketConnection on the io_context; the hub's thread computes
// what to send and posts it to the connection's executor, so the controller
// (SQLite) is never called on the event loop.
#include "events.h"  // first: http.h includes <utility> before Asio

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include "oriel/common/log.h"
#include "oriel/common/mutex.h"
#include "oriel/net/websocket.h"

namespace oriel::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
using controller::Principal;

namespace {

constexpr auto kSignInTime = std::chrono::seconds(5);  // to send the token
constexpr size_t kMaxClientMessage = 16 * 1024;
constexpr size_t kMaxQueuedBytes = 32 << 20;  // unsent: the browser is not reading

}  // namespace

// Wakes the hub's thread early (a browser just sent its token); shared with
// the connections so that a late one never touches a destroyed hub.
struct EventHub::Wake {
  Mutex mu;
  CondVar cv;
  bool woken ORIEL_GUARDED_BY(mu) = false;
  bool stopping ORIEL_GUARDED_BY(mu) = false;
  void notify() {
    {
      MutexLock lock(mu);
      woken = true;
    }
    cv.notify_all();
  }
};

class EventConnection final : public net::WebSocketConnection {
 public:
  EventConnection(net::WebSocket&& ws, std::shared_ptr<EventHub::Wake> wake)
      : WebSocketConnection(std::move(ws), {.binary = false,
                                            .max_message_bytes = kMaxClientMessage,
                                            .max_queued_bytes = kMaxQueuedBytes,
                                            .overflow_code = static_cast<std::uint16_t>(EventsClose::kTooSlow)}),
        sign_in_timer_(get_executor()),
        wake_(std::move(wake)) {}

  // On the io_context.
  void start() {
    start_reading();
    sign_in_timer_.expires_after(kSignInTime);
    sign_in_timer_.async_wait([self = shared(), this](beast::error_code ec) {
      if (!ec && token().empty())
        begin_close(static_cast<std::uint16_t>(EventsClose::kUnauthenticated), "no token was sent");
    });
  }

  // From the hub's thread.
  std::string token() const {
    MutexLock lock(mu_);
    return token_;
  }
  bool open() const { return !finished(); }
  void send(const Json& message) { WebSocketConnection::send(message.dump()); }
  void close(EventsClose code, std::string reason) {
    WebSocketConnection::close(static_cast<std::uint16_t>(code), std::move(reason));
  }

  // What the browser was sent, per topic: only the hub's thread touches these.
  bool greeted = false;
  std::map<std::string, std::map<std::string, std::string>> sent;

 private:
  std::shared_ptr<EventConnection> shared() { return std::static_pointer_cast<EventConnection>(shared_from_this()); }
  void received(std::string_view text, bool binary) override;
  void ended() override { sign_in_timer_.cancel(); }

  asio::steady_timer sign_in_timer_;
  std::shared_ptr<EventHub::Wake> wake_;
  mutable Mutex mu_;
  std::string token_ ORIEL_GUARDED_BY(mu_);
};

// The first message carries the token; later ones are ignored (a browser may
// send keep-alives of its own).
void EventConnection::received(std::string_view text, bool) {
  if (!token().empty()) return;
  auto token = parse_events_auth(text);
  if (!token.ok()) return begin_close(static_cast<std::uint16_t>(EventsClose::kBadMessage), token.error().message());
  {
    MutexLock lock(mu_);
    token_ = std::move(*token);
  }
  wake_->notify();
}

EventHub::EventHub(Authenticator authenticate, std::vector<Topic> topics, std::chrono::milliseconds interval)
    : authenticate_(std::move(authenticate)),
      topics_(std::move(topics)),
      interval_(interval),
      wake_(std::make_shared<Wake>()) {}

EventHub::~EventHub() { stop(); }

void EventHub::start(std::function<void()> each_tick) {
  thread_ = std::thread([this, each_tick = std::move(each_tick)] {
    UniqueMutexLock lock(wake_->mu);
    while (!wake_->stopping) {
      wake_->cv.wait_for(lock, interval_,
                         [this]() ORIEL_REQUIRES(wake_->mu) { return wake_->stopping || wake_->woken; });
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
    MutexLock lock(wake_->mu);
    wake_->stopping = true;
  }
  wake_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EventHub::accept(const net::Request&, net::WebSocket&& ws) {
  auto c = std::make_shared<EventConnection>(std::move(ws), wake_);
  {
    MutexLock lock(mu_);
    connections_.push_back(c);
  }
  c->start();
}

size_t EventHub::connection_count() const {
  MutexLock lock(mu_);
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
    MutexLock lock(mu_);
    std::erase_if(connections_, [&](const std::weak_ptr<EventConnection>& weak) {
      auto c = weak.lock();
      if (!c || !c->open()) return true;
      live.push_back(std::move(c));
      return false;
    });
  }
  std::map<std::string, Result<Principal>> principals;  // by token
  std::map<std::string, Lists> lists;                   // by user id
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
