// The broker's routes: tenants, users, pools and entitlements, sessions,
// audit and usage (docs/api.md).
#include "parse.h"
#include "rest_support.h"
#include "views.h"

namespace oriel::api {
namespace {

using controller::Controller;
using controller::Principal;

std::string query(const Request& req, const char* key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? std::string() : it->second;
}

const std::string& id(const Request& req) { return req.params.at("id"); }

void add_tenant_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/tenants", audited(c, "tenant.create", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(201, tenant_json(TRY(c.identity().create_tenant(who, TRY(parse_create_tenant(req.body))))));
        }));
  r.add("GET", "/api/v1/tenants", authed(c, [&c](const Principal& who, const Request&) -> Result<Response> {
          return Response::json(200, json_list(TRY(c.identity().tenants(who)), tenant_json));
        }));
  r.add("GET", "/api/v1/tenants/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, tenant_json(TRY(c.identity().tenant(who, id(req)))));
        }));
  r.add("DELETE", "/api/v1/tenants/{id}", audited(c, "tenant.delete", [&c](const Principal& who, const Request& req) -> Result<Response> {
          TRY(c.identity().delete_tenant(who, id(req)));
          return Response::json(200, Json::object());
        }));
}

void add_user_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/users", audited(c, "user.create", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(201, user_json(TRY(c.identity().create_user(who, TRY(parse_create_user(req.body))))));
        }));
  r.add("GET", "/api/v1/users", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, json_list(TRY(c.identity().users(who, query(req, "tenant_id"))), user_json));
        }));
  r.add("GET", "/api/v1/users/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, user_json(TRY(c.identity().user(who, id(req)))));
        }));
  r.add("PATCH", "/api/v1/users/{id}", audited(c, "user.update", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, user_json(TRY(c.identity().update_user(who, id(req), TRY(parse_update_user(req.body))))));
        }));
  r.add("DELETE", "/api/v1/users/{id}", audited(c, "user.delete", [&c](const Principal& who, const Request& req) -> Result<Response> {
          TRY(c.identity().delete_user(who, id(req)));
          return Response::json(200, Json::object());
        }));
}

void add_pool_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/pools", audited(c, "pool.create", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(201, pool_json(TRY(c.pools().create(who, TRY(parse_create_pool(req.body))))));
        }));
  r.add("GET", "/api/v1/pools", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, json_list(TRY(c.pools().list(who, query(req, "tenant_id"))), pool_json));
        }));
  r.add("GET", "/api/v1/pools/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, pool_json(TRY(c.pools().get(who, id(req)))));
        }));
  r.add("PATCH", "/api/v1/pools/{id}", audited(c, "pool.update", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, pool_json(TRY(c.pools().update(who, id(req), TRY(parse_update_pool(req.body))))));
        }));
  r.add("DELETE", "/api/v1/pools/{id}", audited(c, "pool.delete", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(202, pool_json(TRY(c.pools().remove(who, id(req)))));
        }));
  auto entitlement = [](const std::string& pool_id, const store::UserRecord& u) {
    return Json{{"pool_id", pool_id}, {"user_id", u.id}, {"username", u.username}, {"tenant_id", u.tenant_id}};
  };
  r.add("POST", "/api/v1/pools/{id}/entitlements",
        audited(c, "pool.entitle", [&c, entitlement](const Principal& who, const Request& req) -> Result<Response> {
          auto user = TRY(c.pools().entitle(who, id(req), TRY(parse_id_field(req.body, "user_id"))));
          return Response::json(201, entitlement(id(req), user));
        }));
  r.add("GET", "/api/v1/pools/{id}/entitlements",
        authed(c, [&c, entitlement](const Principal& who, const Request& req) -> Result<Response> {
          Json out = Json::array();
          for (const auto& u : TRY(c.pools().entitlements(who, id(req)))) out.push_back(entitlement(id(req), u));
          return Response::json(200, out);
        }));
  r.add("DELETE", "/api/v1/pools/{id}/entitlements/{user_id}",
        audited(c, "pool.unentitle", [&c](const Principal& who, const Request& req) -> Result<Response> {
          TRY(c.pools().unentitle(who, id(req), req.params.at("user_id")));
          return Response::json(200, Json::object());
        }));
}

// The authority the client used, for display URLs it can reach.
std::string host_of(const Request& req) {
  auto it = req.headers.find("host");
  return it == req.headers.end() || it->second.empty() ? "127.0.0.1" : it->second;
}

Response session_response(int status, const controller::SessionView& v, const Request& req) {
  Json j = session_json(v);
  add_display_url(j, v, host_of(req));
  return Response::json(status, j);
}

void add_session_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/sessions", audited(c, "session.logon", [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto pool_id = TRY(parse_id_field(req.body, "pool_id"));
          auto view = TRY(c.sessions().logon(who, pool_id, req.remote_address));
          return session_response(view.created ? 201 : 200, view, req);
        }));
  r.add("GET", "/api/v1/sessions", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          store::SessionFilter f;
          f.pool_id = query(req, "pool_id");
          f.user_id = query(req, "user_id");
          f.tenant_id = query(req, "tenant_id");
          f.include_ended = query(req, "include_ended") == "true";
          return Response::json(200, json_list(TRY(c.sessions().list(who, f)), session_json));
        }));
  r.add("GET", "/api/v1/sessions/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, session_json(TRY(c.sessions().get(who, id(req)))));
        }));
  r.add("POST", "/api/v1/sessions/{id}/tickets", audited(c, "session.ticket", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return session_response(201, TRY(c.sessions().new_ticket(who, id(req))), req);
        }));
  r.add("POST", "/api/v1/sessions/{id}/actions/disconnect",
        audited(c, "session.disconnect", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, session_json(TRY(c.sessions().disconnect(who, id(req)))));
        }));
  r.add("DELETE", "/api/v1/sessions/{id}", audited(c, "session.logoff", [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(202, session_json(TRY(c.sessions().logoff(who, id(req)))));
        }));
}

void add_report_routes(Router& r, Controller& c) {
  r.add("GET", "/api/v1/audit", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto filter = TRY(parse_audit_query(req.query));
          int64_t limit = filter.limit;
          filter.limit += 1;  // one more says whether there is a next page
          auto events = TRY(c.audit().events(who, filter));
          Json next = nullptr;
          if (static_cast<int64_t>(events.size()) > limit) {
            events.resize(static_cast<size_t>(limit));
            next = events.back().seq;
          }
          return Response::json(200, {{"events", json_list(events, audit_json)}, {"next_before", next}});
        }));
  r.add("GET", "/api/v1/usage", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          controller::UsageQuery q{query(req, "from"), query(req, "to"), query(req, "tenant_id")};
          std::string format = query(req, "format");
          if (!format.empty() && format != "json" && format != "csv") {
            return Error::InvalidArgument(fmt::format("format '{}' is not json or csv", format));
          }
          auto report = TRY(c.audit().usage(who, q));
          if (format == "csv") return Response::bytes(200, "text/csv; charset=utf-8", usage_csv(report));
          return Response::json(200, usage_json(report));
        }));
}

}  // namespace

void add_broker_routes(Router& router, Controller& c) {
  add_tenant_routes(router, c);
  add_user_routes(router, c);
  add_pool_routes(router, c);
  add_session_routes(router, c);
  add_report_routes(router, c);
}

}  // namespace oriel::api
