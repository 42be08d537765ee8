#include "access.h"

#include <algorithm>

namespace oriel::controller {

Result<void> require_admin(const Principal& who) {
  if (!who.admin()) return Error::PermissionDenied("this needs the admin role");
  return Ok();
}

Result<store::TenantRecord> visible_tenant(store::TenantStore& tenants, const Principal& who, std::string_view id) {
  if (!who.admin() && id != who.tenant_id) return Error::NotFound("tenant", id);
  return tenants.tenant(id);
}

Result<store::UserRecord> visible_user(store::UserStore& users, const Principal& who, std::string_view id) {
  auto user = users.user_by_id(id);
  bool visible =
      user.ok() && (who.admin() || user->id == who.user_id || (who.tenant_admin() && user->tenant_id == who.tenant_id));
  if (!visible) return Error::NotFound("user", id);
  return user;
}

Result<store::PoolRecord> visible_pool(store::PoolStore& pools, const Principal& who, std::string_view id) {
  auto pool = pools.pool(id);
  if (!pool.ok()) return pool;
  if (who.admin()) return pool;
  if (pool->tenant_id == who.tenant_id) {
    if (who.tenant_admin()) return pool;
    auto entitled = TRY(pools.entitled_pool_ids(who.user_id));
    if (std::find(entitled.begin(), entitled.end(), pool->id) != entitled.end()) return pool;
  }
  return Error::NotFound("pool", id);
}

Result<store::PoolRecord> managed_pool(store::PoolStore& pools, const Principal& who, std::string_view id) {
  auto pool = TRY(visible_pool(pools, who, id));
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("pools are managed by administrators");
  return pool;
}

Result<store::SessionRecord> visible_session(store::SessionStore& sessions, const Principal& who, std::string_view id) {
  auto session = sessions.session(id);
  bool visible = session.ok() && (who.admin() || session->user_id == who.user_id ||
                                  (who.tenant_admin() && session->tenant_id == who.tenant_id));
  if (!visible) return Error::NotFound("session", id);
  return session;
}

Result<store::DesktopRecord> visible_desktop(store::DesktopStore& desktops, const Principal& who, std::string_view id) {
  auto d = desktops.desktop(id);
  if (!d.ok() || !sees(who, *d)) return Error::NotFound("desktop", id);
  return d;
}

bool image_serves(const store::ImageRecord& image, std::string_view tenant_id) {
  return image.tenant_id.empty() ? image.shared : image.tenant_id == tenant_id;
}

bool sees(const Principal& who, const store::DesktopRecord& d) {
  return who.admin() || (who.tenant_admin() && !d.tenant_id.empty() && d.tenant_id == who.tenant_id) ||
         (!d.assigned_user.empty() && d.assigned_user == who.user_id);
}

const std::string& Usernames::of(const std::string& user_id) {
  auto [it, fresh] = known_.try_emplace(user_id);
  if (fresh) {
    if (auto user = users_.user_by_id(user_id); user.ok()) it->second = user->username;
  }
  return it->second;
}

}  // namespace oriel::controller
