#include "parse.h"

#include <algorithm>
#include <charconv>

#include "oriel/net/pki.h"

namespace oriel::api {

Result<Credentials> parse_login(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"username", "password"}));
  return Credentials{TRY(json_string(j, "username")), TRY(json_string(j, "password"))};
}

Result<std::chrono::seconds> parse_join_token(std::string_view body) {
  if (body.empty()) return std::chrono::seconds(3600);
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"ttl_s"}));
  // The controller says which lifetimes it takes; this only keeps it a number.
  return std::chrono::seconds(TRY(json_opt_int(j, "ttl_s", 0, int64_t{1} << 31)).value_or(3600));
}

Result<JoinRequest> parse_join(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"token", "host_name", "address", "csr"}));
  JoinRequest r;
  r.token = TRY(json_string(j, "token"));
  r.host_name = TRY(json_string(j, "host_name"));
  r.address = TRY(json_string(j, "address"));
  r.csr = TRY(json_string(j, "csr"));
  return r;
}

Result<RenewRequest> parse_renew(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"address", "csr"}));
  RenewRequest r;
  r.address = TRY(json_string(j, "address"));
  r.csr = TRY(json_string(j, "csr"));
  return r;
}

Result<controller::CreateImage> parse_create_image(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"name", "source_path", "format", "boot", "tenant_id", "shared"}));
  controller::CreateImage cmd;
  cmd.name = TRY(json_string(j, "name"));
  cmd.source_path = TRY(json_string(j, "source_path"));
  cmd.format = TRY(json_opt_string(j, "format")).value_or("auto");
  if (j.contains("boot")) cmd.boot = TRY(agent::BootSpec::from_json(j["boot"]));
  cmd.tenant_id = TRY(json_opt_string(j, "tenant_id")).value_or("");
  cmd.shared = TRY(json_opt_bool(j, "shared")).value_or(false);
  return cmd;
}

Result<controller::UpdateImage> parse_update_image(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"name", "shared"}));
  controller::UpdateImage cmd;
  cmd.name = TRY(json_opt_string(j, "name"));
  cmd.shared = TRY(json_opt_bool(j, "shared"));
  return cmd;
}

Result<controller::CreateDesktop> parse_create_desktop(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"name", "image_id", "vcpus", "memory_mb", "start"}));
  controller::CreateDesktop cmd;
  cmd.name = TRY(json_string(j, "name"));
  cmd.image_id = TRY(json_string(j, "image_id"));
  cmd.vcpus = static_cast<int>(TRY(json_int(j, "vcpus", 1, 512)));
  cmd.memory_mb = static_cast<int>(TRY(json_int(j, "memory_mb", 64, 16 * 1024 * 1024)));
  cmd.start = TRY(json_opt_bool(j, "start")).value_or(true);
  return cmd;
}

Result<std::string> parse_migrate(const std::string& body) {
  if (body.empty()) return std::string();
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"host_id"}));
  return TRY(json_opt_string(j, "host_id")).value_or("");
}

Result<controller::HostAction> parse_host_action(std::string_view action) {
  if (action == "maintenance") return controller::HostAction::kMaintenance;
  if (action == "activate") return controller::HostAction::kActivate;
  return Error::NotFound("action", action);
}

Result<controller::DesktopAction> parse_action(std::string_view action) {
  using controller::DesktopAction;
  if (action == "start") return DesktopAction::kStart;
  if (action == "stop") return DesktopAction::kStop;
  if (action == "reboot") return DesktopAction::kReboot;
  if (action == "reset") return DesktopAction::kReset;
  return Error::NotFound("action", action);
}

}  // namespace oriel::api

namespace oriel::api {

Result<std::string> parse_create_tenant(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"name"}));
  return json_string(j, "name");
}

// Whether a Host header is a host and an optional port, nothing more: a DNS
// name or an address ([…] for IPv6), then ":" and 1 to 5 digits.
bool is_host_and_port(std::string_view host) {
  std::string_view name = host, port;
  if (host.starts_with('[')) {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(1, close - 1);
    port = host.substr(close + 1);
    if (!port.empty() && !port.starts_with(':')) return false;
    if (name.find(':') == std::string_view::npos) return false;  // only IPv6 goes in brackets
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon);
  }
  if (!port.empty()) {
    port.remove_prefix(1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
  }
  return net::is_certificate_name(name);
}

namespace {

Result<store::Quota> parse_quota(const Json& q) {
  if (!q.is_object()) {
    return Error::InvalidArgument(
        "field 'quota' must be an object: {\"desktops\",\"vcpus\",\"memory_mb\",\"disk_gb\"}");
  }
  TRY(json_only_fields(q, {"desktops", "vcpus", "memory_mb", "disk_gb"}));
  // Absent or null: no limit.
  auto limit = [&q](std::string_view field) -> Result<int64_t> {
    if (!q.contains(field) || q[field].is_null()) return int64_t{0};
    return json_int(q, field, 0, int64_t{1} << 40);
  };
  store::Quota quota;
  quota.desktops = TRY(limit("desktops"));
  quota.vcpus = TRY(limit("vcpus"));
  quota.memory_mb = TRY(limit("memory_mb"));
  quota.disk_gb = TRY(limit("disk_gb"));
  return quota;
}

Result<controller::AuditPolicyChange> parse_audit_policy(const Json& a) {
  if (!a.is_object())
    return Error::InvalidArgument("field 'audit' must be an object: {\"retention_days\",\"legal_hold\"}");
  TRY(json_only_fields(a, {"retention_days", "legal_hold"}));
  controller::AuditPolicyChange change;
  if (a.contains("retention_days")) {
    change.retention_days = a["retention_days"].is_null() ? 0 : TRY(json_int(a, "retention_days", 0, 100 * 366));
  }
  change.legal_hold = TRY(json_opt_bool(a, "legal_hold"));
  return change;
}

}  // namespace

Result<TenantPatch> parse_tenant_patch(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"quota", "audit"}));
  TenantPatch patch;
  if (j.contains("quota")) patch.quota = TRY(parse_quota(j["quota"]));
  if (j.contains("audit")) patch.audit = TRY(parse_audit_policy(j["audit"]));
  if (!patch.quota && !patch.audit) return Error::InvalidArgument("give 'quota', 'audit' or both");
  return patch;
}

Result<controller::CreateUser> parse_create_user(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"username", "password", "role", "tenant_id"}));
  controller::CreateUser cmd;
  cmd.username = TRY(json_string(j, "username"));
  cmd.password = TRY(json_string(j, "password"));
  cmd.role = TRY(json_string(j, "role"));
  cmd.tenant_id = TRY(json_opt_string(j, "tenant_id")).value_or("");
  return cmd;
}

Result<controller::UpdateUser> parse_update_user(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"password", "current_password", "unlock"}));
  controller::UpdateUser cmd;
  cmd.password = TRY(json_opt_string(j, "password"));
  cmd.current_password = TRY(json_opt_string(j, "current_password"));
  cmd.unlock = TRY(json_opt_bool(j, "unlock")).value_or(false);
  return cmd;
}

namespace {
constexpr int64_t kMaxMemoryMb = 16 * 1024 * 1024;
}  // namespace

Result<controller::CreatePool> parse_create_pool(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"name", "tenant_id", "image_id", "type", "size", "spare", "vcpus", "memory_mb",
                           "idle_timeout_s", "provisioning", "clipboard", "network"}));
  controller::CreatePool cmd;
  cmd.name = TRY(json_string(j, "name"));
  cmd.tenant_id = TRY(json_opt_string(j, "tenant_id")).value_or("");
  cmd.image_id = TRY(json_string(j, "image_id"));
  cmd.type = TRY(json_string(j, "type"));
  cmd.size = TRY(json_int(j, "size", 0, 10000));
  cmd.spare = TRY(json_int(j, "spare", 0, 10000));
  cmd.vcpus = TRY(json_int(j, "vcpus", 1, 512));
  cmd.memory_mb = TRY(json_int(j, "memory_mb", 64, kMaxMemoryMb));
  cmd.idle_timeout_s = TRY(json_opt_int(j, "idle_timeout_s", 0, 365 * 86400)).value_or(0);
  cmd.provisioning = TRY(json_opt_string(j, "provisioning")).value_or("on-demand");
  cmd.clipboard = TRY(json_opt_string(j, "clipboard")).value_or("both");
  cmd.network = TRY(json_opt_string(j, "network")).value_or("isolated");
  return cmd;
}

Result<controller::UpdatePool> parse_update_pool(std::string_view body) {
  auto j = TRY(parse_json(body));
  for (const char* fixed : {"type", "tenant_id"}) {
    if (j.is_object() && j.contains(fixed)) {
      return Error::Unprocessable(fmt::format("a pool's {} cannot change: create another pool", fixed));
    }
  }
  TRY(json_only_fields(j, {"name", "image_id", "size", "spare", "vcpus", "memory_mb", "idle_timeout_s", "provisioning",
                           "clipboard", "network"}));
  controller::UpdatePool cmd;
  cmd.name = TRY(json_opt_string(j, "name"));
  cmd.image_id = TRY(json_opt_string(j, "image_id"));
  cmd.size = TRY(json_opt_int(j, "size", 0, 10000));
  cmd.spare = TRY(json_opt_int(j, "spare", 0, 10000));
  cmd.vcpus = TRY(json_opt_int(j, "vcpus", 1, 512));
  cmd.memory_mb = TRY(json_opt_int(j, "memory_mb", 64, kMaxMemoryMb));
  cmd.idle_timeout_s = TRY(json_opt_int(j, "idle_timeout_s", 0, 365 * 86400));
  cmd.provisioning = TRY(json_opt_string(j, "provisioning"));
  cmd.clipboard = TRY(json_opt_string(j, "clipboard"));
  cmd.network = TRY(json_opt_string(j, "network"));
  return cmd;
}

Result<std::string> parse_id_field(std::string_view body, std::string_view field) {
  auto j = TRY(parse_json(body));
  if (!j.is_object() || j.size() != 1)
    return Error::InvalidArgument(fmt::format("the body must be {{\"{}\": ...}}", field));
  return json_string(j, field);
}

Result<store::AuditFilter> parse_audit_query(const std::map<std::string, std::string>& q) {
  store::AuditFilter f;
  auto get = [&](const char* key) -> const std::string* {
    auto it = q.find(key);
    return it == q.end() ? nullptr : &it->second;
  };
  if (auto* v = get("tenant_id")) f.tenant_id = *v;
  if (auto* v = get("user_id")) f.user_id = *v;
  if (auto* v = get("action")) f.action = *v;
  auto time = [](std::string_view name, const std::string& text) -> Result<WallTime> {
    auto t = parse_rfc3339(text);
    if (!t.ok()) return Error::InvalidArgument(fmt::format("{} '{}' is not an RFC 3339 time", name, text));
    return t;
  };
  if (auto* v = get("since")) f.since = TRY(time("since", *v));
  if (auto* v = get("until")) f.until = TRY(time("until", *v));
  if (auto* v = get("limit")) f.limit = TRY(parse_query_int("limit", *v, 1, 1000));
  if (auto* v = get("before")) f.before_seq = TRY(parse_query_int("before", *v, 1, INT64_MAX));
  return f;
}

Result<int64_t> parse_query_int(std::string_view name, std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return Error::InvalidArgument(fmt::format("{} must be an integer from {} to {}", name, min, max));
  }
  return v;
}

}  // namespace oriel::api
