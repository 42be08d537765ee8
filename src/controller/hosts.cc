// The fleet's hosts: heartbeats from remote agents, hosts declared down when
// they fall silent, new hosts for the desktops of a host that is down, live
// migration, and maintenance (a host drained by live migration).
#include "oriel/controller/hosts.h"

#include "access.h"
#include "checks.h"
#include "cluster_pki.h"
#include "desktop_state.h"
#include "loops.h"
#include "migrations.h"
#include "oriel/common/log.h"
#include "oriel/common/secret.h"
#include "ticker.h"

namespace oriel::controller {
namespace {

// Moves a host's desktops away: running ones by live migration (a few at a
// time), stopped ones with their record when the other host sees their disk.
void drain(Core& core, const store::HostRecord& host);

}  // namespace

Result<std::vector<HostView>> Hosts::list(const Principal& who) {
  TRY(require_admin(who));
  auto hosts = TRY(core_.store.hosts());
  auto desktops = TRY(core_.store.desktops({}));
  std::vector<HostView> views;
  for (auto& h : hosts) {
    HostView v{std::move(h)};
    for (const auto& d : desktops) {
      if (d.host_id != v.host.id) continue;
      ++v.desktops;
      if (d.desired == "running") {
        v.cpus_allocated += d.vcpus;
        v.memory_allocated_mb += d.memory_mb;
      }
    }
    views.push_back(std::move(v));
  }
  return views;
}

Result<HeartbeatAnswer> Hosts::heartbeat(std::string_view cluster_token, const PeerCertificate& peer,
                                         const agent::AgentHello& hello) {
  const ControllerOptions& o = core_.options;
  if (!peer.fingerprint.empty()) {
    std::string certified = TRY(certified_host(core_, peer));
    if (certified != hello.report.name) {
      return Error::PermissionDenied(
          fmt::format("this certificate is host '{}''s, not '{}''s", certified, hello.report.name));
    }
  } else if (o.cluster_token.empty() || !secrets_equal(cluster_token, o.cluster_token)) {
    return Error::Unauthenticated(o.cluster_token.empty()
                                      ? "this needs a host's certificate: join with 'orield --roles agent "
                                        "--join-token T --ca-pin P'"
                                      : "this needs a host's certificate or the cluster token");
  }
  TRY(check_name("host", hello.report.name));
  std::string id = host_id_for(hello.report.name);
  if (id == core_.host_id)
    return Error::Conflict(fmt::format("host name '{}' is this controller's own", hello.report.name));
  store::HostRecord host{id,
                         hello.report.name,
                         "ready",
                         std::string(agent::accelerator_name(hello.report.accelerator)),
                         hello.report.cpus,
                         hello.report.memory_mb,
                         hello.url,
                         core_.clock.now()};
  auto old = core_.store.host(id);
  if (old.ok()) {
    // Maintenance is the administrator's to end; a host that was down and
    // speaks again has fenced itself meanwhile and is ready again.
    if (old->state == "maintenance") host.state = old->state;
    if (old->state == "down") spdlog::warn("host {} ({}) is back", id, host.name);
  } else {
    spdlog::info("host {} ({}) joined at {}: {} CPUs, {} MiB, {}", id, host.name, hello.url, host.cpus, host.memory_mb,
                 host.accelerator);
  }
  TRY(core_.store.upsert_host(host));
  core_.fleet.heard(id, hello);
  core_.poke_desktops();
  return HeartbeatAnswer{id, o.host_lease};
}

void watch_hosts(Core& core) {
  auto hosts = core.store.hosts();
  if (!hosts.ok()) return;
  auto now = core.clock.now();
  for (auto host : *hosts) {
    if (host.state == "maintenance") drain(core, host);
    bool remote = !host.address.empty();
    if (!remote || host.state == "down" ||
        now - host.last_heartbeat_at < core.options.host_lease + core.options.host_grace) {
      continue;
    }
    auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - host.last_heartbeat_at);
    spdlog::error("host {} ({}) has been silent for {:.1f} s: declared down; its desktops start on other hosts",
                  host.id, host.name, silent.count() / 1000.0);
    host.state = "down";
    if (auto r = core.store.upsert_host(host); !r.ok()) spdlog::warn("host {}: {}", host.id, r.error().message());
    core.poke_desktops();
  }
}

Result<std::string> relocate(Core& core, const store::DesktopRecord& d) {
  std::lock_guard lock(core.placement.mutex());
  auto loads = TRY(core.placement.loads());
  // Its allocation still counts on the dead host; the new host must have
  // room for it on top of what it runs.
  auto host = TRY(core.placement.scheduler().place(loads, {d.vcpus, d.memory_mb}));
  // A connected display follows (it reconnects once the desktop has booted there).
  core.desktop_moved(d.id, host);
  return host;
}

Result<HostView> Hosts::act(const Principal& who, std::string_view id, HostAction action) {
  TRY(require_admin(who));
  auto host = TRY(core_.store.host(id));
  switch (action) {
    case HostAction::kMaintenance:
      if (host.state == "down") return Error::Conflict(fmt::format("host '{}' is down", host.name));
      if (host.state != "maintenance") spdlog::info("host {} ({}): maintenance; draining it", host.id, host.name);
      host.state = "maintenance";
      break;
    case HostAction::kActivate:
      if (host.state == "down")
        return Error::Conflict(fmt::format("host '{}' is down: it is ready again when its agent is back", host.name));
      if (host.state != "ready") spdlog::info("host {} ({}): ready again", host.id, host.name);
      host.state = "ready";
      break;
  }
  TRY(core_.store.upsert_host(host));
  core_.poke_broker();
  for (auto& v : TRY(list(who))) {
    if (v.host.id == host.id) return v;
  }
  return Error::NotFound("host", id);
}

namespace {

void drain(Core& core, const store::HostRecord& host) {
  auto desktops = core.store.desktops({});
  if (!desktops.ok()) return;
  std::lock_guard lock(core.placement.mutex());
  size_t in_flight = 0;  // asked for or under way, on any host
  for (const auto& d : *desktops) {
    if (migration_target(d)) ++in_flight;
  }
  // Stopped desktops need only a host they fit on, whatever it runs.
  std::vector<HostLoad> empty_hosts;
  for (const auto& d : *desktops) {
    if (d.host_id != host.id || !d.pending_op.empty()) continue;
    if (d.state == state_name(DesktopState::kRunning) && d.desired == "running") {
      if (in_flight >= core.options.parallel_migrations) continue;
      ++in_flight;
      if (auto r = request_migration(core, d, ""); !r.ok()) {
        spdlog::warn("host {}: desktop {} cannot move yet: {}", host.name, d.id, r.error().message());
      }
    } else if (d.state == state_name(DesktopState::kStopped) || d.state == state_name(DesktopState::kFailed)) {
      // A stopped desktop whose disk the other host sees moves with its record.
      if (empty_hosts.empty()) {
        auto loads = core.placement.loads();
        if (!loads.ok()) return;
        empty_hosts = std::move(*loads);
        for (auto& l : empty_hosts) l.vcpus = l.memory_mb = 0;
      }
      auto target = core.placement.scheduler().place(empty_hosts, {d.vcpus, d.memory_mb});
      if (!target.ok()) continue;
      auto from = core.fleet.agent(host.id), to = core.fleet.agent(*target);
      if (!from || !to || from->disk_path(d.id) != to->disk_path(d.id)) continue;
      auto moved = d;
      moved.host_id = *target;
      moved.updated_at = core.clock.now();
      if (core.store.update_desktop(moved).ok())
        spdlog::info("host {}: stopped desktop {} moved to {}", host.name, d.id, *target);
    }
  }
}

}  // namespace

Result<store::DesktopRecord> request_migration(Core& core, store::DesktopRecord d, const std::string& target) {
  if (d.state != state_name(DesktopState::kRunning) || d.desired != "running") {
    return Error::Conflict(
        fmt::format("desktop '{}' is {}: only a running desktop migrates", d.id, public_state_name(d.state)));
  }
  if (!d.pending_op.empty()) return Error::Conflict(fmt::format("desktop '{}' has a {} under way", d.id, d.pending_op));
  auto loads = TRY(core.placement.loads());
  for (auto& l : loads) {
    if (l.host.id == d.host_id) l.host.state = "source";  // never a candidate
    if (!target.empty() && l.host.id != target && l.host.state == "ready") l.host.state = "not chosen";
  }
  if (!target.empty()) {
    auto host = TRY(core.store.host(target));
    if (host.id == d.host_id)
      return Error::Conflict(fmt::format("desktop '{}' runs on host '{}' already", d.id, host.name));
    if (host.state != "ready") return Error::Conflict(fmt::format("host '{}' is {}, not ready", host.name, host.state));
  }
  std::string chosen = TRY(core.placement.scheduler().place(loads, {d.vcpus, d.memory_mb}));
  // Recorded here; the leading controller's reconciler starts it
  // (begin_migration): this controller may not be the one the agents talk to.
  d.pending_op = migrate_op(chosen);
  d.error.clear();
  d.updated_at = core.clock.now();
  d = TRY(core.store.update_desktop(d));
  core.poke_desktops();
  return d;
}

Result<void> begin_migration(Core& core, store::DesktopRecord d) {
  auto target = migration_target(d).value_or("");
  auto host = core.store.host(target);
  if (host.ok() && host->state == "ready" && !core.fleet.agent(target)) {
    return Error::Unavailable(fmt::format("host {} has not spoken to this controller yet", target));  // next pass
  }
  if (!host.ok() || host->state != "ready") {
    d.pending_op.clear();
    d.error = fmt::format("live migration to host {} did not start: the host is {}", target,
                          host.ok() ? host->state : std::string("gone"));
    d.updated_at = core.clock.now();
    TRY(core.store.update_desktop(d));
    return Ok();
  }
  d.state = std::string(state_name(DesktopState::kMigrating));
  d.updated_at = core.clock.now();
  d = TRY(core.store.update_desktop(d));
  core.migrations->start(d);
  return Ok();
}

}  // namespace oriel::controller
