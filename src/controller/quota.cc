#include "quota.h"

namespace oriel::controller {
namespace {

constexpr int64_t kGB = int64_t{1} << 30;

// Ok, or the limit of `what` that `more` would go over.
Result<void> limit(std::string_view what, int64_t quota, int64_t has, int64_t more, int64_t unit = 1) {
  if (quota <= 0 || more <= 0 || has + more <= quota * unit) return Ok();
  return Error::Unavailable(fmt::format("the tenant's quota of {} {} is reached: {} in use, {} more asked for", quota,
                                        what, (has + unit - 1) / unit, (more + unit - 1) / unit));
}

}  // namespace

store::TenantAllocation demand_of(const store::DesktopRecord& d, bool new_desktop, bool running, int64_t image_bytes) {
  store::TenantAllocation more;
  if (new_desktop) {
    more.desktops = 1;
    more.disk_bytes = image_bytes;
  }
  if (running) {
    more.vcpus = d.vcpus;
    more.memory_mb = d.memory_mb;
  }
  return more;
}

Result<void> within_quota(const store::Quota& quota, const store::TenantAllocation& has,
                          const store::TenantAllocation& more) {
  TRY(limit("desktops", quota.desktops, has.desktops, more.desktops));
  TRY(limit("vCPUs for running desktops", quota.vcpus, has.vcpus, more.vcpus));
  TRY(limit("MiB of memory for running desktops", quota.memory_mb, has.memory_mb, more.memory_mb));
  return limit("GB of disk", quota.disk_gb, has.disk_bytes, more.disk_bytes, kGB);
}

void add_allocation(store::TenantAllocation& has, const store::TenantAllocation& more) {
  has.desktops += more.desktops;
  has.vcpus += more.vcpus;
  has.memory_mb += more.memory_mb;
  has.disk_bytes += more.disk_bytes;
}

}  // namespace oriel::controller
