#include "pool_plan.h"

#include <algorithm>
#include <set>

#include "desktop_state.h"
#include "quota.h"

namespace oriel::controller {
namespace {

bool outdated(const store::DesktopRecord& d, const store::PoolRecord& p) {
  return d.image_id != p.image_id || d.vcpus != p.vcpus || d.memory_mb != p.memory_mb;
}

bool is_running(const store::DesktopRecord& d) { return d.state == state_name(DesktopState::kRunning); }
bool is_failed(const store::DesktopRecord& d) { return d.state == state_name(DesktopState::kFailed); }

// Which free desktop to give up first: broken, then not running, then newest.
bool give_up_first(const store::DesktopRecord& a, const store::DesktopRecord& b) {
  auto rank = [](const store::DesktopRecord& d) {
    if (is_failed(d)) return 0;
    if (d.desired != "running") return 1;
    return is_running(d) ? 3 : 2;
  };
  if (rank(a) != rank(b)) return rank(a) < rank(b);
  return a.created_at > b.created_at;
}

// A plan as it is made, with the hosts' loads as its own actions leave them.
class Planner {
 public:
  Planner(const PoolRows& rows, const Scheduler& scheduler)
      : rows_(rows), pool_(rows.pool), scheduler_(scheduler), loads_(rows.hosts), tenant_(rows.tenant) {}

  PoolPlan plan();

 private:
  // Sorts the pool's live desktops: released or kept assigned, free, or
  // rebuilt. Returns the free ones; counts the assigned ones.
  std::vector<store::DesktopRecord> sort_desktops(const std::vector<store::DesktopRecord>& live);
  void power(std::vector<store::DesktopRecord>& free, int64_t want_free, int64_t want_running);
  void provision(int64_t free, int64_t want_free, int64_t want_running);
  bool create(bool run);

  void set_desired(const store::DesktopRecord& d, std::string desired) {
    if (d.desired == "running" && desired != "running") spend(d.host_id, d.vcpus, d.memory_mb, -1);
    if (d.desired != "running" && desired == "running") spend(d.host_id, d.vcpus, d.memory_mb, 1);
    plan_.actions.push_back({PoolAction::Kind::kSetDesired, d.id, std::move(desired)});
  }
  // Whether the tenant's quota takes `more` on top of this plan's; the pool
  // shows why not.
  bool quota_allows(const store::TenantAllocation& more) {
    auto within = within_quota(rows_.quota, tenant_, more);
    if (!within.ok()) plan_.message = within.error().message();
    return within.ok();
  }
  void spend(const std::string& host_id, int64_t vcpus, int64_t memory_mb, int sign) {
    for (auto& load : loads_) {
      if (load.host.id != host_id) continue;
      load.vcpus += sign * vcpus;
      load.memory_mb += sign * memory_mb;
    }
  }

  const PoolRows& rows_;
  const store::PoolRecord& pool_;
  const Scheduler& scheduler_;
  std::vector<HostLoad> loads_;
  store::TenantAllocation tenant_;
  PoolPlan plan_;
  int64_t assigned_ = 0;
  int64_t running_ = 0;  // free desktops meant to run
  std::string failed_note_;
};

PoolPlan Planner::plan() {
  std::vector<store::DesktopRecord> live;
  for (const auto& d : rows_.desktops) {
    if (d.desired != "deleted") live.push_back(d);
  }
  if (pool_.state == "deleting") {
    for (const auto& d : live) set_desired(d, "deleted");
    if (rows_.desktops.empty()) plan_.actions.push_back({PoolAction::Kind::kDeletePool});
    return std::move(plan_);
  }
  auto free = sort_desktops(live);
  if (!rows_.image || rows_.image->state != "ready") {
    plan_.message = fmt::format("waiting for image '{}' to be ready", pool_.image_id);
  } else {
    int64_t room = std::max<int64_t>(0, pool_.size - assigned_);
    int64_t want_free = pool_.provisioning == "up-front" ? room : std::min(pool_.spare, room);
    int64_t want_running = std::min(pool_.spare, want_free);
    power(free, want_free, want_running);
    provision(static_cast<int64_t>(free.size()), want_free, want_running);
  }
  if (plan_.message.empty()) plan_.message = failed_note_;
  return std::move(plan_);
}

std::vector<store::DesktopRecord> Planner::sort_desktops(const std::vector<store::DesktopRecord>& live) {
  std::set<std::string> in_session;
  for (const auto& s : rows_.open_sessions) in_session.insert(s.desktop_id);
  std::vector<store::DesktopRecord> free;
  for (const auto& d : live) {
    if (!d.assigned_user.empty()) {
      // A pooled desktop is assigned only for the length of a session.
      if (pool_.type == "pooled" && !in_session.count(d.id)) {
        plan_.actions.push_back({PoolAction::Kind::kRelease, d.id});
      }
      ++assigned_;
    } else if (is_failed(d) && rows_.now - d.updated_at < kFailedDesktopKept) {
      failed_note_ = fmt::format("desktop {} failed: {}", d.name, d.error);
      free.push_back(d);
    } else if (outdated(d, pool_) || is_failed(d)) {
      set_desired(d, "deleted");  // rebuilt from the current definition
    } else {
      free.push_back(d);
    }
  }
  return free;
}

// Too many free desktops (on-demand after logoffs, or a smaller size) go;
// stopped ones start up to want_running, as long as their host has room;
// extra running ones stop.
void Planner::power(std::vector<store::DesktopRecord>& free, int64_t want_free, int64_t want_running) {
  std::sort(free.begin(), free.end(), give_up_first);
  while (static_cast<int64_t>(free.size()) > want_free) {
    set_desired(free.front(), "deleted");
    free.erase(free.begin());
  }
  running_ = std::count_if(free.begin(), free.end(), [](const auto& d) { return d.desired == "running"; });
  for (const auto& d : free) {
    if (d.desired != "running" && running_ < want_running) {
      if (auto room = room_to_run(scheduler_, loads_, d); !room.ok()) {
        plan_.message = room.error().message();
        break;
      }
      auto more = demand_of(d, false, true, 0);
      if (!quota_allows(more)) break;
      add_allocation(tenant_, more);
      set_desired(d, "running");
      ++running_;
    } else if (d.desired == "running" && running_ > want_running) {
      set_desired(d, "stopped");
      --running_;
    }
  }
}

void Planner::provision(int64_t free, int64_t want_free, int64_t want_running) {
  for (int64_t n = free; n < want_free; ++n) {
    if (!create(running_ < want_running)) break;
  }
}

// One new desktop: running if asked and a host has room, else provisioned
// stopped where it could run later. False when no host could hold it.
bool Planner::create(bool run) {
  store::DesktopRecord d;
  d.vcpus = pool_.vcpus;
  d.memory_mb = pool_.memory_mb;
  const int64_t image_bytes = rows_.image ? rows_.image->virtual_size_bytes : 0;
  if (run && !quota_allows(demand_of(d, true, true, image_bytes))) run = false;  // made; started within the quota later
  if (!run && !quota_allows(demand_of(d, true, false, image_bytes))) return false;
  d.desired = run ? "running" : "stopped";
  auto host = place_desktop(scheduler_, loads_, d);
  if (!host.ok() && run && host.error().code() == ErrorCode::kUnavailable) {
    plan_.message = host.error().message();
    d.desired = "stopped";  // provisioned now, started when there is room
    run = false;
    host = place_desktop(scheduler_, loads_, d);
  }
  if (!host.ok()) {
    plan_.message = host.error().message();
    return false;
  }
  plan_.actions.push_back({PoolAction::Kind::kCreate, "", "", *host, run});
  add_allocation(tenant_, demand_of(d, true, run, image_bytes));
  if (run) {
    spend(*host, d.vcpus, d.memory_mb, 1);
    ++running_;
  }
  return true;
}

}  // namespace

PoolPlan plan_pool(const PoolRows& rows, const Scheduler& scheduler) { return Planner(rows, scheduler).plan(); }

}  // namespace oriel::controller
