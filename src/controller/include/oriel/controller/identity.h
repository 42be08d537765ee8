// Who may sign in, and in which tenant: sign-in with throttling and lockout,
// bearer tokens, tenants and users with their roles.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/common/clock.h"
#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/records.h"

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

struct UpdateUser {
  // A new password ends the user's other sign-ins: every token but
  // `keep_token` (the caller's own, when they change their own password) is
  // revoked, and their open display sessions are disconnected.
  std::optional<std::string> password;
  bool unlock = false;
  std::string keep_token;
};

// Every method taking a Principal enforces its role: an object of another
// tenant is NotFound, exactly as if it did not exist; an action the role may
// never take is PermissionDenied. Thread-safe.
class Identity {
 public:
  Identity(Core& core, Sessions& sessions) : core_(core), sessions_(sessions) {}
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  // Every failure is the same Unauthenticated answer after the same work,
  // whether the user is unknown, throttled, locked or mistyped.
  Result<LoginResult> login(std::string_view username, std::string_view password);
  Result<void> logout(std::string_view token);
  Result<Principal> authenticate(std::string_view token);

  Result<store::TenantRecord> create_tenant(const Principal& who, std::string name);
  Result<std::vector<store::TenantRecord>> tenants(const Principal& who);
  Result<store::TenantRecord> tenant(const Principal& who, std::string_view id);
  Result<void> delete_tenant(const Principal& who, std::string_view id);  // Conflict while it has users or pools

  Result<store::UserRecord> create_user(const Principal& who, CreateUser cmd);
  Result<std::vector<store::UserRecord>> users(const Principal& who, std::string_view tenant_id);
  Result<store::UserRecord> user(const Principal& who, std::string_view id);
  Result<store::UserRecord> update_user(const Principal& who, std::string_view id, UpdateUser cmd);
  // Logs the user's sessions off and deletes their persistent desktops first.
  Result<void> delete_user(const Principal& who, std::string_view id);

 private:
  WallTime next_login_allowed(const store::UserRecord& user) const;

  Core& core_;
  Sessions& sessions_;
};

}  // namespace oriel::controller
