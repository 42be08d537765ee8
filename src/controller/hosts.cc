// The fleet's hosts: heartbeats from remote agents, hosts declared down when
// they fall silent, and new hosts for the desktops of a host that is down.
#include "checks.h"
#include "fleet.h"
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
  return scheduler_->place(loads, {d.vcpus, d.memory_mb});
}

}  // namespace oriel::controller
