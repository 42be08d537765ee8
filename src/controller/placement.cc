#include "placement.h"

namespace oriel::controller {

Result<std::vector<HostLoad>> Placement::loads() {
  auto hosts = TRY(hosts_.hosts());
  auto allocations = TRY(desktops_.host_allocations());
  std::vector<HostLoad> loads;
  loads.reserve(hosts.size());
  for (auto& h : hosts) {
    HostLoad load{std::move(h)};
    for (const auto& a : allocations) {
      if (a.host_id != load.host.id) continue;
      load.vcpus = a.vcpus;
      load.memory_mb = a.memory_mb;
    }
    loads.push_back(std::move(load));
  }
  // A desktop on its way to a host holds its place there already.
  if (reservations_) {
    for (const auto& [host_id, r] : reservations_()) {
      for (auto& load : loads) {
        if (load.host.id != host_id) continue;
        load.vcpus += r.first;
        load.memory_mb += r.second;
      }
    }
  }
  return loads;
}

Result<std::string> Placement::place(const store::DesktopRecord& d) {
  return place_desktop(scheduler_, TRY(loads()), d);
}

Result<void> Placement::check_room_to_run(const store::DesktopRecord& d) {
  if (d.desired == "running") return Ok();  // already counted: no need to read the loads
  return room_to_run(scheduler_, TRY(loads()), d);
}

}  // namespace oriel::controller
