#include "scheduler.h"

#include <algorithm>

namespace oriel::controller {

Result<PlacementPolicy> parse_placement_policy(std::string_view name) {
  if (name == "spread") return PlacementPolicy::kSpread;
  if (name == "pack") return PlacementPolicy::kPack;
  return Error::InvalidArgument(fmt::format("placement policy '{}' is not spread or pack", name));
}

Result<void> Scheduler::check_room(const HostLoad& h, const Demand& demand) const {
  double cpus = static_cast<double>(h.vcpus + demand.vcpus);
  double mem = static_cast<double>(h.memory_mb + demand.memory_mb);
  if (cpus > cpu_limit(h.host) || mem > memory_limit(h.host)) {
    return Error::Unavailable(
        fmt::format("no capacity: host {} would need {} vCPUs (limit {:.0f}) and {} MiB (limit {:.0f})", h.host.name,
                    h.vcpus + demand.vcpus, cpu_limit(h.host), h.memory_mb + demand.memory_mb, memory_limit(h.host)));
  }
  return Ok();
}

Result<std::string> Scheduler::place(const std::vector<HostLoad>& hosts, const Demand& demand) const {
  const HostLoad* best = nullptr;
  double best_score = 0;
  const HostLoad* largest = nullptr;
  size_t ready = 0;
  for (const auto& h : hosts) {
    if (h.host.state != "ready") continue;
    ++ready;
    double cpu_cap = cpu_limit(h.host), mem_cap = memory_limit(h.host);
    if (!largest || cpu_cap * mem_cap > cpu_limit(largest->host) * memory_limit(largest->host)) largest = &h;
    if (demand.vcpus > cpu_cap || demand.memory_mb > mem_cap) continue;
    double cpu_after = static_cast<double>(h.vcpus + demand.vcpus),
           mem_after = static_cast<double>(h.memory_mb + demand.memory_mb);
    if (cpu_after > cpu_cap || mem_after > mem_cap) continue;
    // The load a host would have afterwards: its most used dimension.
    double load = std::max(cpu_after / cpu_cap, mem_after / mem_cap);
    double score = options_.policy == PlacementPolicy::kSpread ? -load : load;
    if (!best || score > best_score) {
      best = &h;
      best_score = score;
    }
  }
  if (best) return best->host.id;
  if (ready == 0) return Error::Unavailable("no capacity: no host is ready (all are down or in maintenance)");
  bool fits_somewhere = std::any_of(hosts.begin(), hosts.end(), [&](const HostLoad& h) {
    return h.host.state == "ready" && demand.vcpus <= cpu_limit(h.host) && demand.memory_mb <= memory_limit(h.host);
  });
  if (!fits_somewhere) {
    return Error::Unprocessable(fmt::format(
        "no capacity: a desktop with {} vCPUs and {} MiB cannot fit on any host (largest: {} CPUs x{} overcommit, "
        "{} MiB x{})",
        demand.vcpus, demand.memory_mb, largest->host.cpus, options_.cpu_overcommit, largest->host.memory_mb,
        options_.memory_overcommit));
  }
  if (ready == 1) return check_room(*largest, demand).take_error();
  return Error::Unavailable(fmt::format("no capacity: none of the {} ready hosts has room for {} vCPUs and {} MiB",
                                        ready, demand.vcpus, demand.memory_mb));
}

Result<std::string> place_desktop(const Scheduler& scheduler, std::vector<HostLoad> loads,
                                  const store::DesktopRecord& d) {
  auto host = scheduler.place(loads, {d.vcpus, d.memory_mb});
  if (host.ok() || d.desired == "running" || host.error().code() != ErrorCode::kUnavailable) return host;
  // A desktop that is not to run needs only a host it could ever run on.
  for (auto& load : loads) load.vcpus = load.memory_mb = 0;
  return scheduler.place(loads, {d.vcpus, d.memory_mb});
}

Result<void> room_to_run(const Scheduler& scheduler, const std::vector<HostLoad>& loads,
                         const store::DesktopRecord& d) {
  if (d.desired == "running") return Ok();  // already counted
  for (const auto& load : loads) {
    if (load.host.id == d.host_id) return scheduler.check_room(load, {d.vcpus, d.memory_mb});
  }
  return Error::Unavailable(fmt::format("desktop '{}' is on host '{}', which is gone", d.id, d.host_id));
}

}  // namespace oriel::controller
