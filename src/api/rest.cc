#include "oriel/api/rest.h"

#include "landing.h"
#include "parse.h"
#include "views.h"

namespace oriel::api {
namespace {

using controller::Controller;
using controller::Principal;

// Wraps a handler that needs a logged-in caller.
Handler authed(Controller& c, std::function<Result<Response>(const Principal&, const Request&)> fn) {
  return [&c, fn = std::move(fn)](const Request& req) {
    auto who = c.authenticate(req.bearer_token());
    if (!who.ok()) return Response::error(who.error());
    auto r = fn(*who, req);
    return r.ok() ? std::move(r).value() : Response::error(r.error());
  };
}

template <typename T, typename F>
Json json_list(const std::vector<T>& items, F render) {
  Json out = Json::array();
  for (const auto& item : items) out.push_back(render(item));
  return out;
}

void add_auth_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/auth/login", [&c](const Request& req) {
    auto creds = parse_login(req.body);
    if (!creds.ok()) return Response::error(creds.error());
    auto login = c.login(creds->username, creds->password);
    if (!login.ok()) return Response::error(login.error());
    return Response::json(200, {{"token", login->token}, {"expires_at", format_rfc3339(login->expires_at)}});
  });
  r.add("POST", "/api/v1/auth/logout", authed(c, [&c](const Principal&, const Request& req) -> Result<Response> {
          TRY(c.logout(req.bearer_token()));
          return Response::json(200, Json::object());
        }));
}

void add_host_routes(Router& r, Controller& c) {
  r.add("GET", "/api/v1/hosts", authed(c, [&c](const Principal&, const Request&) -> Result<Response> {
          return Response::json(200, json_list(TRY(c.hosts()), host_json));
        }));
}

void add_image_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/images", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto image = TRY(c.create_image(who, TRY(parse_create_image(req.body))));
          return Response::json(202, image_json(image));
        }));
  r.add("GET", "/api/v1/images", authed(c, [&c](const Principal&, const Request&) -> Result<Response> {
          return Response::json(200, json_list(TRY(c.images()), image_json));
        }));
  r.add("GET", "/api/v1/images/{id}", authed(c, [&c](const Principal&, const Request& req) -> Result<Response> {
          return Response::json(200, image_json(TRY(c.image(req.params.at("id")))));
        }));
  r.add("DELETE", "/api/v1/images/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          TRY(c.delete_image(who, req.params.at("id")));
          return Response::json(200, Json::object());
        }));
}

void add_desktop_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/desktops", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto d = TRY(c.create_desktop(who, TRY(parse_create_desktop(req.body))));
          return Response::json(201, desktop_json(d));
        }));
  r.add("GET", "/api/v1/desktops", authed(c, [&c](const Principal&, const Request& req) -> Result<Response> {
          store::DesktopFilter filter;
          if (auto it = req.query.find("pool_id"); it != req.query.end()) filter.pool_id = it->second;
          if (auto it = req.query.find("host_id"); it != req.query.end()) filter.host_id = it->second;
          return Response::json(200, json_list(TRY(c.desktops(filter)), desktop_json));
        }));
  r.add("GET", "/api/v1/desktops/{id}", authed(c, [&c](const Principal&, const Request& req) -> Result<Response> {
          return Response::json(200, desktop_json(TRY(c.desktop(req.params.at("id")))));
        }));
  r.add("POST", "/api/v1/desktops/{id}/actions/{action}",
        authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto action = TRY(parse_action(req.params.at("action")));
          return Response::json(202, desktop_json(TRY(c.desktop_action(who, req.params.at("id"), action))));
        }));
  r.add("DELETE", "/api/v1/desktops/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(202, desktop_json(TRY(c.delete_desktop(who, req.params.at("id")))));
        }));
  r.add("GET", "/api/v1/desktops/{id}/screenshot",
        authed(c, [&c](const Principal&, const Request& req) -> Result<Response> {
          return Response::bytes(200, "image/png", TRY(c.screenshot_png(req.params.at("id"))));
        }));
}

}  // namespace

void add_rest_routes(Router& router, Controller& controller) {
  router.add("GET", "/healthz", [](const Request&) { return Response::json(200, {{"status", "ok"}}); });
  add_landing_page(router);
  add_auth_routes(router, controller);
  add_host_routes(router, controller);
  add_image_routes(router, controller);
  add_desktop_routes(router, controller);
}

}  // namespace oriel::api
