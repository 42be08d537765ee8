// Live updates for the console (docs/api.md, "Events"): a WebSocket at
// /api/v1/events that, once the browser has sent its token, pushes what
// changed in the lists it may see. Changes are found by asking the
// controller's public list methods for that principal once a tick and
// comparing with what the browser was last sent, so the tenancy rules of
// those methods apply unchanged. Internal to src/api.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http_types.h"
#include "oriel/common/mutex.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

// ------------------------------------------------------------ pure parts

// One topic's list, indexed by each item's key (its "id", or "seq" for
// audit events) with the item's serialized form to compare.
struct TopicItems {
  Json items = Json::array();                // as the controller listed them
  std::vector<std::string> order;            // their keys, in that order
  std::map<std::string, std::string> dumps;  // key → item.dump()
};
// InvalidArgument when `items` is not an array of objects carrying `key`.
Result<TopicItems> index_items(Json items, std::string_view key);

struct TopicChanges {
  Json upserted = Json::array();  // new or changed items, in list order
  std::vector<std::string> removed;
  bool empty() const { return upserted.empty() && removed.empty(); }
};
TopicChanges diff_topic(const std::map<std::string, std::string>& before, const TopicItems& now);

// The messages of the stream (text frames, one JSON object each).
Json snapshot_message(std::string_view topic, const TopicItems& now);
Json changes_message(std::string_view topic, const TopicChanges& changes);
Json hello_message(const controller::Principal& who, const std::vector<std::string>& topics,
                   std::chrono::milliseconds interval);
// The browser's first message, {"token": "..."}: browsers cannot set an
// Authorization header on a WebSocket, and a token in the URL would end up
// in logs.
Result<std::string> parse_events_auth(std::string_view message);

// Close codes of the stream (RFC 6455 §7.4.2 private range).
enum class EventsClose : std::uint16_t {
  kBadMessage = 4400,       // the first message is not {"token"}
  kUnauthenticated = 4401,  // no token in time, or it expired or was revoked: sign in again
  kTooSlow = 4408,          // the browser does not read what is sent
};

// ------------------------------------------------------------------- hub

// A list the stream follows: its name, the key of its items, and how to get
// it for a principal (an error, such as PermissionDenied, leaves it out).
struct Topic {
  std::string name;
  std::string key;
  std::function<Result<Json>(const controller::Principal&)> list;
};
std::vector<Topic> controller_topics(controller::Controller& c);

class EventConnection;
// Who a token belongs to (Identity::authenticate); an error closes the stream.
using Authenticator = std::function<Result<controller::Principal>(std::string_view token)>;

// Owns the connections and a thread that looks for changes every
// `interval` (sooner when a browser has just signed in). Connections live on
// the HTTP server's io_context; only this thread calls the controller.
// Thread-safe; stop() (or the destructor) joins the thread.
class EventHub {
 public:
  EventHub(Authenticator authenticate, std::vector<Topic> topics, std::chrono::milliseconds interval);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Starts the thread; `each_tick` runs after every tick (housekeeping).
  void start(std::function<void()> each_tick = {});
  void stop();
  // The WebSocket route's handler: on the io_context's thread.
  void accept(const Request& req, WebSocket&& ws);
  // One pass over every connection; normally run by the thread.
  void tick();
  size_t connection_count() const;

 private:
  friend class EventConnection;  // wakes the thread when a token arrives
  struct Wake;
  Authenticator authenticate_;
  std::vector<Topic> topics_;
  std::chrono::milliseconds interval_;
  std::shared_ptr<Wake> wake_;  // shared with the connections, which may outlive the hub
  mutable Mutex mu_;
  std::vector<std::weak_ptr<EventConnection>> connections_ ORIEL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace oriel::api
