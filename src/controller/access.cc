// Who may see what. One rule throughout: an object outside the caller's
// reach is NotFound, exactly as if it did not exist, so that ids of another
// tenant leak nothing; PermissionDenied is only for what a role may never do.
#include "oriel/controller/controller.h"

namespace oriel::controller {

Result<void> Controller::require_admin(const Principal& who) {
  if (!who.admin()) return Error::PermissionDenied("this needs the admin role");
  return Ok();
}

Result<store::TenantRecord> Controller::visible_tenant(const Principal& who, std::string_view id) {
  if (!who.admin() && id != who.tenant_id) return Error::NotFound("tenant", id);
  return store_.tenant(id);
}

Result<store::UserRecord> Controller::visible_user(const Principal& who, std::string_view id) {
  auto user = store_.user_by_id(id);
  bool visible = user.ok() && (who.admin() || user->id == who.user_id ||
                               (who.tenant_admin() && user->tenant_id == who.tenant_id));
  if (!visible) return Error::NotFound("user", id);
  return user;
}

Result<store::PoolRecord> Controller::visible_pool(const Principal& who, std::string_view id) {
  auto pool = store_.pool(id);
  if (!pool.ok()) return pool;
  if (who.admin()) return pool;
  if (pool->tenant_id == who.tenant_id) {
    if (who.tenant_admin()) return pool;
    auto entitled = TRY(store_.entitled_pool_ids(who.user_id));
    if (std::find(entitled.begin(), entitled.end(), pool->id) != entitled.end()) return pool;
  }
  return Error::NotFound("pool", id);
}

Result<store::PoolRecord> Controller::managed_pool(const Principal& who, std::string_view id) {
  auto pool = TRY(visible_pool(who, id));
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("pools are managed by administrators");
  return pool;
}

Result<store::SessionRecord> Controller::visible_session(const Principal& who, std::string_view id) {
  auto session = store_.session(id);
  bool visible = session.ok() && (who.admin() || session->user_id == who.user_id ||
                                  (who.tenant_admin() && session->tenant_id == who.tenant_id));
  if (!visible) return Error::NotFound("session", id);
  return session;
}

Result<store::DesktopRecord> Controller::visible_desktop(const Principal& who, std::string_view id) {
  auto d = store_.desktop(id);
  bool visible = d.ok() && (who.admin() || (who.tenant_admin() && !d->tenant_id.empty() && d->tenant_id == who.tenant_id) ||
                            (!d->assigned_user.empty() && d->assigned_user == who.user_id));
  if (!visible) return Error::NotFound("desktop", id);
  return d;
}

}  // namespace oriel::controller
