// Placement with the store's current picture (internal): what every host
// has allocated, and where a desktop goes or whether it may start, within
// its tenant's quota (quota.h). One lock
// serializes the decisions that spend host capacity, so two of them never
// see the same room; the store's compare-and-swap and unique indexes guard
// the same rules across processes. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "oriel/controller/principal.h"
#include "oriel/store/store.h"
#include "scheduler.h"

namespace oriel::controller {

// Capacity held on hosts that desktops are migrating to: host id →
// (vCPUs, MiB). The scheduler counts them on both hosts until the switchover.
using Reservations = std::map<std::string, std::pair<int64_t, int64_t>>;

class Placement {
 public:
  Placement(store::Store& store, SchedulerOptions options) : store_(store), scheduler_(options) {}

  // Held by callers around a decision and the write that spends it; logons
  // and the pool loop take their pool's lock first.
  std::mutex& mutex() { return mu_; }
  // Where migrations hold capacity (set once, before use).
  void set_reservations(std::function<Reservations()> reservations) { reservations_ = std::move(reservations); }

  // Every host with what the desktops meant to run there need, migrations
  // on their way included. Callers hold mutex().
  Result<std::vector<HostLoad>> loads();
  // place_desktop and room_to_run (scheduler.h) on loads(), for a new
  // desktop and for one to start, after its tenant's quota. `who` asks (none:
  // Oriel itself): a tenant's people hear that no host has room, never which
  // host or how big (capacity_error_for). Callers hold mutex().
  Result<std::string> place(const store::DesktopRecord& d, const Principal* who = nullptr);
  Result<void> check_room_to_run(const store::DesktopRecord& d, const Principal* who = nullptr);
  // The tenant's quota and what it holds; a tenant that is gone has no quota.
  Result<std::pair<store::Quota, store::TenantAllocation>> tenant_room(const std::string& tenant_id);
  const Scheduler& scheduler() const { return scheduler_; }

 private:
  Result<void> check_quota(const store::DesktopRecord& d, bool new_desktop, bool running);

  store::Store& store_;
  const Scheduler scheduler_;
  std::function<Reservations()> reservations_;
  std::mutex mu_;
};

// The scheduler's "no capacity" for `who`: whole for an admin, and for a
// tenant role the same code with a message that names no host (security
// probe #9). Pools show their tenant-admins the same (kNoRoomForTenants).
Error capacity_error_for(const Principal& who, const Error& e);
inline constexpr std::string_view kNoRoomForTenants =
    "no capacity: the hosts have no room for another desktop now; your administrator is told";
// A stored message (a pool's, a desktop's error) as `who` may read it: one
// of the scheduler's "no capacity" ones becomes kNoRoomForTenants for a
// tenant role; any other stays as it is.
std::string capacity_text_for(const Principal& who, std::string text);

}  // namespace oriel::controller
