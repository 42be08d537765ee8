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

// The answer while failed sign-ins make `whose` wait until `until`.
Error too_soon(std::string_view whose, WallTime until, WallTime now) {
  auto seconds = std::max(std::chrono::ceil<std::chrono::seconds>(until - now), std::chrono::seconds(1));
  return Error::RateLimited(fmt::format("too many failed sign-ins {}; try again in {} s", whose, seconds.count()),
                            seconds);
}

// 127.0.0.0/8, ::1 and their IPv4-mapped forms: a client on this machine.
bool is_loopback_address(std::string_view a) {
  if (a.starts_with("::ffff:")) a.remove_prefix(7);
  return a.starts_with("127.") || a == "::1";
}

// The accounts a sign-in names: every user called `typed`, whatever their
// tenant, but only the admin if an admin is (a tenant's user of that name
// then signs in as name@tenant, and the break-glass admin stays one
// account); or, when no one is, "name@tenant" is the user called name in
// the tenant of that name.
Result<std::vector<store::UserRecord>> accounts_named(store::Store& store, std::string_view typed) {
  auto named = TRY(store.users_named(typed));
  for (auto& u : named) {
    if (u.tenant_id.empty()) return std::vector<store::UserRecord>{std::move(u)};
  }
  size_t at = typed.rfind('@');
  if (!named.empty() || at == std::string_view::npos || at == 0 || at + 1 == typed.size()) return named;
  std::string_view name = typed.substr(0, at), tenant_name = typed.substr(at + 1);
  for (const auto& t : TRY(store.tenants())) {
    if (t.name != tenant_name) continue;
    auto user = store.user_by_name(t.id, name);
    if (user.ok()) named.push_back(std::move(*user));
    break;
  }
  return named;
}

// Namesakes in several tenants signing in by their bare name: each one's
// password is tried, up to this many; more need "name@tenant".
constexpr size_t kMaxNamesakes = 4;

}  // namespace

Result<LoginResult> Identity::login(std::string_view username, std::string_view password, std::string_view address) {
  const Error kWrong = Error::Unauthenticated("wrong username or password");
  const ControllerOptions& o = core_.options;
  auto& store = core_.store;
  WallTime now = core_.clock.now();
  auto named = TRY(accounts_named(store, username));
  // One account, or several namesakes (throttled by the name they share,
  // as an unknown name is): the one whose password this is, below.
  Result<store::UserRecord> user = named.size() == 1 ? Result<store::UserRecord>(named[0])
                                                     : Result<store::UserRecord>(Error::NotFound("user", username));
  std::string name(username), from(address);
  {
    MutexLock lock(mu_);
    if (auto f = address_failures_.find(from); f != address_failures_.end()) {
      WallTime until = next_attempt(f->second, o.login_address_delay_after);
      if (now < until) return too_soon("from this address", until, now);
    }
    Failures account;
    if (user.ok()) {
      account = failures_of(*user);
    } else if (auto f = unknown_name_failures_.find(name); f != unknown_name_failures_.end()) {
      account = f->second;
    }
    bool break_glass = user.ok() && user->role == "admin" && is_loopback_address(address);
    WallTime until = next_attempt(account, o.login_delay_after);
    if (!break_glass && now < until) return too_soon("for this account", until, now);
  }
  bool right = false;
  if (named.size() > 1) {
    for (size_t i = 0; i < named.size() && i < kMaxNamesakes && !right; ++i) {
      if (verify_password(named[i].password_hash, password)) {
        user = named[i];
        right = true;
      }
    }
  } else {
    right = verify_password(user.ok() ? user->password_hash : dummy_password_hash(), password) && user.ok();
  }
  if (!right) {
    MutexLock lock(mu_);
    note_failure(address_failures_, from, now);
    if (!user.ok()) {
      note_failure(unknown_name_failures_, name, now);
      return kWrong;
    }
    TRY(note_account_failure(*user, now));
    return kWrong;
  }
  TRY(clear_login_failures(store, *user));
  if (password_needs_rehash(user->password_hash)) {  // made with older costs: remade with today's
    if (auto rehashed = hash_password(password); rehashed.ok()) (void)store.set_password_hash(user->id, *rehashed);
  }
  LoginResult result{core_.random.token(32), now + o.token_ttl};
  TRY(store.insert_token({token_hash(result.token), user->id, now, result.expires_at}));
  (void)store.delete_expired_tokens(now);
  return result;
}

Identity::Failures Identity::failures_of(const store::UserRecord& user) {
  return {static_cast<int>(user.failed_logins), user.last_failed_at};
}

Result<void> Identity::note_account_failure(store::UserRecord& user, WallTime now) {
  user.failed_logins += 1;
  user.last_failed_at = now;
  // Shown as the user's locked_until: when the account takes its next attempt.
  user.locked_until = next_attempt(failures_of(user), core_.options.login_delay_after);
  return core_.store.set_login_state(user);
}

Result<void> Identity::check_current_password(store::UserRecord& user, const std::optional<std::string>& current) {
  if (!current) {
    return Error::InvalidArgument("changing your own password needs current_password: the password you have now");
  }
  WallTime now = core_.clock.now();
  if (WallTime until = next_attempt(failures_of(user), core_.options.login_delay_after); now < until) {
    return too_soon("for this account", until, now);
  }
  if (!verify_password(user.password_hash, *current)) {
    TRY(note_account_failure(user, now));
    return Error::PermissionDenied("current_password is not your password");
  }
  return clear_login_failures(core_.store, user);
}

WallTime Identity::next_attempt(const Failures& f, int free) const {
  int over = f.count - free;
  if (over < 0) return WallTime{};
  auto delay = std::min<std::chrono::seconds>(std::chrono::seconds(int64_t{1} << std::min(over, 30)),
                                              core_.options.login_max_delay);
  return f.last + delay;
}

void Identity::note_failure(std::unordered_map<std::string, Failures>& table, const std::string& key, WallTime now) {
  constexpr size_t kMaxEntries = 10000;
  if (table.size() >= kMaxEntries && !table.contains(key)) {
    // Entries whose every delay has passed say nothing more; if even that
    // frees nothing, the oldest news goes.
    std::erase_if(table, [&](const auto& e) { return now - e.second.last > core_.options.login_max_delay; });
    if (table.size() >= kMaxEntries) table.clear();
  }
  Failures& f = table[key];
  f.count += 1;
  f.last = now;
}

Result<void> reset_password(store::Store& store, std::string_view username, std::string_view password) {
  auto named = TRY(accounts_named(store, username));
  if (named.empty()) return Error::NotFound("user", username);
  if (named.size() > 1) {
    return Error::InvalidArgument(
        fmt::format("{} users are called '{}': name one as {}@TENANT", named.size(), username, username));
  }
  auto& user = named[0];
  TRY(check_password(password, user.username));
  TRY(store.set_password_hash(user.id, TRY(hash_password(password))));
  TRY(clear_login_failures(store, user));
  return store.delete_user_tokens(user.id, "");
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

Result<TenantView> Identity::view(store::TenantRecord tenant) {
  auto usage = TRY(core_.store.tenant_allocation(tenant.id));
  return TenantView{std::move(tenant), usage};
}

Result<std::vector<TenantView>> Identity::tenants(const Principal& who) {
  std::vector<store::TenantRecord> records;
  if (who.admin()) {
    records = TRY(core_.store.tenants());
  } else if (auto t = core_.store.tenant(who.tenant_id); t.ok()) {
    records.push_back(std::move(*t));
  }
  std::vector<TenantView> views;
  views.reserve(records.size());
  for (auto& t : records) views.push_back(TRY(view(std::move(t))));
  return views;
}

Result<TenantView> Identity::tenant(const Principal& who, std::string_view id) {
  return view(TRY(visible_tenant(core_.store, who, id)));
}

Result<TenantView> Identity::set_quota(const Principal& who, std::string_view id, const store::Quota& quota) {
  TRY(require_admin(who));
  if (quota.desktops < 0 || quota.vcpus < 0 || quota.memory_mb < 0 || quota.disk_gb < 0) {
    return Error::InvalidArgument("a quota's limits are 0 (none) or more");
  }
  TRY(core_.store.set_tenant_quota(id, quota));
  spdlog::info("tenant {}: quota set by {}: {} desktops, {} vCPUs, {} MiB, {} GB (0: no limit)", id, who.username,
               quota.desktops, quota.vcpus, quota.memory_mb, quota.disk_gb);
  core_.poke_broker();
  return view(TRY(core_.store.tenant(id)));
}

Result<TenantView> Identity::set_audit_policy(const Principal& who, std::string_view id,
                                              const AuditPolicyChange& change) {
  TRY(require_admin(who));
  auto tenant = TRY(core_.store.tenant(id));
  store::AuditPolicy& policy = tenant.audit;
  if (change.retention_days) policy.retention_days = *change.retention_days;
  if (change.legal_hold) policy.legal_hold = *change.legal_hold;
  if (policy.retention_days < 0) return Error::InvalidArgument("retention_days is 0 (for ever) or more");
  TRY(core_.store.set_tenant_audit_policy(id, policy));
  spdlog::info("tenant {}: audit kept {} by {}{}", id,
               policy.retention_days > 0 ? fmt::format("{} days", policy.retention_days) : "for ever", who.username,
               policy.legal_hold ? ", under a legal hold" : "");
  return view(std::move(tenant));
}

Result<void> Identity::delete_tenant(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  return core_.store.delete_tenant(id);
}

Result<store::UserRecord> Identity::create_user(const Principal& who, CreateUser cmd) {
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("only administrators create users");
  TRY(check_username(cmd.username));
  TRY(check_password(cmd.password, cmd.username));
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
    return Error::Conflict(u.tenant_id.empty() ? fmt::format("an admin is called '{}' already", u.username)
                                               : fmt::format("the tenant has a user called '{}' already", u.username));
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
    // A stolen token alone does not take the account over.
    if (self) TRY(check_current_password(user, cmd.current_password));
    TRY(check_password(*cmd.password, user.username));
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
    TRY(clear_login_failures(core_.store, user));
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
