// What one pass of a pool's loop decides, from the pool's rows alone
// (internal). Pure: the store writes are the caller's (pool_reconciler.cc),
// so every decision is unit-tested as a table. The plan brings the pool to
// its targets: desktops provisioned (all at once for up-front pools, spares
// for on-demand ones), spares running, outdated or broken free desktops
// rebuilt, surplus free ones removed; it never touches a desktop assigned
// to a user in session. Capacity is spent as the plan goes, on a copy of
// the hosts' loads, so it starts and places exactly what the hosts have
// room for; the tenant's quota likewise (what the plan gives back, by
// stopping or deleting, counts from the next pass).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "oriel/common/clock.h"
#include "oriel/store/records.h"
#include "scheduler.h"

namespace oriel::controller {

struct PoolRows {
  store::PoolRecord pool;
  std::vector<store::DesktopRecord> desktops;       // every desktop of the pool, those being deleted too
  std::vector<store::SessionRecord> open_sessions;  // the pool's open sessions
  std::optional<store::ImageRecord> image;          // the pool's image; none if it is gone
  std::vector<HostLoad> hosts;                      // every host, with what is allocated there now
  WallTime now;
  store::Quota quota;              // the pool's tenant's (quota.h)
  store::TenantAllocation tenant;  // what that tenant holds now (counted with a quota only)
};

struct PoolAction {
  enum class Kind {
    kRelease,     // a pooled desktop assigned without a session: back to the pool, reset
    kSetDesired,  // a free desktop is to run, stop, or be deleted
    kCreate,      // a new desktop on host_id, started when `run`
    kDeletePool,  // a pool being deleted has no desktop left
  };
  Kind kind;
  std::string desktop_id;  // kRelease, kSetDesired
  std::string desired;     // kSetDesired: running | stopped | deleted
  std::string host_id;     // kCreate
  bool run = false;        // kCreate
  bool operator==(const PoolAction&) const = default;
};

struct PoolPlan {
  std::vector<PoolAction> actions;  // in the order to apply them
  // What the pool shows: why it cannot reach its targets (no room, the
  // image not ready, a free desktop that failed), or empty.
  std::string message;
};

// A failed free desktop is kept this long before it is rebuilt, so that a
// definition that cannot boot is not rebuilt every second.
inline constexpr auto kFailedDesktopKept = std::chrono::seconds(30);

PoolPlan plan_pool(const PoolRows& rows, const Scheduler& scheduler);

}  // namespace oriel::controller
