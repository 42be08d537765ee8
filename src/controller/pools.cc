// Pools: their definition and entitlements. The pool's desktops are brought
// to its targets in the background (pool_reconciler.cc).
#include "oriel/controller/pools.h"

#include "access.h"
#include "checks.h"
#include "core.h"
#include "desktop_state.h"
#include "oriel/agent/vm_spec.h"

namespace oriel::controller {
namespace {

Result<void> check_pool_shape(const store::PoolRecord& p) {
  if (p.type != "pooled" && p.type != "persistent") {
    return Error::InvalidArgument(fmt::format("type '{}' is not pooled or persistent", p.type));
  }
  if (p.clipboard != "both" && p.clipboard != "to-desktop" && p.clipboard != "to-client" && p.clipboard != "none") {
    return Error::InvalidArgument(
        fmt::format("clipboard '{}' is not both, to-desktop, to-client or none", p.clipboard));
  }
  if (p.provisioning != "on-demand" && p.provisioning != "up-front") {
    return Error::InvalidArgument(fmt::format("provisioning '{}' is not on-demand or up-front", p.provisioning));
  }
  if (p.size < 0 || p.size > 10000) return Error::InvalidArgument("size must be 0 to 10000");
  if (p.spare < 0 || p.spare > p.size) {
    return Error::InvalidArgument(fmt::format("spare must be 0 to size ({})", p.size));
  }
  if (p.vcpus < 1 || p.vcpus > 512) return Error::InvalidArgument("vcpus must be 1 to 512");
  if (p.memory_mb < 64 || p.memory_mb > 16 * 1024 * 1024)
    return Error::InvalidArgument("memory_mb must be 64 to 16777216");
  if (p.idle_timeout_s < 0) return Error::InvalidArgument("idle_timeout_s must not be negative");
  TRY(agent::NetworkSpec::parse(p.network));
  return Ok();
}

}  // namespace

// A bridge is the host's network, so only the platform admin puts a pool on
// one; and a bridge serves one tenant, so that the desktops of two tenants
// never share a layer-2 segment.
Result<void> Pools::check_network(const Principal& who, const store::PoolRecord& p, const std::string& before) {
  auto spec = TRY(agent::NetworkSpec::parse(p.network));
  if (spec.mode != agent::NetworkSpec::Mode::kBridge || p.network == before) return Ok();
  if (!who.admin()) return Error::PermissionDenied("only the platform admin puts a pool on a bridge");
  for (const auto& other : TRY(core_.store.pools(""))) {
    if (other.network == p.network && other.tenant_id != p.tenant_id) {  // a pool being deleted too
      return Error::Conflict(fmt::format("bridge '{}' is tenant '{}''s network (pool '{}'): a bridge serves one tenant",
                                         spec.bridge, other.tenant_id, other.id));
    }
  }
  return Ok();
}

Result<PoolView> Pools::view(const Principal& who, store::PoolRecord pool) {
  pool.message = capacity_text_for(who, std::move(pool.message));
  PoolView v{std::move(pool)};
  for (const auto& d : TRY(core_.store.desktops({.pool_id = v.pool.id}))) {
    if (d.desired == "deleted") continue;
    ++v.desktops;
    if (!d.assigned_user.empty()) {
      ++v.assigned;
    } else {
      ++v.free;
      if (d.state == state_name(DesktopState::kRunning) && d.pending_op.empty()) ++v.running_free;
    }
  }
  v.sessions = static_cast<int64_t>(TRY(core_.store.sessions({.pool_id = v.pool.id})).size());
  return v;
}

Result<void> Pools::check_image(const Principal& who, const store::PoolRecord& p) {
  auto image = TRY(core_.store.image(p.image_id));
  if (!image_serves(image, p.tenant_id)) {
    if (!who.admin()) return Error::NotFound("image", image.id);
    return Error::InvalidArgument(
        fmt::format("image '{}' is {}: the pools of tenant '{}' cannot use it", image.id,
                    image.tenant_id.empty() ? "not shared with the tenants" : "another tenant's own", p.tenant_id));
  }
  if (image.state == "failed") {
    return Error::Unprocessable(
        fmt::format("image '{}' failed to import{}", image.id, who.admin() ? ": " + image.error : std::string()));
  }
  // One desktop of this size must fit some host, or the pool can never fill.
  std::lock_guard lock(core_.placement.mutex());
  auto host = core_.placement.scheduler().place(TRY(core_.placement.loads()), {p.vcpus, p.memory_mb});
  if (!host.ok() && host.error().code() == ErrorCode::kUnprocessable) return capacity_error_for(who, host.error());
  return Ok();
}

Result<PoolView> Pools::create(const Principal& who, CreatePool cmd) {
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("only administrators create pools");
  if (who.tenant_admin() && cmd.tenant_id.empty()) cmd.tenant_id = who.tenant_id;
  if (cmd.tenant_id.empty()) return Error::InvalidArgument("tenant_id is required");
  TRY(check_name("pool", cmd.name));
  TRY(visible_tenant(core_.store, who, cmd.tenant_id));
  store::PoolRecord p;
  p.id = new_id(core_.random, "p");
  p.name = std::move(cmd.name);
  p.tenant_id = std::move(cmd.tenant_id);
  p.image_id = std::move(cmd.image_id);
  p.type = std::move(cmd.type);
  p.size = cmd.size;
  p.spare = cmd.spare;
  p.vcpus = cmd.vcpus;
  p.memory_mb = cmd.memory_mb;
  p.idle_timeout_s = cmd.idle_timeout_s;
  p.provisioning = std::move(cmd.provisioning);
  p.clipboard = std::move(cmd.clipboard);
  p.network = std::move(cmd.network);
  p.state = "active";
  p.created_at = p.updated_at = core_.clock.now();
  TRY(check_pool_shape(p));
  TRY(check_network(who, p, ""));
  TRY(check_image(who, p));
  auto inserted = core_.store.insert_pool(p);
  if (!inserted.ok() && inserted.error().code() == ErrorCode::kConflict) {
    return Error::Conflict(fmt::format("the tenant already has a pool named '{}'", p.name));
  }
  TRY(std::move(inserted));
  core_.poke_broker();
  return view(who, std::move(p));
}

Result<std::vector<PoolView>> Pools::list(const Principal& who, std::string_view tenant_id) {
  std::vector<store::PoolRecord> pools;
  if (who.admin()) {
    pools = TRY(core_.store.pools(tenant_id));
  } else if (tenant_id.empty() || tenant_id == who.tenant_id) {
    pools = TRY(core_.store.pools(who.tenant_id));
    if (!who.tenant_admin()) {
      auto entitled = TRY(core_.store.entitled_pool_ids(who.user_id));
      std::erase_if(pools, [&](const store::PoolRecord& p) {
        return std::find(entitled.begin(), entitled.end(), p.id) == entitled.end();
      });
    }
  }
  std::vector<PoolView> views;
  views.reserve(pools.size());
  for (auto& p : pools) views.push_back(TRY(view(who, std::move(p))));
  return views;
}

Result<PoolView> Pools::get(const Principal& who, std::string_view id) {
  return view(who, TRY(visible_pool(core_.store, who, id)));
}

Result<PoolView> Pools::change(const Principal& who, std::string_view id,
                               const std::function<Result<void>(store::PoolRecord&)>& edit) {
  // Compare-and-swap against the pool loop's own writes: retry on a race.
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto p = TRY(managed_pool(core_.store, who, id));
    if (p.state != "active") return Error::Conflict(fmt::format("pool '{}' is being deleted", p.id));
    TRY(edit(p));
    p.updated_at = core_.clock.now();
    auto updated = core_.store.update_pool(p);
    if (updated.ok()) {
      core_.poke_broker();
      return view(who, std::move(*updated));
    }
    if (updated.error().code() != ErrorCode::kConflict) return updated.take_error();
  }
  return Error::Conflict(fmt::format("pool '{}' is changing too fast; try again", id));
}

Result<PoolView> Pools::update(const Principal& who, std::string_view id, UpdatePool cmd) {
  return change(who, id, [&](store::PoolRecord& p) -> Result<void> {
    if (cmd.name && *cmd.name != p.name) {
      TRY(check_name("pool", *cmd.name));
      for (const auto& other : TRY(core_.store.pools(p.tenant_id))) {
        if (other.name == *cmd.name) {
          return Error::Conflict(fmt::format("the tenant already has a pool named '{}'", other.name));
        }
      }
      p.name = *cmd.name;
    }
    if (cmd.image_id) p.image_id = *cmd.image_id;
    if (cmd.size) p.size = *cmd.size;
    if (cmd.spare) p.spare = *cmd.spare;
    if (cmd.vcpus) p.vcpus = *cmd.vcpus;
    if (cmd.memory_mb) p.memory_mb = *cmd.memory_mb;
    if (cmd.idle_timeout_s) p.idle_timeout_s = *cmd.idle_timeout_s;
    if (cmd.provisioning) p.provisioning = *cmd.provisioning;
    if (cmd.clipboard) p.clipboard = *cmd.clipboard;
    std::string network_before = p.network;
    if (cmd.network) p.network = *cmd.network;
    TRY(check_pool_shape(p));
    TRY(check_network(who, p, network_before));
    if (cmd.image_id || cmd.vcpus || cmd.memory_mb) TRY(check_image(who, p));
    return Ok();
  });
}

Result<PoolView> Pools::remove(const Principal& who, std::string_view id) {
  return change(who, id, [&](store::PoolRecord& p) -> Result<void> {
    auto open = TRY(core_.store.sessions({.pool_id = p.id}));
    if (!open.empty()) {
      return Error::Conflict(fmt::format("pool '{}' has {} open session{}: log them off first", p.id, open.size(),
                                         open.size() == 1 ? "" : "s"));
    }
    p.state = "deleting";
    return Ok();
  });
}

Result<store::UserRecord> Pools::entitle(const Principal& who, std::string_view pool_id, std::string_view user_id) {
  auto p = TRY(managed_pool(core_.store, who, pool_id));
  auto user = TRY(visible_user(core_.store, who, user_id));
  if (user.tenant_id != p.tenant_id) {
    return Error::Unprocessable(fmt::format("user '{}' is not in the pool's tenant", user.id));
  }
  TRY(core_.store.add_entitlement(p.id, user.id));
  return user;
}

Result<void> Pools::unentitle(const Principal& who, std::string_view pool_id, std::string_view user_id) {
  auto p = TRY(managed_pool(core_.store, who, pool_id));
  return core_.store.remove_entitlement(p.id, user_id);
}

Result<std::vector<store::UserRecord>> Pools::entitlements(const Principal& who, std::string_view pool_id) {
  auto p = TRY(managed_pool(core_.store, who, pool_id));
  return core_.store.entitled_users(p.id);
}

}  // namespace oriel::controller
