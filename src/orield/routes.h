// Every route orield serves, by role, in one place: orield builds its
// routers with these, and the OpenAPI test builds the same ones to compare
// them with docs/openapi.json (internal to orield and its tests).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "oriel/agent/host.h"
#include "oriel/api/rest.h"
#include "oriel/controller/controller.h"
#include "oriel/display/gateway.h"
#include "oriel/net/http.h"

namespace oriel {

// The controller and gateway roles: the REST API, /metrics, the web client, the
// console's uploads and events, and the display WebSocket. The returned
// backend must outlive the server.
std::unique_ptr<api::ConsoleBackend> add_controller_routes(net::Router& router, controller::Controller& controller,
                                                           display::Gateway& gateway, const std::string& web_dir,
                                                           const std::string& upload_dir, const std::string& public_url,
                                                           const std::string& metrics_token);

// For HttpServer::check_credentials: whether a request's header carries what
// the controller's listener accepts (a user's bearer token, a host's client
// certificate, the deprecated cluster token), or the agent's.
std::function<bool(const net::Request&)> credentials_check(controller::Controller& controller,
                                                           std::string cluster_token);
std::function<bool(const net::Request&)> agent_credentials_check(std::string cluster_token);

// The agent role on a host of its own: /healthz, and /agent/v1 with the
// cluster token (agent::Host::serve; `epoch` is random per start).
void add_agent_role_routes(net::Router& router, agent::Host& host, std::string cluster_token, std::string epoch);

}  // namespace oriel
