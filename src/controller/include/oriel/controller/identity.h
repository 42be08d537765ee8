// Who may sign in, and in which tenant: sign-in with throttling,
// bearer tokens, tenants and users with their roles.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "oriel/common/clock.h"
#include "oriel/common/mutex.h"
#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/records.h"

namespace oriel::store {
class Store;
}

namespace oriel::controller {

struct Core;
class Sessions;

struct LoginResult {
  std::string token;
  WallTime expires_at;
};

struct CreateUser {
  std::string username;
  std::string password;
  std::string role;       // admin | tenant-admin | user
  std::string tenant_id;  // required for the tenant roles; a tenant-admin's own when empty
};

// A change of a tenant's audit policy (store::AuditPolicy): what is left
// out stays as it is.
struct AuditPolicyChange {
  std::optional<int64_t> retention_days;  // 0: for ever
  std::optional<bool> legal_hold;
};

// A tenant with what its desktops hold, as its quota counts it.
struct TenantView {
  store::TenantRecord tenant;
  store::TenantAllocation usage;
};

struct UpdateUser {
  // A new password ends the user's other sign-ins: every token but
  // `keep_token` (the caller's own, when they change their own password) is
  // revoked, and their open display sessions are disconnected.
  std::optional<std::string> password;
  // The password the user has now: needed when they change their own.
  std::optional<std::string> current_password;
  bool unlock = false;
  std::string keep_token;
};

// The recovery path when no one can sign in (`orield admin reset-password`),
// straight on the store: sets `username`'s password, clears its failed
// logins and revokes all its tokens.
Result<void> reset_password(store::Store& store, std::string_view username, std::string_view password);

// Every method taking a Principal enforces its role: an object of another
// tenant is NotFound, exactly as if it did not exist; an action the role may
// never take is PermissionDenied. Thread-safe.
class Identity {
 public:
  Identity(Core& core, Sessions& sessions) : core_(core), sessions_(sessions) {}
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  // A wrong password and an unknown user are the same Unauthenticated answer
  // after the same work. Failures slow further attempts down (docs/api.md,
  // "Failed logins"), for the account and for the client `address`, with
  // RateLimited answers that say when to try again; known and unknown names
  // are throttled alike. An admin signing in from a loopback address skips
  // the account's throttle (never the address's): a stranger's guesses
  // cannot shut the break-glass account out of its own machine.
  Result<LoginResult> login(std::string_view username, std::string_view password, std::string_view address);
  Result<void> logout(std::string_view token);
  Result<Principal> authenticate(std::string_view token);

  Result<store::TenantRecord> create_tenant(const Principal& who, std::string name);
  Result<std::vector<TenantView>> tenants(const Principal& who);
  Result<TenantView> tenant(const Principal& who, std::string_view id);
  // Admins set a tenant's quota; desktops it holds beyond a lowered one stay.
  Result<TenantView> set_quota(const Principal& who, std::string_view id, const store::Quota& quota);
  // Admins set how long a tenant's audit events stay, and its legal hold.
  Result<TenantView> set_audit_policy(const Principal& who, std::string_view id, const AuditPolicyChange& change);
  // Conflict while it has users, pools or images.
  Result<void> delete_tenant(const Principal& who, std::string_view id);

  Result<store::UserRecord> create_user(const Principal& who, CreateUser cmd);
  Result<std::vector<store::UserRecord>> users(const Principal& who, std::string_view tenant_id);
  Result<store::UserRecord> user(const Principal& who, std::string_view id);
  Result<store::UserRecord> update_user(const Principal& who, std::string_view id, UpdateUser cmd);
  // Logs the user's sessions off and deletes their persistent desktops first.
  Result<void> delete_user(const Principal& who, std::string_view id);

 private:
  Result<TenantView> view(store::TenantRecord tenant);

  // Consecutive failed logins of an account, an unknown name or an address.
  struct Failures {
    int count = 0;
    WallTime last;
  };
  // When the next attempt is allowed after `f`, with `free` failures allowed
  // before any delay: 1 s, doubling with each further failure, at most
  // ControllerOptions::login_max_delay.
  WallTime next_attempt(const Failures& f, int free) const;
  static Failures failures_of(const store::UserRecord& user);
  // Counts a failed sign-in (or current password) against the account, in the store.
  Result<void> note_account_failure(store::UserRecord& user, WallTime now);
  // For a user changing their own password: the one they have now, under
  // the same throttle as their sign-ins (a wrong one counts as a failure).
  Result<void> check_current_password(store::UserRecord& user, const std::optional<std::string>& current);
  // Notes a failure in an in-memory table, which forgets entries older than
  // the longest delay once it grows large.
  void note_failure(std::unordered_map<std::string, Failures>& table, const std::string& key, WallTime now)
      ORIEL_REQUIRES(mu_);

  Core& core_;
  Sessions& sessions_;
  Mutex mu_;
  std::unordered_map<std::string, Failures> address_failures_ ORIEL_GUARDED_BY(mu_);
  std::unordered_map<std::string, Failures> unknown_name_failures_ ORIEL_GUARDED_BY(mu_);
};

}  // namespace oriel::controller
