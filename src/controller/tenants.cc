// Tenants and users: who exists, in which tenant, with which role.
#include "auth.h"
#include "checks.h"
#include "oriel/common/log.h"
#include "oriel/controller/controller.h"

namespace oriel::controller {
namespace {

Result<void> check_username(const std::string& name) {
  if (name.empty() || name.size() > 100) return Error::InvalidArgument("username must be 1 to 100 bytes");
  for (unsigned char c : name) {
    if (c <= 0x20 || c == 0x7f) {
      return Error::InvalidArgument("username must not contain spaces or control characters");
    }
  }
  return Ok();
}

Result<void> check_password(const std::string& password) {
  if (password.size() < 8 || password.size() > 1024) {
    return Error::InvalidArgument("password must be 8 to 1024 bytes");
  }
  return Ok();
}

}  // namespace

Result<store::TenantRecord> Controller::create_tenant(const Principal& who, std::string name) {
  TRY(require_admin(who));
  TRY(check_name("tenant", name));
  store::TenantRecord t{new_id(random_, "t"), std::move(name), clock_.now()};
  auto inserted = store_.insert_tenant(t);
  if (!inserted.ok() && inserted.error().code() == ErrorCode::kConflict) {
    return Error::Conflict(fmt::format("a tenant named '{}' already exists", t.name));
  }
  TRY(std::move(inserted));
  return t;
}

Result<std::vector<store::TenantRecord>> Controller::tenants(const Principal& who) {
  if (who.admin()) return store_.tenants();
  std::vector<store::TenantRecord> mine;
  if (auto t = store_.tenant(who.tenant_id); t.ok()) mine.push_back(std::move(*t));
  return mine;
}

Result<store::TenantRecord> Controller::tenant(const Principal& who, std::string_view id) {
  return visible_tenant(who, id);
}

Result<void> Controller::delete_tenant(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  return store_.delete_tenant(id);
}

Result<store::UserRecord> Controller::create_user(const Principal& who, CreateUser cmd) {
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("only administrators create users");
  TRY(check_username(cmd.username));
  TRY(check_password(cmd.password));
  if (cmd.role != "admin" && cmd.role != "tenant-admin" && cmd.role != "user") {
    return Error::InvalidArgument(fmt::format("role '{}' is not admin, tenant-admin or user", cmd.role));
  }
  if (who.tenant_admin()) {
    if (cmd.role == "admin") return Error::PermissionDenied("a tenant-admin cannot create admins");
    if (cmd.tenant_id.empty()) cmd.tenant_id = who.tenant_id;
  }
  if (cmd.role == "admin" && !cmd.tenant_id.empty()) {
    return Error::InvalidArgument("an admin belongs to no tenant: leave tenant_id out");
  }
  if (cmd.role != "admin") {
    if (cmd.tenant_id.empty()) return Error::InvalidArgument(fmt::format("a {} needs a tenant_id", cmd.role));
    TRY(visible_tenant(who, cmd.tenant_id));
  }
  store::UserRecord u;
  u.id = new_id(random_, "u");
  u.username = cmd.username;
  u.password_hash = TRY(hash_password(cmd.password));
  u.role = cmd.role;
  u.tenant_id = cmd.tenant_id;
  u.created_at = clock_.now();
  auto inserted = store_.insert_user(u);
  if (!inserted.ok() && inserted.error().code() == ErrorCode::kConflict) {
    return Error::Conflict(fmt::format("the username '{}' is taken", u.username));
  }
  TRY(std::move(inserted));
  return u;
}

Result<std::vector<store::UserRecord>> Controller::users(const Principal& who, std::string_view tenant_id) {
  if (who.admin()) return store_.users(tenant_id);
  if (who.tenant_admin()) {
    if (!tenant_id.empty() && tenant_id != who.tenant_id) return std::vector<store::UserRecord>{};
    return store_.users(who.tenant_id);
  }
  return std::vector<store::UserRecord>{TRY(store_.user_by_id(who.user_id))};
}

Result<store::UserRecord> Controller::user(const Principal& who, std::string_view id) {
  return visible_user(who, id);
}

Result<store::UserRecord> Controller::update_user(const Principal& who, std::string_view id, UpdateUser cmd) {
  auto user = TRY(visible_user(who, id));
  bool self = user.id == who.user_id;
  bool manager = who.admin() || (who.tenant_admin() && user.role != "admin");
  if (cmd.password) {
    if (!self && !manager) return Error::PermissionDenied("you may change only your own password");
    TRY(check_password(*cmd.password));
    user.password_hash = TRY(hash_password(*cmd.password));
    TRY(store_.set_password_hash(user.id, user.password_hash));
  }
  if (cmd.unlock) {
    if (!manager || self) return Error::PermissionDenied("an administrator unlocks an account");
    user.failed_logins = 0;
    user.locked_until = WallTime{};
    TRY(store_.set_login_state(user));
  }
  return user;
}

Result<void> Controller::delete_user(const Principal& who, std::string_view id) {
  auto user = TRY(visible_user(who, id));
  if (user.id == who.user_id) return Error::Conflict("you cannot delete yourself");
  if (!who.admin() && !(who.tenant_admin() && user.role != "admin")) {
    return Error::PermissionDenied("only administrators delete users");
  }
  for (const auto& s : TRY(store_.sessions({.user_id = user.id}))) TRY(logoff(who, s.id));
  // A persistent desktop belongs to its user: it goes with them.
  for (const auto& d : TRY(store_.desktops({.assigned_user = user.id}))) {
    (void)change_desktop(d.id, [](store::DesktopRecord& mine) -> Result<void> {
      mine.desired = "deleted";
      return Ok();
    });
  }
  TRY(store_.delete_user(user.id));
  spdlog::info("user {} ({}) deleted by {}", user.username, user.id, who.username);
  return Ok();
}

}  // namespace oriel::controller
