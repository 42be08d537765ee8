#include "placement.h"

#include "quota.h"

namespace oriel::controller {

Error capacity_error_for(const Principal& who, const Error& e) {
  if (who.admin()) return e;
  if (e.code() == ErrorCode::kUnprocessable) {
    return Error::Unprocessable(
        "no capacity: a desktop of this size is larger than any host runs; ask your administrator");
  }
  return Error::Unavailable(std::string(kNoRoomForTenants));
}

std::string capacity_text_for(const Principal& who, std::string text) {
  if (!who.admin() && text.starts_with(kNoCapacity)) return std::string(kNoRoomForTenants);
  return text;
}

Result<std::vector<HostLoad>> Placement::loads() {
  auto hosts = TRY(store_.hosts());
  auto allocations = TRY(store_.host_allocations());
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

Result<std::pair<store::Quota, store::TenantAllocation>> Placement::tenant_room(const std::string& tenant_id) {
  auto tenant = store_.tenant(tenant_id);
  if (!tenant.ok() && tenant.error().code() == ErrorCode::kNotFound)
    return std::pair{store::Quota{}, store::TenantAllocation{}};
  auto quota = TRY(std::move(tenant)).quota;
  if (quota == store::Quota{}) return std::pair{quota, store::TenantAllocation{}};  // no limit: nothing to count
  return std::pair{quota, TRY(store_.tenant_allocation(tenant_id))};
}

Result<void> Placement::check_quota(const store::DesktopRecord& d, bool new_desktop, bool running) {
  if (d.tenant_id.empty()) return Ok();  // an admin's standalone desktop
  auto [quota, has] = TRY(tenant_room(d.tenant_id));
  if (quota == store::Quota{}) return Ok();
  int64_t image_bytes = 0;
  if (new_desktop) {
    if (auto image = store_.image(d.image_id); image.ok()) image_bytes = image->virtual_size_bytes;
  }
  return within_quota(quota, has, demand_of(d, new_desktop, running, image_bytes));
}

Result<std::string> Placement::place(const store::DesktopRecord& d, const Principal* who) {
  TRY(check_quota(d, true, d.desired == "running"));
  auto host = place_desktop(scheduler_, TRY(loads()), d);
  if (!host.ok() && who) return capacity_error_for(*who, host.error());
  return host;
}

Result<void> Placement::check_room_to_run(const store::DesktopRecord& d, const Principal* who) {
  if (d.desired == "running") return Ok();  // already counted: no need to read the loads
  TRY(check_quota(d, false, true));
  auto room = room_to_run(scheduler_, TRY(loads()), d);
  if (!room.ok() && who) return capacity_error_for(*who, room.error());
  return room;
}

}  // namespace oriel::controller
