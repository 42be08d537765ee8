#include "routes.h"

namespace oriel {

std::unique_ptr<api::ConsoleBackend> add_controller_routes(net::Router& router, controller::Controller& controller,
                                                           display::Gateway& gateway, const std::string& web_dir,
                                                           const std::string& upload_dir) {
  api::add_rest_routes(router, controller);
  api::add_web_files(router, web_dir);
  router.add_websocket("/display/{session}",
                       [&gateway](const net::Request& r, net::WebSocket&& ws) { gateway.accept(r, std::move(ws)); });
  return api::add_console_routes(router, controller, {.upload_dir = upload_dir});
}

void add_agent_role_routes(net::Router& router, const agent::AgentApi& api) {
  router.add("GET", "/healthz", [](const net::Request&) { return net::Response::json(200, {{"status", "ok"}}); });
  agent::add_agent_routes(router, api);
}

}  // namespace oriel
