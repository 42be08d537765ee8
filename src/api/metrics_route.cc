// GET /metrics: Prometheus text format. The process's counters and
// histograms (metrics::registry(): HTTP, logons, migrations, the display
// gateway, the reconciler) and, made at each scrape from the controller,
// the state: desktops, sessions, pools, hosts, image imports.
#include <arpa/inet.h>

#include "oriel/api/rest.h"
#include "oriel/common/metrics.h"
#include "oriel/common/secret.h"

namespace oriel::api {
namespace {

using controller::Controller;
using controller::Principal;
using net::Request;
using net::Response;

bool loopback(const std::string& address) {
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, address.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

double seconds_since(WallTime t, WallTime now) { return std::chrono::duration<double>(now - t).count(); }

Result<std::vector<prometheus::MetricFamily>> state(Controller& c) {
  const Principal system{"", "metrics", "admin", ""};  // sees every tenant; reads only
  metrics::Snapshot s;
  auto now = std::chrono::system_clock::now();
  s.set("oriel_leader", "1 when this controller runs the control loops", {}, c.leading() ? 1 : 0);

  for (const auto& d : TRY(c.desktops().list(system, {}))) {
    s.add("oriel_desktops", "Desktops by tenant, pool and state",
          {{"tenant", d.tenant_id}, {"pool", d.pool_id}, {"state", d.state}}, 1);
  }
  for (const auto& v : TRY(c.sessions().list(system, {}))) {
    s.add("oriel_sessions", "Open sessions by tenant and state",
          {{"tenant", v.session.tenant_id}, {"state", v.session.state}}, 1);
  }
  for (const auto& p : TRY(c.pools().list(system, ""))) {
    metrics::Labels pool = {{"tenant", p.pool.tenant_id}, {"pool", p.pool.id}, {"name", p.pool.name}};
    s.set("oriel_pool_size", "Desktops a pool may hold", pool, static_cast<double>(p.pool.size));
    s.set("oriel_pool_assigned", "A pool's desktops assigned to users", pool, static_cast<double>(p.assigned));
    s.set("oriel_pool_running_free", "A pool's free desktops already running (a logon needs no boot)", pool,
          static_cast<double>(p.running_free));
    // Spares a pool wants and lacks, within its size: logons that would wait for a boot.
    double room = static_cast<double>(std::max<int64_t>(0, p.pool.size - p.assigned));
    double wanted = std::min(static_cast<double>(p.pool.spare), room);
    s.set("oriel_pool_spare_shortfall", "Spare desktops a pool wants running and does not have", pool,
          std::max(0.0, wanted - static_cast<double>(p.running_free)));
  }
  for (const auto& h : TRY(c.hosts().list(system))) {
    metrics::Labels host = {{"host", h.host.name}};
    s.set("oriel_host_up", "1 for a host in state ready, 0 otherwise", host, h.host.state == "ready" ? 1 : 0);
    s.set("oriel_host_cpus", "A host's CPUs", host, static_cast<double>(h.host.cpus));
    s.set("oriel_host_memory_bytes", "A host's memory", host, static_cast<double>(h.host.memory_mb) * 1048576);
    s.set("oriel_host_vcpus_allocated", "vCPUs of the desktops meant to run on a host", host,
          static_cast<double>(h.cpus_allocated));
    s.set("oriel_host_memory_allocated_bytes", "Memory of the desktops meant to run on a host", host,
          static_cast<double>(h.memory_allocated_mb) * 1048576);
    s.set("oriel_host_desktops", "Desktops placed on a host", host, static_cast<double>(h.desktops));
    if (!h.host.address.empty()) {  // the embedded agent sends no heartbeats: it is this process
      s.set("oriel_host_heartbeat_age_seconds", "Time since a host's agent was last heard from", host,
            seconds_since(h.host.last_heartbeat_at, now));
    }
  }
  for (const auto& i : TRY(c.images().list(system))) {
    if (i.state != "importing") continue;
    s.set("oriel_image_import_progress_ratio", "An image import's progress, 0 to 1",
          {{"image", i.id}, {"name", i.name}}, i.progress / 100);
  }
  return s.take();
}

}  // namespace

void add_metrics_route(net::Router& router, Controller& controller, std::string token) {
  router.add("GET", "/metrics", [&controller, token = std::move(token)](const Request& r) {
    // A token when one is set (Prometheus sends it as a bearer token); else
    // only from this machine.
    bool allowed = token.empty() ? loopback(r.remote_address) : secrets_equal(r.bearer_token(), token);
    if (!allowed) {
      return Response::error(token.empty() ? Error::PermissionDenied("/metrics answers on loopback only; set "
                                                                     "--metrics-token to scrape it from elsewhere")
                                           : Error::Unauthenticated("/metrics needs its bearer token"));
    }
    auto families = state(controller);
    if (!families.ok()) return Response::error(families.error());
    return Response::bytes(200, "text/plain; version=0.0.4; charset=utf-8", metrics::scrape(std::move(*families)));
  });
}

}  // namespace oriel::api
