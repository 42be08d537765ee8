// The console's backend: the upload registry and the event hub, wired to
// the controller, with one background thread for both.
#include "events.h"  // first: http.h includes <utility> before Asio
#include "oriel/api/rest.h"
#include "oriel/common/log.h"
#include "uploads.h"
#include "views.h"

namespace oriel::api {
namespace {

using controller::Principal;

constexpr auto kSweepInterval = std::chrono::seconds(30);

ImportHooks import_hooks(controller::Controller& c) {
  ImportHooks hooks;
  hooks.start = [&c](const Principal& who, controller::CreateImage cmd) {
    return c.images().create_uploaded(who, std::move(cmd));
  };
  hooks.importing = [&c](const Principal& who, const std::string& image_id) {
    auto image = c.images().get(who, image_id);
    return image.ok() && image->state == "importing";
  };
  return hooks;
}

class Backend final : public ConsoleBackend {
 public:
  Backend(controller::Controller& c, const ConsoleOptions& o)
      : uploads_(o.upload_dir, UploadLimits{o.max_upload_bytes, o.max_active_uploads, o.upload_idle_limit},
                 import_hooks(c), clock_, random_),
        hub_([&c](std::string_view token) { return c.identity().authenticate(token); }, topics(c), o.event_interval) {}
  ~Backend() override { hub_.stop(); }

  UploadRegistry& uploads() { return uploads_; }
  EventHub& hub() { return hub_; }

  void start() {
    hub_.start([this, last = std::chrono::steady_clock::time_point()]() mutable {
      auto now = std::chrono::steady_clock::now();
      if (now - last < kSweepInterval) return;
      last = now;
      uploads_.sweep();
    });
  }

 private:
  // The controller's lists, and the uploads in progress (for administrators).
  std::vector<Topic> topics(controller::Controller& c) {
    auto all = controller_topics(c);
    auto idle = uploads_.limits().idle_limit;
    all.push_back({"uploads", "id", [this, idle](const Principal& who) -> Result<Json> {
                     Json out = Json::array();
                     for (const auto& u : TRY(uploads_.list(who))) out.push_back(upload_json(u, idle));
                     return out;
                   }});
    return all;
  }

  SystemClock clock_;
  SecureRandom random_;
  UploadRegistry uploads_;
  EventHub hub_;
};

}  // namespace

std::unique_ptr<ConsoleBackend> add_console_routes(Router& router, controller::Controller& controller,
                                                   const ConsoleOptions& options) {
  auto backend = std::make_unique<Backend>(controller, options);
  add_upload_routes(router, controller, backend->uploads());
  router.add_websocket("/api/v1/events", [hub = &backend->hub()](const Request& req, WebSocket&& ws) {
    hub->accept(req, std::move(ws));
  });
  // A plain GET (a script, curl) learns what the route is (RFC 9110 §15.5.22).
  router.add("GET", "/api/v1/events", [](const Request&) {
    auto r = http_error(426, "upgrade_required", "/api/v1/events is a WebSocket: connect with Upgrade: websocket");
    r.headers.emplace_back("Upgrade", "websocket");
    return r;
  });
  backend->start();
  return backend;
}

}  // namespace oriel::api
