// Sign-in, tenants and users: who exists, in which tenant, with which role.
#include "oriel/controller/identity.h"

#include "access.h"
#include "auth.h"
#include "checks.h"
#include "core.h"
#include "oriel/common/log.h"
#include "oriel/controller/sessions.h"

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

Result<LoginResult> Identity::login(std::string_view username, std::string_view password) {
  // Every failure gets this one answer, after one argon2id check, whether the
  // user is unknown, throttled, locked or just mistyped.
  const Error kWrong = Error::Unauthenticated("wrong username or password");
  auto& store = core_.store;
  auto user = store.user_by_name(username);
  if (!user.ok()) {
    (void)verify_password(dummy_password_hash(), password);
    return kWrong;
  }
  WallTime now = core_.clock.now();
  if (now < user->locked_until || now < next_login_allowed(*user)) {
    (void)verify_password(dummy_password_hash(), password);
    return kWrong;
  }
  const ControllerOptions& o = core_.options;
  if (!verify_password(user->password_hash, password)) {
    user->failed_logins += 1;
    user->last_failed_at = now;
    if (user->failed_logins >= o.login_lock_after) {
      user->locked_until = now + o.login_lock;
      user->failed_logins = 0;
      spdlog::warn("user {} locked for {} s after {} failed logins", user->username, o.login_lock.count(),
                   o.login_lock_after);
    }
    TRY(store.set_login_state(*user));
    return kWrong;
  }
  if (user->failed_logins != 0 || user->locked_until != WallTime{}) {
    user->failed_logins = 0;
    user->locked_until = WallTime{};
    TRY(store.set_login_state(*user));
  }
  LoginResult result{core_.random.token(32), now + o.token_ttl};
  TRY(store.insert_token({token_hash(result.token), user->id, now, result.expires_at}));
  (void)store.delete_expired_tokens(now);
  return result;
}

WallTime Identity::next_login_allowed(const store::UserRecord& user) const {
  int over = static_cast<int>(user.failed_logins) - core_.options.login_delay_after;
  if (over < 0) return WallTime{};
  return user.last_failed_at + std::chrono::seconds(int64_t{1} << std::min(over, 20));
}

Result<void> Identity::logout(std::string_view token) { return core_.store.delete_token(token_hash(token)); }

Result<Principal> Identity::authenticate(std::string_view token) {
  if (token.empty()) return Error::Unauthenticated("missing bearer token");
  auto record = core_.store.token_by_hash(token_hash(token));
  if (!record.ok() || record->expires_at <= core_.clock.now()) {
    return Error::Unauthenticated("invalid or expired token");
  }
  auto user = core_.store.user_by_id(record->user_id);
  if (!user.ok()) return Error::Unauthenticated("invalid or expired token");  // the user was deleted
  return Principal{user->id, user->username, user->role, user->tenant_id};
}

Result<store::TenantRecord> Identity::create_tenant(const Principal& who, std::string name) {
  TRY(require_admin(who));
  TRY(check_name("tenant", name));
  store::TenantRecord t{new_id(core_.random, "t"), std::move(name), core_.clock.now()};
  auto inserted = core_.store.insert_tenant(t);
  if (!inserted.ok() && inserted.error().code() == ErrorCode::kConflict) {
    return Error::Conflict(fmt::format("a tenant named '{}' already exists", t.name));
  }
  TRY(std::move(inserted));
  return t;
}

Result<std::vector<store::TenantRecord>> Identity::tenants(const Principal& who) {
  if (who.admin()) return core_.store.tenants();
  std::vector<store::TenantRecord> mine;
  if (auto t = core_.store.tenant(who.tenant_id); t.ok()) mine.push_back(std::move(*t));
  return mine;
}

Result<store::TenantRecord> Identity::tenant(const Principal& who, std::string_view id) {
  return visible_tenant(core_.store, who, id);
}

Result<void> Identity::delete_tenant(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  return core_.store.delete_tenant(id);
}

Result<store::UserRecord> Identity::create_user(const Principal& who, CreateUser cmd) {
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
    TRY(visible_tenant(core_.store, who, cmd.tenant_id));
  }
  store::UserRecord u;
  u.id = new_id(core_.random, "u");
  u.username = cmd.username;
  u.password_hash = TRY(hash_password(cmd.password));
  u.role = cmd.role;
  u.tenant_id = cmd.tenant_id;
  u.created_at = core_.clock.now();
  auto inserted = core_.store.insert_user(u);
  if (!inserted.ok() && inserted.error().code() == ErrorCode::kConflict) {
    return Error::Conflict(fmt::format("the username '{}' is taken", u.username));
  }
  TRY(std::move(inserted));
  return u;
}

Result<std::vector<store::UserRecord>> Identity::users(const Principal& who, std::string_view tenant_id) {
  if (who.admin()) return core_.store.users(tenant_id);
  if (who.tenant_admin()) {
    if (!tenant_id.empty() && tenant_id != who.tenant_id) return std::vector<store::UserRecord>{};
    return core_.store.users(who.tenant_id);
  }
  return std::vector<store::UserRecord>{TRY(core_.store.user_by_id(who.user_id))};
}

Result<store::UserRecord> Identity::user(const Principal& who, std::string_view id) {
  return visible_user(core_.store, who, id);
}

Result<store::UserRecord> Identity::update_user(const Principal& who, std::string_view id, UpdateUser cmd) {
  auto user = TRY(visible_user(core_.store, who, id));
  bool self = user.id == who.user_id;
  bool manager = who.admin() || (who.tenant_admin() && user.role != "admin");
  if (cmd.password) {
    if (!self && !manager) return Error::PermissionDenied("you may change only your own password");
    TRY(check_password(*cmd.password));
    user.password_hash = TRY(hash_password(*cmd.password));
    TRY(core_.store.set_password_hash(user.id, user.password_hash));
    // Whoever held a token or a display of this account keeps it no more
    // (security probe #9): a stolen token does not outlive the change.
    TRY(core_.store.delete_user_tokens(user.id, self && !cmd.keep_token.empty() ? token_hash(cmd.keep_token) : ""));
    int closed = 0;
    for (const auto& s : TRY(core_.store.sessions({.user_id = user.id}))) {
      if (s.state != "connected" && s.state != "connecting") continue;
      closed += sessions_.disconnect(who, s.id).ok() ? 1 : 0;
    }
    spdlog::info("user {} ({}): password changed by {}; other sign-ins revoked, {} display sessions closed",
                 user.username, user.id, who.username, closed);
  }
  if (cmd.unlock) {
    if (!manager || self) return Error::PermissionDenied("an administrator unlocks an account");
    user.failed_logins = 0;
    user.locked_until = WallTime{};
    TRY(core_.store.set_login_state(user));
  }
  return user;
}

Result<void> Identity::delete_user(const Principal& who, std::string_view id) {
  auto user = TRY(visible_user(core_.store, who, id));
  if (user.id == who.user_id) return Error::Conflict("you cannot delete yourself");
  if (!who.admin() && !(who.tenant_admin() && user.role != "admin")) {
    return Error::PermissionDenied("only administrators delete users");
  }
  for (const auto& s : TRY(core_.store.sessions({.user_id = user.id}))) TRY(sessions_.logoff(who, s.id));
  // A persistent desktop belongs to its user: it goes with them.
  for (const auto& d : TRY(core_.store.desktops({.assigned_user = user.id}))) {
    (void)core_.change_desktop(d.id, [](store::DesktopRecord& mine) -> Result<void> {
      mine.desired = "deleted";
      return Ok();
    });
  }
  TRY(core_.store.delete_user(user.id));
  spdlog::info("user {} ({}) deleted by {}", user.username, user.id, who.username);
  return Ok();
}

}  // namespace oriel::controller
