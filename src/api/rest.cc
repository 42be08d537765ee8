#include "oriel/api/rest.h"

#include "parse.h"
#include "rest_support.h"
#include "views.h"

namespace oriel::api {

using controller::Controller;
using controller::Principal;

Handler authed(Controller& c, AuthedHandler fn) {
  return [&c, fn = std::move(fn)](const Request& req) {
    auto who = c.identity().authenticate(req.bearer_token());
    if (!who.ok()) return Response::error(who.error());
    auto r = fn(*who, req);
    return r.ok() ? std::move(r).value() : Response::error(r.error());
  };
}

void record_audit(Controller& c, std::string_view action, const Request& req, const Principal* who,
                  const Response& response, std::string_view target) {
  store::AuditEvent e;
  e.action = std::string(action);
  if (auto at = e.action.find("{action}"); at != std::string::npos && req.params.count("action")) {
    e.action.replace(at, 8, req.params.at("action").substr(0, 50));
  }
  e.address = req.remote_address;
  e.status = response.status;
  if (who) {
    e.user_id = who->user_id;
    e.username = who->username;
    e.tenant_id = who->tenant_id;
  }
  e.target = std::string(target);
  if (auto it = req.params.find("id"); e.target.empty() && it != req.params.end()) e.target = it->second;
  auto body = response.content_type == "application/json" ? parse_json(response.body) : Result<Json>(Json());
  if (body.ok() && body->is_object()) {
    if (response.status < 300) {
      // The object acted on: its id when the path had none, its tenant.
      if (e.target.empty() && body->contains("id") && (*body)["id"].is_string()) e.target = (*body)["id"];
      if (body->contains("tenant_id") && (*body)["tenant_id"].is_string()) e.tenant_id = (*body)["tenant_id"];
      if (action.starts_with("tenant.")) e.tenant_id = e.target;  // the tenant is its own
      e.result = "ok";
    } else if (body->contains("error")) {
      const Json& err = (*body)["error"];
      if (err.contains("code") && err["code"].is_string()) e.result = err["code"];
      if (err.contains("message") && err["message"].is_string()) e.detail = err["message"];
    }
  }
  if (e.result.empty()) e.result = response.status < 300 ? "ok" : "error";
  c.audit().append(std::move(e));
}

Handler audited(Controller& c, std::string action, AuthedHandler fn) {
  return [&c, action = std::move(action), fn = std::move(fn)](const Request& req) {
    auto who = c.identity().authenticate(req.bearer_token());
    Response response;
    if (!who.ok()) {
      response = Response::error(who.error());
    } else {
      auto r = fn(*who, req);
      response = r.ok() ? std::move(r).value() : Response::error(r.error());
    }
    record_audit(c, action, req, who.ok() ? &*who : nullptr, response);
    return response;
  };
}

namespace {

// Heartbeats of agents on other hosts: the cluster token instead of a user's.
void add_cluster_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/cluster/heartbeat", [&c](const Request& req) {
    auto body = parse_json(req.body);
    if (!body.ok()) return Response::error(body.error());
    auto hello = agent::agent_hello_from_json(*body);
    if (!hello.ok()) return Response::error(hello.error());
    auto answer = c.hosts().heartbeat(req.bearer_token(), *hello);
    if (!answer.ok()) return Response::error(answer.error());
    return Response::json(200, {{"host_id", answer->host_id},
                                {"lease_ms", answer->lease.count()},
                                {"leader", c.leading()}});
  });
}

void add_auth_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/auth/login", [&c](const Request& req) {
    auto creds = parse_login(req.body);
    if (!creds.ok()) return Response::error(creds.error());
    auto login = c.identity().login(creds->username, creds->password);
    Response response = login.ok() ? Response::json(200, {{"token", login->token},
                                                          {"expires_at", format_rfc3339(login->expires_at)}})
                                   : Response::error(login.error());
    // Who tried: the name as typed, cut short so junk cannot bloat the log.
    Principal tried;
    tried.username = creds->username.substr(0, 200);
    record_audit(c, "auth.login", req, &tried, response, tried.username);
    return response;
  });
  r.add("POST", "/api/v1/auth/logout", audited(c, "auth.logout", [&c](const Principal&, const Request& req) -> Result<Response> {
          TRY(c.identity().logout(req.bearer_token()));
          return Response::json(200, Json::object());
        }));
  r.add("GET", "/api/v1/auth/me", authed(c, [&c](const Principal& who, const Request&) -> Result<Response> {
          return Response::json(200, user_json(TRY(c.identity().user(who, who.user_id))));
        }));
}

void add_host_routes(Router& r, Controller& c) {
  r.add("GET", "/api/v1/hosts", authed(c, [&c](const Principal& who, const Request&) -> Result<Response> {
          return Response::json(200, json_list(TRY(c.hosts().list(who)), host_json));
        }));
  r.add("POST", "/api/v1/hosts/{id}/actions/{action}",
        audited(c, "host.{action}", [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto action = TRY(parse_host_action(req.params.at("action")));
          return Response::json(202, host_json(TRY(c.hosts().act(who, req.params.at("id"), action))));
        }));
}

void add_image_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/images", audited(c, "image.create", [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto image = TRY(c.images().create(who, TRY(parse_create_image(req.body))));
          return Response::json(202, image_json(image));
        }));
  r.add("GET", "/api/v1/images", authed(c, [&c](const Principal& who, const Request&) -> Result<Response> {
          return Response::json(200, json_list(TRY(c.images().list(who)), image_json));
        }));
  r.add("GET", "/api/v1/images/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, image_json(TRY(c.images().get(who, req.params.at("id")))));
        }));
  r.add("DELETE", "/api/v1/images/{id}", audited(c, "image.delete", [&c](const Principal& who, const Request& req) -> Result<Response> {
          TRY(c.images().remove(who, req.params.at("id")));
          return Response::json(200, Json::object());
        }));
}

void add_desktop_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/desktops", audited(c, "desktop.create", [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto d = TRY(c.desktops().create(who, TRY(parse_create_desktop(req.body))));
          return Response::json(201, desktop_json(d));
        }));
  r.add("GET", "/api/v1/desktops", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          store::DesktopFilter filter;
          if (auto it = req.query.find("pool_id"); it != req.query.end()) filter.pool_id = it->second;
          if (auto it = req.query.find("host_id"); it != req.query.end()) filter.host_id = it->second;
          if (auto it = req.query.find("tenant_id"); it != req.query.end()) filter.tenant_id = it->second;
          return Response::json(200, json_list(TRY(c.desktops().list(who, filter)), desktop_json));
        }));
  r.add("GET", "/api/v1/desktops/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          Json j = desktop_json(TRY(c.desktops().get(who, req.params.at("id"))));
          if (auto m = c.desktops().migration(who, req.params.at("id"))) j["migration"] = migration_json(*m);
          return Response::json(200, j);
        }));
  r.add("POST", "/api/v1/desktops/{id}/actions/{action}",
        audited(c, "desktop.{action}", [&c](const Principal& who, const Request& req) -> Result<Response> {
          TRY(c.desktops().get(who, req.params.at("id")));  // another tenant's desktop is a 404 whatever the action
          const std::string& name = req.params.at("action");
          if (name == "migrate") {
            return Response::json(202, desktop_json(TRY(c.desktops().migrate(who, req.params.at("id"),
                                                                          TRY(parse_migrate(req.body))))));
          }
          if (name == "cancel-migration") {
            return Response::json(202, desktop_json(TRY(c.desktops().cancel_migration(who, req.params.at("id")))));
          }
          auto action = TRY(parse_action(name));
          return Response::json(202, desktop_json(TRY(c.desktops().act(who, req.params.at("id"), action))));
        }));
  r.add("DELETE", "/api/v1/desktops/{id}", audited(c, "desktop.delete", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(202, desktop_json(TRY(c.desktops().remove(who, req.params.at("id")))));
        }));
  r.add("GET", "/api/v1/desktops/{id}/screenshot",
        authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::bytes(200, "image/png", TRY(c.desktops().screenshot_png(who, req.params.at("id"))));
        }));
}

}  // namespace

void add_rest_routes(Router& router, Controller& controller) {
  // "leader": whether this controller runs the control loops (one of several on one database).
  router.add("GET", "/healthz", [&controller](const Request&) {
    return Response::json(200, {{"status", "ok"}, {"leader", controller.leading()}});
  });
  add_auth_routes(router, controller);
  add_host_routes(router, controller);
  add_image_routes(router, controller);
  add_desktop_routes(router, controller);
  add_broker_routes(router, controller);
  add_cluster_routes(router, controller);
}

}  // namespace oriel::api
