// The REST API of /api/v1 (../shared/docs/API-CONTRACT.md): routes that parse
// requests into controller commands and render controller records as JSON.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "oriel/controller/controller.h"
#include "oriel/net/http.h"

namespace oriel::api {

struct RestOptions {
  // The address users reach orield at (--public-url; behind a proxy, the
  // proxy's): display URLs point there. Empty: where each request came in.
  std::string public_url;
};

// Registers every /api/v1 route and /healthz on the router. The controller
// must outlive the router.
void add_rest_routes(net::Router& router, controller::Controller& controller, const RestOptions& options = {});

// GET /metrics in Prometheus text format: with `token`, for requests that
// bear it; without, for loopback peers only.
void add_metrics_route(net::Router& router, controller::Controller& controller, std::string token);

// Serves the built web client in `web_dir`: the portal at / (index.html,
// desktop.html, their scripts and styles) and the admin console at /admin
// (console.html). Without a web build, both are the small status page.
void add_web_files(net::Router& router, const std::string& web_dir);

// The admin console's backend (docs/api.md, "Uploads" and "Events").
struct ConsoleOptions {
  std::string upload_dir;                             // image uploads in progress; created 0700
  int64_t max_upload_bytes = int64_t{256} << 30;      // one uploaded image
  size_t max_active_uploads = 4;                      // receiving chunks at once
  std::chrono::seconds upload_idle_limit{24 * 3600};  // an upload without a chunk for this long is deleted
  std::chrono::milliseconds event_interval{1000};     // how often the event stream looks for changes
};

// Owns the console backend's background thread (changes for the event
// stream, removal of finished and abandoned uploads). Keep it alive while the
// server runs; destroy it before the controller.
class ConsoleBackend {
 public:
  virtual ~ConsoleBackend() = default;
};

// Registers /api/v1/uploads... and the WebSocket /api/v1/events, and starts
// the backend's thread.
std::unique_ptr<ConsoleBackend> add_console_routes(net::Router& router, controller::Controller& controller,
                                                   const ConsoleOptions& options);

}  // namespace oriel::api
