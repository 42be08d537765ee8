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
  r.add("POST", "/api/v1/tenants",
        audited(c, "tenant.create", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(
              201, view::Tenant::of({TRY(c.identity().create_tenant(who, TRY(parse_create_tenant(req.body)))), {}}));
        }));
  r.add("GET", "/api/v1/tenants", authed(c, [&c](const Principal& who, const Request&) -> Result<Response> {
          return Response::json(200, view::list<view::Tenant>(TRY(c.identity().tenants(who))));
        }));
  r.add("GET", "/api/v1/tenants/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, view::Tenant::of(TRY(c.identity().tenant(who, id(req)))).json());
        }));
  r.add("PATCH", "/api/v1/tenants/{id}",
        audited(c, "tenant.update", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          auto patch = TRY(parse_tenant_patch(req.body));
          std::optional<controller::TenantView> changed;
          if (patch.quota) changed = TRY(c.identity().set_quota(who, id(req), *patch.quota));
          if (patch.audit) changed = TRY(c.identity().set_audit_policy(who, id(req), *patch.audit));
          return Answer::of(200, view::Tenant::of(*changed));
        }));
  r.add("DELETE", "/api/v1/tenants/{id}",
        audited(c, "tenant.delete", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          TRY(c.identity().delete_tenant(who, id(req)));
          return Answer::done(200);
        }));
}

void add_user_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/users",
        audited(c, "user.create", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(201, view::User::of(TRY(c.identity().create_user(who, TRY(parse_create_user(req.body))))));
        }));
  r.add("GET", "/api/v1/users", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, view::list<view::User>(TRY(c.identity().users(who, query(req, "tenant_id")))));
        }));
  r.add("GET", "/api/v1/users/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, view::User::of(TRY(c.identity().user(who, id(req)))).json());
        }));
  r.add("PATCH", "/api/v1/users/{id}",
        audited(c, "user.update", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          auto cmd = TRY(parse_update_user(req.body));
          cmd.keep_token = req.bearer_token();  // a user changing their own password stays signed in here
          return Answer::of(200, view::User::of(TRY(c.identity().update_user(who, id(req), std::move(cmd)))));
        }));
  r.add("DELETE", "/api/v1/users/{id}",
        audited(c, "user.delete", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          TRY(c.identity().delete_user(who, id(req)));
          return Answer::done(200);
        }));
}

void add_pool_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/pools",
        audited(c, "pool.create", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(201, view::Pool::of(TRY(c.pools().create(who, TRY(parse_create_pool(req.body))))));
        }));
  r.add("GET", "/api/v1/pools", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, view::list<view::Pool>(TRY(c.pools().list(who, query(req, "tenant_id")))));
        }));
  r.add("GET", "/api/v1/pools/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, view::Pool::of(TRY(c.pools().get(who, id(req)))).json());
        }));
  r.add("PATCH", "/api/v1/pools/{id}",
        audited(c, "pool.update", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(200, view::Pool::of(TRY(c.pools().update(who, id(req), TRY(parse_update_pool(req.body))))));
        }));
  r.add("DELETE", "/api/v1/pools/{id}",
        audited(c, "pool.delete", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(202, view::Pool::of(TRY(c.pools().remove(who, id(req)))));
        }));
  r.add("POST", "/api/v1/pools/{id}/entitlements",
        audited(c, "pool.entitle", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          auto user = TRY(c.pools().entitle(who, id(req), TRY(parse_id_field(req.body, "user_id"))));
          auto v = view::Entitlement::of(id(req), user);
          return Answer{Response::json(201, v.json()), "", v.tenant_id};
        }));
  r.add("GET", "/api/v1/pools/{id}/entitlements",
        authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          Json out = Json::array();
          for (const auto& u : TRY(c.pools().entitlements(who, id(req))))
            out.push_back(view::Entitlement::of(id(req), u).json());
          return Response::json(200, out);
        }));
  r.add("DELETE", "/api/v1/pools/{id}/entitlements/{user_id}",
        audited(c, "pool.unentitle", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          TRY(c.pools().unentitle(who, id(req), req.params.at("user_id")));
          return Answer::done(200);
        }));
}

// The WebSocket origin the client can reach: the public URL's when orield
// has one (--public-url), else as the browser reached us, which is the only
// origin its display socket passes the origin check from: wss:// over TLS
// (or behind a trusted proxy that ended TLS), and the Host it used, once
// that is checked to be a host and port and nothing else.
Result<std::string> websocket_base(const Request& req, const std::string& public_websocket) {
  if (!public_websocket.empty()) return public_websocket;
  auto it = req.headers.find("host");
  if (it == req.headers.end() || !is_host_and_port(it->second)) {
    return Error::InvalidArgument("the Host header is not a host name and port: orield needs one (or --public-url)");
  }
  return (req.secure ? "wss://" : "ws://") + it->second;
}

void add_session_routes(Router& r, Controller& c, const std::string& public_websocket) {
  r.add("POST", "/api/v1/sessions",
        audited(c, "session.logon", [&c, public_websocket](const Principal& who, const Request& req) -> Result<Answer> {
          auto pool_id = TRY(parse_id_field(req.body, "pool_id"));
          auto base = TRY(websocket_base(req, public_websocket));  // before the logon: a refusal changes nothing
          auto session = TRY(c.sessions().logon(who, pool_id, req.remote_address));
          return Answer::of(session.created ? 201 : 200, view::Session::of(session, base));
        }));
  r.add("GET", "/api/v1/sessions", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          store::SessionFilter f;
          f.pool_id = query(req, "pool_id");
          f.user_id = query(req, "user_id");
          f.tenant_id = query(req, "tenant_id");
          f.include_ended = query(req, "include_ended") == "true";
          return Response::json(200, view::list<view::Session>(TRY(c.sessions().list(who, f))));
        }));
  r.add("GET", "/api/v1/sessions/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, view::Session::of(TRY(c.sessions().get(who, id(req)))).json());
        }));
  r.add(
      "POST", "/api/v1/sessions/{id}/tickets",
      audited(c, "session.ticket", [&c, public_websocket](const Principal& who, const Request& req) -> Result<Answer> {
        auto base = TRY(websocket_base(req, public_websocket));
        return Answer::of(201, view::Session::of(TRY(c.sessions().new_ticket(who, id(req))), base));
      }));
  r.add("POST", "/api/v1/sessions/{id}/actions/disconnect",
        audited(c, "session.disconnect", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(200, view::Session::of(TRY(c.sessions().disconnect(who, id(req)))));
        }));
  r.add("DELETE", "/api/v1/sessions/{id}",
        audited(c, "session.logoff", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(202, view::Session::of(TRY(c.sessions().logoff(who, id(req)))));
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
          return Response::json(200, {{"events", view::list<view::AuditEvent>(events)}, {"next_before", next}});
        }));
  r.add("GET", "/api/v1/audit/archives", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          std::optional<std::string> tenant;
          if (auto it = req.query.find("tenant_id"); it != req.query.end()) tenant = it->second;
          Json out = Json::array();
          for (const auto& a : TRY(c.audit().archives(who, tenant))) out.push_back(view::audit_archive_json(a));
          return Response::json(200, out);
        }));
  r.add("GET", "/api/v1/usage", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          controller::UsageQuery q{query(req, "from"), query(req, "to"), query(req, "tenant_id")};
          std::string format = query(req, "format");
          if (!format.empty() && format != "json" && format != "csv") {
            return Error::InvalidArgument(fmt::format("format '{}' is not json or csv", format));
          }
          auto report = TRY(c.audit().usage(who, q));
          if (format == "csv") return Response::bytes(200, "text/csv; charset=utf-8", view::usage_csv(report));
          return Response::json(200, view::usage_json(report));
        }));
}

}  // namespace

void add_broker_routes(Router& router, Controller& c, const std::string& public_websocket) {
  add_tenant_routes(router, c);
  add_user_routes(router, c);
  add_pool_routes(router, c);
  add_session_routes(router, c, public_websocket);
  add_report_routes(router, c);
}

}  // namespace oriel::api
