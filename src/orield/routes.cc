#include "routes.h"

#include "oriel/common/secret.h"

namespace oriel {

std::unique_ptr<api::ConsoleBackend> add_controller_routes(net::Router& router, controller::Controller& controller,
                                                           display::Gateway& gateway, const std::string& web_dir,
                                                           const std::string& upload_dir, const std::string& public_url,
                                                           const std::string& metrics_token) {
  api::add_rest_routes(router, controller, {public_url});
  api::add_metrics_route(router, controller, metrics_token);
  api::add_web_files(router, web_dir);
  router.add_websocket("/display/{session}",
                       [&gateway](const net::Request& r, net::WebSocket&& ws) { gateway.accept(r, std::move(ws)); });
  return api::add_console_routes(router, controller, {.upload_dir = upload_dir});
}

std::function<bool(const net::Request&)> credentials_check(controller::Controller& controller,
                                                           std::string cluster_token) {
  return [&controller, agent = agent_credentials_check(std::move(cluster_token))](const net::Request& r) {
    return agent(r) || controller.identity().authenticate(r.bearer_token()).ok();
  };
}

std::function<bool(const net::Request&)> agent_credentials_check(std::string cluster_token) {
  return [token = std::move(cluster_token)](const net::Request& r) {
    return !r.client_certificate.common_name.empty() || (!token.empty() && secrets_equal(r.bearer_token(), token));
  };
}

void add_agent_role_routes(net::Router& router, agent::Host& host, std::string cluster_token, std::string epoch) {
  router.add("GET", "/healthz", [](const net::Request&) { return net::Response::json(200, {{"status", "ok"}}); });
  host.serve(router, std::move(cluster_token), std::move(epoch));
}

}  // namespace oriel
