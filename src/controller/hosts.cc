// The fleet's hosts: heartbeats from remote agents, hosts declared down when
// they fall silent, new hosts for the desktops of a host that is down, live
// migration, and maintenance (a host drained by live migration).
#include "checks.h"
#include "fleet.h"
#include "migrations.h"
#include "oriel/common/log.h"
#include "oriel/common/secret.h"
#include "oriel/controller/controller.h"
#include "reconciler.h"
#include "scheduler.h"

namespace oriel::controller {

Result<HeartbeatAnswer> Controller::heartbeat(std::string_view cluster_token, const agent::AgentHello& hello) {
  if (!secrets_equal(cluster_token, options_.cluster_token)) {
    return Error::Unauthenticated(options_.cluster_token.empty()
                                      ? "this controller takes no agents (it has no --cluster-token)"
                                      : "this needs the cluster token");
  }
  TRY(check_name("host", hello.report.name));
  std::string id = host_id_for(hello.report.name);
  if (id == host_id_) return Error::Conflict(fmt::format("host name '{}' is this controller's own", hello.report.name));
  store::HostRecord host{id, hello.report.name, "ready", std::string(agent::accelerator_name(hello.report.accelerator)),
                         hello.report.cpus, hello.report.memory_mb, hello.url, clock_.now()};
  auto old = store_.host(id);
  if (old.ok()) {
    // Maintenance is the administrator's to end; a host that was down and
    // speaks again has fenced itself meanwhile and is ready again.
    if (old->state == "maintenance") host.state = old->state;
    if (old->state == "down") spdlog::warn("host {} ({}) is back", id, host.name);
  } else {
    spdlog::info("host {} ({}) joined at {}: {} CPUs, {} MiB, {}", id, host.name, hello.url, host.cpus,
                 host.memory_mb, host.accelerator);
  }
  TRY(store_.upsert_host(host));
  fleet_->heard(id, hello);
  reconciler_->poke();
  return HeartbeatAnswer{id, options_.host_lease};
}

void Controller::watch_hosts() {
  auto hosts = store_.hosts();
  if (!hosts.ok()) return;
  auto now = clock_.now();
  for (auto host : *hosts) {
    if (host.state == "maintenance") drain(host);
    bool remote = !host.address.empty();
    if (!remote || host.state == "down" || now - host.last_heartbeat_at < options_.host_lease + options_.host_grace) {
      continue;
    }
    auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - host.last_heartbeat_at);
    spdlog::error("host {} ({}) has been silent for {:.1f} s: declared down; its desktops start on other hosts",
                  host.id, host.name, silent.count() / 1000.0);
    host.state = "down";
    if (auto r = store_.upsert_host(host); !r.ok()) spdlog::warn("host {}: {}", host.id, r.error().message());
    reconciler_->poke();
  }
}

Result<std::string> Controller::relocate(const store::DesktopRecord& d) {
  std::lock_guard lock(placement_mu_);
  auto loads = TRY(host_loads());
  // Its allocation still counts on the dead host; the new host must have
  // room for it on top of what it runs.
  auto host = TRY(scheduler_->place(loads, {d.vcpus, d.memory_mb}));
  // A connected display follows (it reconnects once the desktop has booted there).
  if (move_listener_) move_listener_(d.id, fleet_->address(host));
  return host;
}

Result<HostView> Controller::host_action(const Principal& who, std::string_view id, HostAction action) {
  TRY(require_admin(who));
  auto host = TRY(store_.host(id));
  switch (action) {
    case HostAction::kMaintenance:
      if (host.state == "down") return Error::Conflict(fmt::format("host '{}' is down", host.name));
      if (host.state != "maintenance") spdlog::info("host {} ({}): maintenance; draining it", host.id, host.name);
      host.state = "maintenance";
      break;
    case HostAction::kActivate:
      if (host.state == "down") return Error::Conflict(fmt::format("host '{}' is down: it is ready again when its agent is back", host.name));
      if (host.state != "ready") spdlog::info("host {} ({}): ready again", host.id, host.name);
      host.state = "ready";
      break;
  }
  TRY(store_.upsert_host(host));
  broker_loop_->poke();
  for (auto& v : TRY(hosts(who))) {
    if (v.host.id == host.id) return v;
  }
  return Error::NotFound("host", id);
}

void Controller::drain(const store::HostRecord& host) {
  auto desktops = store_.desktops({});
  if (!desktops.ok()) return;
  std::lock_guard lock(placement_mu_);
  size_t in_flight = 0;  // asked for or under way, on any host
  for (const auto& d : *desktops) {
    if (migration_target(d)) ++in_flight;
  }
  // Stopped desktops need only a host they fit on, whatever it runs.
  std::vector<HostLoad> empty_hosts;
  for (const auto& d : *desktops) {
    if (d.host_id != host.id || !d.pending_op.empty()) continue;
    if (d.state == state_name(DesktopState::kRunning) && d.desired == "running") {
      if (in_flight >= options_.parallel_migrations) continue;
      ++in_flight;
      if (auto r = start_migration(d, ""); !r.ok()) {
        spdlog::warn("host {}: desktop {} cannot move yet: {}", host.name, d.id, r.error().message());
      }
    } else if (d.state == state_name(DesktopState::kStopped) || d.state == state_name(DesktopState::kFailed)) {
      // A stopped desktop whose disk the other host sees moves with its record.
      if (empty_hosts.empty()) {
        auto loads = host_loads();
        if (!loads.ok()) return;
        empty_hosts = std::move(*loads);
        for (auto& l : empty_hosts) l.vcpus = l.memory_mb = 0;
      }
      auto target = scheduler_->place(empty_hosts, {d.vcpus, d.memory_mb});
      if (!target.ok()) continue;
      auto from = fleet_->agent(host.id), to = fleet_->agent(*target);
      if (!from || !to || from->disk_path(d.id) != to->disk_path(d.id)) continue;
      auto moved = d;
      moved.host_id = *target;
      moved.updated_at = clock_.now();
      if (store_.update_desktop(moved).ok()) spdlog::info("host {}: stopped desktop {} moved to {}", host.name, d.id, *target);
    }
  }
}

Result<store::DesktopRecord> Controller::start_migration(store::DesktopRecord d, std::string target) {
  if (d.state != state_name(DesktopState::kRunning) || d.desired != "running") {
    return Error::Conflict(fmt::format("desktop '{}' is {}: only a running desktop migrates", d.id,
                                       public_state_name(d.state)));
  }
  if (!d.pending_op.empty()) return Error::Conflict(fmt::format("desktop '{}' has a {} under way", d.id, d.pending_op));
  auto loads = TRY(host_loads());
  for (auto& l : loads) {
    if (l.host.id == d.host_id) l.host.state = "source";  // never a candidate
    if (!target.empty() && l.host.id != target && l.host.state == "ready") l.host.state = "not chosen";
  }
  if (!target.empty()) {
    auto host = TRY(store_.host(target));
    if (host.id == d.host_id) return Error::Conflict(fmt::format("desktop '{}' runs on host '{}' already", d.id, host.name));
    if (host.state != "ready") return Error::Conflict(fmt::format("host '{}' is {}, not ready", host.name, host.state));
  }
  std::string chosen = TRY(scheduler_->place(loads, {d.vcpus, d.memory_mb}));
  // Recorded here; the leading controller's reconciler starts it
  // (begin_migration): this controller may not be the one the agents talk to.
  d.pending_op = migrate_op(chosen);
  d.error.clear();
  d.updated_at = clock_.now();
  d = TRY(store_.update_desktop(d));
  reconciler_->poke();
  return d;
}

Result<void> Controller::begin_migration(store::DesktopRecord d) {
  auto target = migration_target(d).value_or("");
  auto host = store_.host(target);
  if (host.ok() && host->state == "ready" && !fleet_->agent(target)) {
    return Error::Unavailable(fmt::format("host {} has not spoken to this controller yet", target));  // next pass
  }
  if (!host.ok() || host->state != "ready") {
    d.pending_op.clear();
    d.error = fmt::format("live migration to host {} did not start: the host is {}", target,
                          host.ok() ? host->state : std::string("gone"));
    d.updated_at = clock_.now();
    TRY(store_.update_desktop(d));
    return Ok();
  }
  d.state = std::string(state_name(DesktopState::kMigrating));
  d.updated_at = clock_.now();
  d = TRY(store_.update_desktop(d));
  migrations_->start(d);
  return Ok();
}

Result<store::DesktopRecord> Controller::migrate_desktop(const Principal& who, std::string_view id,
                                                         std::string_view host_id) {
  TRY(visible_desktop(who, id));
  if (!who.admin()) return Error::PermissionDenied("only administrators move desktops between hosts");
  std::lock_guard lock(placement_mu_);
  return start_migration(TRY(store_.desktop(id)), std::string(host_id));
}

Result<store::DesktopRecord> Controller::cancel_migration(const Principal& who, std::string_view id) {
  TRY(visible_desktop(who, id));
  if (!who.admin()) return Error::PermissionDenied("only administrators move desktops between hosts");
  auto d = TRY(store_.desktop(id));
  if (!migration_target(d)) return Error::Conflict(fmt::format("desktop '{}' is not migrating", d.id));
  if (d.state != state_name(DesktopState::kMigrating)) {
    // Asked for, not started yet: forget it.
    d.pending_op.clear();
    d.updated_at = clock_.now();
    return store_.update_desktop(d);
  }
  // Stored, so that it reaches the controller that follows the migration.
  d.pending_op = cancel_migrate_op(migration_target(d).value_or(""));
  d.updated_at = clock_.now();
  d = TRY(store_.update_desktop(d));
  (void)migrations_->cancel(d.id);
  reconciler_->poke();
  return d;
}

std::optional<MigrationView> Controller::migration(std::string_view desktop_id) {
  return migrations_->view(std::string(desktop_id));
}

}  // namespace oriel::controller
