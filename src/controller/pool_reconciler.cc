// The broker's control loop: brings every pool to its targets (desktops
// provisioned, spares running, outdated free desktops rebuilt), and keeps
// the usage meter, idle timeouts and ticket expiry current. Idempotent: each
// pass decides from the store alone, so a crash at any point converges on
// the next pass. It never touches a desktop assigned to a user in session.
#include "desktop_state.h"
#include "oriel/common/log.h"
#include "oriel/controller/controller.h"
#include "reconciler.h"
#include "scheduler.h"

#include <algorithm>
#include <map>
#include <set>

namespace oriel::controller {
namespace {

constexpr auto kFailedRetry = std::chrono::seconds(30);

// "<pool>-<n>" within the 200 bytes a name may have, cut at a UTF-8 boundary.
std::string desktop_name(std::string_view pool, int64_t n) {
  std::string suffix = fmt::format("-{}", n);
  size_t keep = std::min(pool.size(), 200 - suffix.size());
  while (keep > 0 && keep < pool.size() && (static_cast<unsigned char>(pool[keep]) & 0xC0) == 0x80) --keep;
  return std::string(pool.substr(0, keep)) + suffix;
}

bool outdated(const store::DesktopRecord& d, const store::PoolRecord& p) {
  return d.image_id != p.image_id || d.vcpus != p.vcpus || d.memory_mb != p.memory_mb;
}

bool is_running(const store::DesktopRecord& d) { return d.state == state_name(DesktopState::kRunning); }

// Which free desktop to give up first: broken, then not running, then newest.
bool give_up_first(const store::DesktopRecord& a, const store::DesktopRecord& b) {
  auto rank = [](const store::DesktopRecord& d) {
    if (d.state == state_name(DesktopState::kFailed)) return 0;
    if (d.desired != "running") return 1;
    return is_running(d) ? 3 : 2;
  };
  if (rank(a) != rank(b)) return rank(a) < rank(b);
  return a.created_at > b.created_at;
}

}  // namespace

void Controller::reconcile_broker() {
  auto pools = store_.pools("");
  if (pools.ok()) {
    for (const auto& pool : *pools) {
      if (auto r = reconcile_pool(pool.id); !r.ok() && r.error().code() != ErrorCode::kNotFound) {
        spdlog::warn("pool {}: {}", pool.id, r.error().message());
      }
    }
  }
  // Sessions before desktops: a session opened in between is left for the
  // next pass, never taken for one whose desktop is gone.
  auto open = store_.sessions({});
  auto desktops = store_.desktops({});
  if (pools.ok() && open.ok() && desktops.ok()) expire_idle_sessions(*open, *desktops, *pools);
  if (desktops.ok()) meter_usage(*desktops);
  (void)store_.delete_expired_tickets(clock_.now());
}

std::mutex& Controller::pool_lock(std::string_view pool_id) {
  std::lock_guard lock(pool_locks_mu_);
  auto it = pool_locks_.find(pool_id);
  if (it == pool_locks_.end()) it = pool_locks_.emplace(std::string(pool_id), std::make_unique<std::mutex>()).first;
  return *it->second;
}

Result<store::DesktopRecord> Controller::new_pool_desktop(store::PoolRecord& pool, bool run) {
  store::DesktopRecord d;
  d.id = new_id(random_, "d");
  d.image_id = pool.image_id;
  d.vcpus = pool.vcpus;
  d.memory_mb = pool.memory_mb;
  d.pool_id = pool.id;
  d.tenant_id = pool.tenant_id;
  d.state = std::string(state_name(DesktopState::kProvisioning));
  d.desired = run ? "running" : "stopped";
  d.created_at = d.updated_at = clock_.now();
  d.host_id = TRY(place(d));
  // Names are "<pool>-<n>"; a name taken (a renamed pool's old desktop) moves n on.
  for (int attempt = 0; attempt < 100; ++attempt) {
    d.name = desktop_name(pool.name, pool.next_index++);
    auto inserted = store_.insert_desktop(d);
    if (inserted.ok()) break;
    if (inserted.error().code() != ErrorCode::kConflict || attempt == 99) return inserted.take_error();
  }
  pool.updated_at = clock_.now();
  pool = TRY(store_.update_pool(pool));
  return d;
}

Result<void> Controller::reconcile_pool(std::string_view pool_id) {
  // Read under the lock that logons to this pool hold, so the counts are
  // current; placement_mu_ as it creates and starts desktops.
  std::lock_guard pool_guard(pool_lock(pool_id));
  std::lock_guard placement(placement_mu_);
  auto pool = TRY(store_.pool(pool_id));
  auto desktops = TRY(store_.desktops({.pool_id = pool.id}));
  auto open_sessions = TRY(store_.sessions({.pool_id = pool.id}));
  // Power or deletion of a free desktop; one a logon took meanwhile is left alone.
  auto set_desired = [&](const store::DesktopRecord& d, std::string_view desired) {
    (void)change_desktop(d.id, [&](store::DesktopRecord& live) -> Result<void> {
      if (!live.assigned_user.empty()) return Error::Conflict("assigned meanwhile");
      live.desired = std::string(desired);
      return Ok();
    });
  };
  // A pooled desktop assigned without a session goes back to the pool, reset.
  auto release = [&](const store::DesktopRecord& d) {
    (void)change_desktop(d.id, [](store::DesktopRecord& live) -> Result<void> {
      live.assigned_user.clear();
      live.pending_op = "reset";
      return Ok();
    });
  };
  std::vector<store::DesktopRecord> live;
  for (const auto& d : desktops) {
    if (d.desired != "deleted") live.push_back(d);
  }
  if (pool.state == "deleting") {
    for (const auto& d : live) set_desired(d, "deleted");
    if (desktops.empty() && store_.delete_pool(pool.id).ok()) spdlog::info("pool {} ({}) deleted", pool.id, pool.name);
    return Ok();
  }
  std::set<std::string> in_session;
  for (const auto& s : open_sessions) in_session.insert(s.desktop_id);

  std::vector<store::DesktopRecord> free;
  std::string failed_note;
  int64_t assigned = 0;
  for (const auto& d : live) {
    if (!d.assigned_user.empty()) {
      // A pooled desktop is assigned only for the length of a session.
      if (pool.type == "pooled" && !in_session.count(d.id)) {
        spdlog::info("pool {}: desktop {} has no session any more: back to the pool", pool.id, d.id);
        release(d);
      }
      ++assigned;
    } else if (d.state == state_name(DesktopState::kFailed) && clock_.now() - d.updated_at < kFailedRetry) {
      // Kept a while, so that a definition that cannot boot is not rebuilt
      // every second; the pool says why.
      failed_note = fmt::format("desktop {} failed: {}", d.name, d.error);
      free.push_back(d);
    } else if (outdated(d, pool) || d.state == state_name(DesktopState::kFailed)) {
      set_desired(d, "deleted");  // rebuilt below from the current definition
    } else {
      free.push_back(d);
    }
  }
  std::string message;
  auto image = store_.image(pool.image_id);
  if (!image.ok() || image->state != "ready") {
    message = fmt::format("waiting for image '{}' to be ready", pool.image_id);
  } else {
    int64_t room = std::max<int64_t>(0, pool.size - assigned);
    int64_t want_free = pool.provisioning == "up-front" ? room : std::min(pool.spare, room);
    int64_t want_running = std::min(pool.spare, want_free);
    // Too many free desktops (on-demand after logoffs, or a smaller size).
    std::sort(free.begin(), free.end(), give_up_first);
    while (static_cast<int64_t>(free.size()) > want_free) {
      set_desired(free.front(), "deleted");
      free.erase(free.begin());
    }
    int64_t running = std::count_if(free.begin(), free.end(), [](const auto& d) { return d.desired == "running"; });
    // Power: start stopped free desktops up to want_running, stop the extra.
    for (auto& d : free) {
      if (d.desired != "running" && running < want_running) {
        if (auto room_ok = check_room_to_run(d); !room_ok.ok()) {
          message = room_ok.error().message();
          break;
        }
        set_desired(d, "running");
        ++running;
      } else if (d.desired == "running" && running > want_running) {
        set_desired(d, "stopped");
        --running;
      }
    }
    for (int64_t n = static_cast<int64_t>(free.size()); n < want_free; ++n) {
      bool run = running < want_running;
      auto made = new_pool_desktop(pool, run);
      if (!made.ok() && run && made.error().code() == ErrorCode::kUnavailable) {
        message = made.error().message();
        made = new_pool_desktop(pool, false);  // provisioned now, started when there is room
        run = false;
      }
      if (!made.ok()) {
        message = made.error().message();
        break;
      }
      if (run) ++running;
    }
  }
  if (message.empty()) message = failed_note;
  if (message != pool.message) {
    pool.message = message;
    pool.updated_at = clock_.now();
    (void)store_.update_pool(pool);
  }
  reconciler_->poke();
  return Ok();
}

void Controller::expire_idle_sessions(const std::vector<store::SessionRecord>& open_sessions,
                                      const std::vector<store::DesktopRecord>& desktops,
                                      const std::vector<store::PoolRecord>& pools) {
  auto now = clock_.now();
  std::set<std::string_view> desktop_ids;
  for (const auto& d : desktops) desktop_ids.insert(d.id);
  std::map<std::string_view, int64_t> idle_timeout_s;
  for (const auto& p : pools) idle_timeout_s[p.id] = p.idle_timeout_s;
  for (auto s : open_sessions) {
    if (!desktop_ids.count(s.desktop_id)) {
      spdlog::info("session {}: its desktop {} is gone: session ended", s.id, s.desktop_id);
      (void)store_.end_session(s.id, now, nullptr);
      continue;
    }
    auto timeout = idle_timeout_s.find(s.pool_id);
    if (s.state != "connected" || timeout == idle_timeout_s.end() || timeout->second <= 0) continue;
    if (now - s.last_activity_at >= std::chrono::seconds(timeout->second)) {
      spdlog::info("session {}: idle for {} s: disconnected", s.id, timeout->second);
      s.state = "disconnected";
      if (store_.update_session(s).ok()) session_ended(s.id, SessionEnd::kIdle);
    }
  }
}

void Controller::meter_usage(const std::vector<store::DesktopRecord>& desktops) {
  auto open = store_.open_usage("desktop");
  if (!open.ok()) return;
  auto now = clock_.now();
  std::set<std::string> metered;
  for (const auto& u : *open) metered.insert(u.subject_id);
  std::set<std::string> running;
  for (const auto& d : desktops) {
    if (!is_running(d)) continue;
    running.insert(d.id);
    if (!metered.count(d.id)) (void)store_.open_usage({"desktop", d.id, d.tenant_id, d.pool_id, "", now, {}});
  }
  for (const auto& id : metered) {
    if (!running.count(id)) (void)store_.close_usage("desktop", id, now);
  }
}

}  // namespace oriel::controller
