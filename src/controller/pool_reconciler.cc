// The broker's loop for one pool: reads the pool's rows, asks plan_pool
// what to do (pool_plan.h), and writes it. Idempotent: each pass decides
// from the store alone, so a crash at any point converges on the next pass.
#include "desktop_state.h"
#include "loops.h"
#include "oriel/common/log.h"
#include "oriel/common/utf8.h"
#include "pool_plan.h"
#include "reconciler.h"

namespace oriel::controller {
namespace {

// "<pool>-<n>" within the 200 bytes a name may have, cut at a UTF-8 boundary.
std::string desktop_name(std::string_view pool, int64_t n) {
  std::string suffix = fmt::format("-{}", n);
  return std::string(pool.substr(0, utf8_cut(pool, 200 - suffix.size()))) + suffix;
}

Result<PoolRows> read_rows(Core& core, std::string_view pool_id) {
  PoolRows rows;
  rows.pool = TRY(core.store.pool(pool_id));
  rows.desktops = TRY(core.store.desktops({.pool_id = rows.pool.id}));
  rows.open_sessions = TRY(core.store.sessions({.pool_id = rows.pool.id}));
  if (auto image = core.store.image(rows.pool.image_id); image.ok()) rows.image = std::move(*image);
  rows.hosts = TRY(core.placement.loads());
  std::tie(rows.quota, rows.tenant) = TRY(core.placement.tenant_room(rows.pool.tenant_id));
  rows.now = core.clock.now();
  return rows;
}

// Power or deletion of a free desktop; one a logon took meanwhile is left alone.
void set_desired(Core& core, const std::string& id, const std::string& desired) {
  (void)core.change_desktop(id, [&](store::DesktopRecord& live) -> Result<void> {
    if (!live.assigned_user.empty()) return Error::Conflict("assigned meanwhile");
    live.desired = desired;
    return Ok();
  });
}

// A pooled desktop assigned without a session goes back to the pool, reset.
void release(Core& core, const store::PoolRecord& pool, const std::string& id) {
  spdlog::info("pool {}: desktop {} has no session any more: back to the pool", pool.id, id);
  (void)core.change_desktop(id, [](store::DesktopRecord& live) -> Result<void> {
    live.assigned_user.clear();
    live.pending_op = "reset";
    return Ok();
  });
}

// Writes the plan; the first desktop that cannot be made stops the making
// of more, and its error is what the pool shows.
void apply(Core& core, store::PoolRecord& pool, const PoolPlan& plan) {
  std::string failure;
  for (const auto& a : plan.actions) {
    switch (a.kind) {
      case PoolAction::Kind::kRelease: release(core, pool, a.desktop_id); break;
      case PoolAction::Kind::kSetDesired: set_desired(core, a.desktop_id, a.desired); break;
      case PoolAction::Kind::kCreate:
        if (!failure.empty()) break;
        if (auto made = new_pool_desktop(core, pool, a.run, a.host_id); !made.ok()) failure = made.error().message();
        break;
      case PoolAction::Kind::kDeletePool:
        if (core.store.delete_pool(pool.id).ok()) spdlog::info("pool {} ({}) deleted", pool.id, pool.name);
        return;
    }
  }
  if (pool.state == "deleting") return;  // it shows no message
  std::string message = failure.empty() ? plan.message : failure;
  if (message != pool.message) {
    pool.message = message;
    pool.updated_at = core.clock.now();
    (void)core.store.update_pool(pool);
  }
}

}  // namespace

Result<store::DesktopRecord> new_pool_desktop(Core& core, store::PoolRecord& pool, bool run, std::string host_id) {
  store::DesktopRecord d;
  d.id = new_id(core.random, "d");
  d.image_id = pool.image_id;
  d.vcpus = pool.vcpus;
  d.memory_mb = pool.memory_mb;
  d.pool_id = pool.id;
  d.tenant_id = pool.tenant_id;
  d.state = std::string(state_name(DesktopState::kProvisioning));
  d.desired = run ? "running" : "stopped";
  d.created_at = d.updated_at = core.clock.now();
  d.host_id = std::move(host_id);
  // Names are "<pool>-<n>"; a name taken (a renamed pool's old desktop) moves n on.
  for (int attempt = 0; attempt < 100; ++attempt) {
    d.name = desktop_name(pool.name, pool.next_index++);
    auto inserted = core.store.insert_desktop(d);
    if (inserted.ok()) break;
    if (inserted.error().code() != ErrorCode::kConflict || attempt == 99) return inserted.take_error();
  }
  pool.updated_at = core.clock.now();
  pool = TRY(core.store.update_pool(pool));
  return d;
}

Result<void> reconcile_pool(Core& core, std::string_view pool_id) {
  // Read under the lock that logons to this pool hold, so the counts are
  // current; the placement lock as it creates and starts desktops.
  std::lock_guard pool_guard(core.pool_locks.of(pool_id));
  std::lock_guard placement(core.placement.mutex());
  auto rows = TRY(read_rows(core, pool_id));
  auto plan = plan_pool(rows, core.placement.scheduler());
  apply(core, rows.pool, plan);
  core.poke_desktops();
  return Ok();
}

}  // namespace oriel::controller
