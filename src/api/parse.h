// Request bodies → controller commands. Pure functions: unit-tested without
// a server. Each rejects unknown fields and wrong types with a message that
// names the field.
#pragma once

#include <chrono>
#include <map>
#include <optional>

#include "oriel/common/json.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

struct Credentials {
  std::string username;
  std::string password;
};

Result<Credentials> parse_login(std::string_view body);

// The cluster's PKI: a join token's lifetime (`{"ttl_s"?}`, or no body: one
// hour), an agent's join and its renewal.
Result<std::chrono::seconds> parse_join_token(std::string_view body);
struct JoinRequest {
  std::string token, host_name, address, csr;
};
Result<JoinRequest> parse_join(std::string_view body);
struct RenewRequest {
  std::string address, csr;
};
Result<RenewRequest> parse_renew(std::string_view body);
Result<controller::CreateImage> parse_create_image(std::string_view body);
Result<controller::UpdateImage> parse_update_image(std::string_view body);
// Whether a Host header is a host and an optional port, nothing more: a DNS
// name or an address ([…] for IPv6), then ":" and 1 to 5 digits.
bool is_host_and_port(std::string_view host);
// PATCH /api/v1/tenants/{id}: {"quota"?: {"desktops"?,"vcpus"?,"memory_mb"?,"disk_gb"?}} (absent or null is no
// limit), {"audit"?: {"retention_days"?,"legal_hold"?}} (absent keeps the tenant's value; null days is 0).
struct TenantPatch {
  std::optional<store::Quota> quota;
  std::optional<controller::AuditPolicyChange> audit;
};
Result<TenantPatch> parse_tenant_patch(std::string_view body);
Result<controller::CreateDesktop> parse_create_desktop(std::string_view body);
Result<controller::DesktopAction> parse_action(std::string_view action);
// The body of a migrate action: {"host_id"?} (or none) → the chosen host, or "".
Result<std::string> parse_migrate(const std::string& body);
Result<controller::HostAction> parse_host_action(std::string_view action);

Result<std::string> parse_create_tenant(std::string_view body);  // the name
Result<controller::CreateUser> parse_create_user(std::string_view body);
Result<controller::UpdateUser> parse_update_user(std::string_view body);
Result<controller::CreatePool> parse_create_pool(std::string_view body);
Result<controller::UpdatePool> parse_update_pool(std::string_view body);
// A body of exactly one string field: {"user_id": "u-1"}, {"pool_id": "p-1"}.
Result<std::string> parse_id_field(std::string_view body, std::string_view field);
// GET /api/v1/audit's query: tenant_id, user_id, action, since, until, limit, before.
Result<store::AuditFilter> parse_audit_query(const std::map<std::string, std::string>& query);
Result<int64_t> parse_query_int(std::string_view name, std::string_view text, int64_t min, int64_t max);

}  // namespace oriel::api
