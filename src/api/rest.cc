#include "oriel/api/rest.h"

#include <algorithm>
#include <cctype>

#include "openapi.h"
#include "parse.h"
#include "rest_support.h"
#include "views.h"

#include "oriel/common/metrics.h"
#include "oriel/common/utf8.h"
#include "oriel/net/client.h"

namespace oriel::api {

using controller::Controller;
using controller::Principal;

Handler authed(Controller& c, AuthedHandler fn) {
  return [&c, fn = std::move(fn)](const Request& req) {
    auto who = c.identity().authenticate(req.bearer_token());
    if (!who.ok()) return Response::error(who.error());
    auto r = fn(*who, req);
    Response res = r.ok() ? std::move(r).value() : Response::error(r.error());
    res.authenticated = true;
    return res;
  };
}

namespace {

// At most `max` bytes of `text`, not cutting a UTF-8 sequence in two.
std::string cut_utf8(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  return text.substr(0, utf8_cut(text, max)) + "…";
}

}  // namespace

void record_audit(Controller& c, std::string_view action, const Request& req, const Principal* who,
                  const Result<Answer>& answer, std::string_view target) {
  store::AuditEvent e;
  e.action = std::string(action);
  if (auto at = e.action.find("{action}"); at != std::string::npos && req.params.count("action")) {
    e.action.replace(at, 8, req.params.at("action").substr(0, 50));
  }
  e.address = req.remote_address;
  if (who) {
    e.user_id = who->user_id;
    e.username = who->username;
    e.tenant_id = who->tenant_id;
  }
  e.target = std::string(target);
  if (auto it = req.params.find("id"); e.target.empty() && it != req.params.end()) e.target = it->second;
  if (answer.ok()) {
    e.status = answer->response.status;
    e.result = answer->result;
    e.detail = answer->detail;
    if (e.target.empty()) e.target = answer->target;
    if (!answer->tenant_id.empty()) e.tenant_id = answer->tenant_id;
  } else {
    e.status = net::http_status(answer.error().code());
    e.result = std::string(answer.error().code_name());
    e.detail = answer.error().message();
  }
  if (action.starts_with("tenant.") && e.status < 300) e.tenant_id = e.target;  // the tenant is its own
  // What a client chose (an id in the URL, a name) is cut: a row stays small.
  e.target = cut_utf8(e.target, kAuditTargetMax);
  e.detail = cut_utf8(e.detail, kAuditDetailMax);
  c.audit().append(std::move(e));
}

bool RefusalSampler::due(const std::string& address, std::chrono::steady_clock::time_point now, int64_t& count) {
  std::lock_guard lock(mu_);
  if (seen_.size() >= kMaxAddresses) {
    std::erase_if(seen_, [&](const auto& entry) { return now - entry.second.reported >= kInterval; });
  }
  auto [it, first] = seen_.try_emplace(address);
  ++it->second.pending;
  if (!first && now - it->second.reported < kInterval) return false;
  count = std::exchange(it->second.pending, 0);
  it->second.reported = now;
  return true;
}

namespace {

// A refusal that costs its sender nothing (no token, a throttled login) is
// audited once per client address and minute, saying how many there were,
// rather than once each (security probe #33).
void audit_sampled(Controller& c, RefusalSampler& sampler, std::string_view action, const Request& req,
                   const Principal* who, const Error& refused, std::string_view target = {}) {
  int64_t count = 0;
  if (!sampler.due(req.remote_address, std::chrono::steady_clock::now(), count)) return;
  Result<Answer> summary = Error(refused.code(), fmt::format("{} request(s) refused from this address since the "
                                                             "last such event: {}",
                                                             count, refused.message()));
  record_audit(c, action, req, who, summary, target);
}

}  // namespace

Handler audited(Controller& c, std::string action, AuditedHandler fn) {
  return [&c, action = std::move(action), fn = std::move(fn)](const Request& req) {
    auto who = c.identity().authenticate(req.bearer_token());
    if (!who.ok()) {
      // Refused before anyone is known: counted and sampled, so that a
      // stranger cannot fill the append-only audit log.
      static auto& refused =
          metrics::counter("oriel_refused_requests_total", "Requests to audited routes refused before authentication");
      static RefusalSampler sampler;
      refused.Add({{"action", action}}).Increment();
      audit_sampled(c, sampler, action, req, nullptr, who.error());
      return Response::error(who.error());
    }
    Result<Answer> answer = fn(*who, req);
    record_audit(c, action, req, &*who, answer);
    Response res = answer.ok() ? std::move(answer->response) : Response::error(answer.error());
    res.authenticated = true;
    return res;
  };
}

namespace {

// Whether the body is declared JSON: "application/json", any case, with or
// without parameters such as charset.
bool is_json_request(const Request& req) {
  auto type = req.headers.find("content-type");
  if (type == req.headers.end()) return false;
  std::string media = type->second.substr(0, type->second.find(';'));
  media.erase(media.find_last_not_of(" \t") + 1);
  std::transform(media.begin(), media.end(), media.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return media == "application/json";
}

const std::string& id(const Request& req) { return req.params.at("id"); }

Response agent_certificate(const Result<controller::AgentCertificate>& issued) {
  if (!issued.ok()) return Response::error(issued.error());
  return Response::json(200, {{"certificate", issued->certificate_pem}, {"ca", issued->ca_pem}});
}

// The cluster's PKI and heartbeats. The CA is public; join tokens are for
// admins; an agent joins with a join token and renews, and heartbeats, with
// its host's certificate (or the deprecated cluster token).
void add_cluster_routes(Router& r, Controller& c) {
  r.add("GET", "/api/v1/cluster/ca",
        [&c](const Request&) { return Response::bytes(200, "application/x-pem-file", c.hosts().ca_pem()); });
  r.add("POST", "/api/v1/cluster/join-tokens",
        audited(c, "cluster.join_token", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          auto ttl = TRY(parse_join_token(req.body));
          auto t = TRY(c.hosts().create_join_token(who, ttl));
          return Answer::done(201,
                              {{"token", t.token}, {"ca_pin", t.ca_pin}, {"expires_at", format_rfc3339(t.expires_at)}});
        }));
  r.add("POST", "/api/v1/cluster/join", [&c](const Request& req) {
    auto join = parse_join(req.body);
    if (!join.ok()) return Response::error(join.error());
    return agent_certificate(c.hosts().join(join->token, join->host_name, join->address, join->csr));
  });
  r.add("POST", "/api/v1/cluster/renew", [&c](const Request& req) {
    auto renew = parse_renew(req.body);
    if (!renew.ok()) return Response::error(renew.error());
    return agent_certificate(c.hosts().renew(req.client_certificate, renew->address, renew->csr));
  });
  r.add("POST", "/api/v1/cluster/heartbeat", [&c](const Request& req) {
    auto body = parse_json(req.body);
    if (!body.ok()) return Response::error(body.error());
    auto hello = agent::agent_hello_from_json(*body);
    if (!hello.ok()) return Response::error(hello.error());
    auto answer = c.hosts().heartbeat(req.bearer_token(), req.client_certificate, *hello);
    if (!answer.ok()) return Response::error(answer.error());
    return Response::json(200,
                          {{"host_id", answer->host_id}, {"lease_ms", answer->lease.count()}, {"leader", c.leading()}});
  });
}

void add_auth_routes(Router& r, Controller& c) {
  r.add(
      "POST", "/api/v1/auth/login",
      [&c](const Request& req) {
        // JSON only: a form or text/plain body is a "simple" request that any
        // web page can send without asking (no CORS preflight), which would let
        // a stranger's page guess passwords through a visitor's browser.
        if (!is_json_request(req)) {
          return net::http_error(415, "unsupported_media_type",
                                 "log in with a JSON body (Content-Type: application/json)");
        }
        auto creds = parse_login(req.body);
        if (!creds.ok()) return Response::error(creds.error());
        // Who tried: the name as typed, cut short so junk cannot bloat the log.
        Principal tried;
        tried.username = creds->username.substr(0, 200);
        Result<Answer> answer = [&]() -> Result<Answer> {
          auto login = TRY(c.identity().login(creds->username, creds->password, req.remote_address));
          return Answer::done(200, {{"token", login.token}, {"expires_at", format_rfc3339(login.expires_at)}});
        }();
        if (!answer.ok() && answer.error().code() == ErrorCode::kRateLimited) {
          // Throttled attempts cost nothing to make: like refusals before
          // authentication, they are counted and sampled, not each audited.
          static auto& throttled =
              metrics::counter("oriel_login_throttled_total", "Login attempts refused by throttling");
          static RefusalSampler sampler;
          throttled.Add({}).Increment();
          audit_sampled(c, sampler, "auth.login", req, &tried, answer.error(), tried.username);
        } else {
          record_audit(c, "auth.login", req, &tried, answer, tried.username);
        }
        return answer.ok() ? std::move(answer->response) : Response::error(answer.error());
      },
      net::Lane::kBounded);
  r.add("POST", "/api/v1/auth/logout",
        audited(c, "auth.logout", [&c](const Principal&, const Request& req) -> Result<Answer> {
          TRY(c.identity().logout(req.bearer_token()));
          return Answer::done(200);
        }));
  r.add("GET", "/api/v1/auth/me", authed(c, [&c](const Principal& who, const Request&) -> Result<Response> {
          return Response::json(200, view::User::of(TRY(c.identity().user(who, who.user_id))).json());
        }));
}

void add_host_routes(Router& r, Controller& c) {
  r.add("GET", "/api/v1/hosts", authed(c, [&c](const Principal& who, const Request&) -> Result<Response> {
          return Response::json(200, view::list<view::Host>(TRY(c.hosts().list(who))));
        }));
  r.add("DELETE", "/api/v1/hosts/{id}",
        audited(c, "host.remove", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          TRY(c.hosts().remove(who, id(req)));
          return Answer::done(200);
        }));
  r.add("POST", "/api/v1/hosts/{id}/actions/{action}",
        audited(c, "host.{action}", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          auto action = TRY(parse_host_action(req.params.at("action")));
          return Answer::of(202, view::Host::of(TRY(c.hosts().act(who, id(req), action))));
        }));
}

void add_image_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/images",
        audited(c, "image.create", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(202, view::Image::of(TRY(c.images().create(who, TRY(parse_create_image(req.body))))));
        }));
  r.add("GET", "/api/v1/images", authed(c, [&c](const Principal& who, const Request&) -> Result<Response> {
          return Response::json(200, view::list<view::Image>(TRY(c.images().list(who))));
        }));
  r.add("GET", "/api/v1/images/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::json(200, view::Image::of(TRY(c.images().get(who, id(req)))).json());
        }));
  r.add("PATCH", "/api/v1/images/{id}",
        audited(c, "image.update", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          auto cmd = TRY(parse_update_image(req.body));
          return Answer::of(200, view::Image::of(TRY(c.images().update(who, id(req), cmd))));
        }));
  r.add("DELETE", "/api/v1/images/{id}",
        audited(c, "image.delete", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          TRY(c.images().remove(who, id(req)));
          return Answer::done(200);
        }));
}

// POST /api/v1/desktops/{id}/actions/{action}: one read of the desktop
// (inside the controller) for a valid action.
Result<Answer> desktop_action(Controller& c, const Principal& who, const Request& req) {
  const std::string& name = req.params.at("action");
  auto& desktops = c.desktops();
  if (name == "migrate") {
    return Answer::of(202, view::Desktop::of(TRY(desktops.migrate(who, id(req), TRY(parse_migrate(req.body))))));
  }
  if (name == "cancel-migration")
    return Answer::of(202, view::Desktop::of(TRY(desktops.cancel_migration(who, id(req)))));
  auto action = parse_action(name);
  if (!action.ok()) {
    TRY(desktops.get(who, id(req)));  // another tenant's desktop is a 404 whatever the action
    return action.error();
  }
  return Answer::of(202, view::Desktop::of(TRY(desktops.act(who, id(req), *action))));
}

void add_desktop_routes(Router& r, Controller& c) {
  r.add("POST", "/api/v1/desktops",
        audited(c, "desktop.create", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(201, view::Desktop::of(TRY(c.desktops().create(who, TRY(parse_create_desktop(req.body))))));
        }));
  r.add("GET", "/api/v1/desktops", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          store::DesktopFilter filter;
          if (auto it = req.query.find("pool_id"); it != req.query.end()) filter.pool_id = it->second;
          if (auto it = req.query.find("host_id"); it != req.query.end()) filter.host_id = it->second;
          if (auto it = req.query.find("tenant_id"); it != req.query.end()) filter.tenant_id = it->second;
          return Response::json(200, view::list<view::Desktop>(TRY(c.desktops().list(who, filter))));
        }));
  r.add("GET", "/api/v1/desktops/{id}", authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          auto v = view::Desktop::of(TRY(c.desktops().get(who, id(req))));
          if (auto m = c.desktops().migration(who, id(req))) v.migration = view::Migration::of(*m);
          return Response::json(200, v.json());
        }));
  r.add("POST", "/api/v1/desktops/{id}/actions/{action}",
        audited(c, "desktop.{action}",
                [&c](const Principal& who, const Request& req) { return desktop_action(c, who, req); }));
  r.add("DELETE", "/api/v1/desktops/{id}",
        audited(c, "desktop.delete", [&c](const Principal& who, const Request& req) -> Result<Answer> {
          return Answer::of(202, view::Desktop::of(TRY(c.desktops().remove(who, id(req)))));
        }));
  r.add("GET", "/api/v1/desktops/{id}/screenshot",
        authed(c, [&c](const Principal& who, const Request& req) -> Result<Response> {
          return Response::bytes(200, "image/png", TRY(c.desktops().screenshot_png(who, id(req))));
        }));
}

}  // namespace

namespace {

// "wss://HOST[:PORT][/PREFIX]" of the public URL (ws:// for http://), the
// port left out when it is the scheme's own; empty without one.
std::string public_websocket(const std::string& public_url) {
  auto url = net::parse_server_url(public_url);
  if (public_url.empty() || !url.ok()) return {};
  bool default_port = url->port == (url->tls ? 443 : 80);
  std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
  return fmt::format("{}://{}{}", url->tls ? "wss" : "ws", default_port ? host : url->authority(), url->path_prefix);
}

}  // namespace

void add_rest_routes(Router& router, Controller& controller, const RestOptions& options) {
  // "leader": whether this controller runs the control loops (one of several on one database).
  router.add("GET", "/healthz", [&controller](const Request&) {
    return Response::json(200, {{"status", "ok"}, {"leader", controller.leading()}});
  });
  // The API's own description (docs/openapi.json): no sign-in, as the docs are public.
  router.add("GET", "/api/v1/openapi.json",
             [](const Request&) { return Response::bytes(200, "application/json", std::string(openapi_document())); });
  add_auth_routes(router, controller);
  add_host_routes(router, controller);
  add_image_routes(router, controller);
  add_desktop_routes(router, controller);
  add_broker_routes(router, controller, public_websocket(options.public_url));
  add_cluster_routes(router, controller);
}

}  // namespace oriel::api
