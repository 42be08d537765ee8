#include "views.h"

namespace oriel::api::view {
namespace {

// Objects are filled with operator[] rather than built from initializer
// lists: that halves the cost of a 1,000-desktop list.

std::optional<std::string> unless_empty(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}
std::optional<WallTime> unless_epoch(WallTime t) { return t == WallTime{} ? std::nullopt : std::optional<WallTime>(t); }

Json or_null(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }
Json or_null(const std::optional<WallTime>& t) { return t ? Json(format_rfc3339(*t)) : Json(nullptr); }

}  // namespace

Image Image::of(const store::ImageRecord& i) {
  auto boot = parse_json(i.boot_json);
  return {i.id,
          i.name,
          i.state,
          i.progress,
          unless_empty(i.source_path),
          i.requested_format,
          unless_empty(i.source_format),
          unless_empty(i.tenant_id),
          i.shared,
          i.virtual_size_bytes,
          i.size_bytes,
          boot.ok() ? *boot : Json::object(),
          unless_empty(i.error),
          i.created_at,
          i.updated_at};
}

Json Image::json() const {
  Json j(Json::value_t::object);
  j["id"] = id;
  j["name"] = name;
  j["state"] = state;
  j["progress"] = progress;
  j["source_path"] = or_null(source_path);
  j["tenant_id"] = or_null(tenant_id);
  j["shared"] = shared;
  j["format"] = format;
  j["source_format"] = or_null(source_format);
  j["virtual_size_bytes"] = virtual_size_bytes;
  j["size_bytes"] = size_bytes;
  j["boot"] = boot;
  j["error"] = or_null(error);
  j["created_at"] = format_rfc3339(created_at);
  j["updated_at"] = format_rfc3339(updated_at);
  return j;
}

Migration Migration::of(const controller::MigrationView& m) {
  return {m.source_host, m.target_host, m.active, m.progress, m.started_at};
}

Json Migration::json() const {
  Json j = progress.to_json();
  j["source_host_id"] = source_host_id;
  j["target_host_id"] = target_host_id;
  j["active"] = active;
  j["started_at"] = format_rfc3339(started_at);
  return j;
}

Desktop Desktop::of(const store::DesktopRecord& d) {
  Desktop v;
  v.id = d.id;
  v.name = d.name;
  v.state = std::string(controller::public_state_name(d));
  v.desired_state = d.desired;
  v.pending_action = unless_empty(d.pending_op);
  v.host_id = unless_empty(d.host_id);
  v.pool_id = unless_empty(d.pool_id);
  v.tenant_id = unless_empty(d.tenant_id);
  v.assigned_user = unless_empty(d.assigned_user);
  v.image_id = d.image_id;
  v.vcpus = d.vcpus;
  v.memory_mb = d.memory_mb;
  v.error = unless_empty(d.error);
  v.created_at = d.created_at;
  v.updated_at = d.updated_at;
  return v;
}

Json Desktop::json() const {
  Json j(Json::value_t::object);
  j["id"] = id;
  j["name"] = name;
  j["state"] = state;
  j["desired_state"] = desired_state;
  j["pending_action"] = or_null(pending_action);
  j["host_id"] = or_null(host_id);
  j["pool_id"] = or_null(pool_id);
  j["tenant_id"] = or_null(tenant_id);
  j["assigned_user"] = or_null(assigned_user);
  j["image_id"] = image_id;
  j["vcpus"] = vcpus;
  j["memory_mb"] = memory_mb;
  j["error"] = or_null(error);
  j["created_at"] = format_rfc3339(created_at);
  j["updated_at"] = format_rfc3339(updated_at);
  if (migration) j["migration"] = migration->json();
  return j;
}

Host Host::of(const controller::HostView& v) {
  const auto& h = v.host;
  return {h.id,
          h.name,
          h.state,
          h.accelerator,
          h.cpus,
          h.memory_mb,
          v.cpus_allocated,
          v.memory_allocated_mb,
          v.desktops,
          h.last_heartbeat_at};
}

Json Host::json() const {
  Json j(Json::value_t::object);
  j["id"] = id;
  j["name"] = name;
  j["state"] = state;
  j["accelerator"] = accelerator;
  j["cpus"] = cpus;
  j["memory_mb"] = memory_mb;
  j["cpus_allocated"] = cpus_allocated;
  j["memory_allocated_mb"] = memory_allocated_mb;
  j["desktops"] = desktops;
  j["last_heartbeat_at"] = format_rfc3339(last_heartbeat_at);
  return j;
}

Tenant Tenant::of(const controller::TenantView& t) {
  return {t.tenant.id, t.tenant.name, t.tenant.created_at, t.tenant.quota, t.tenant.audit, t.usage};
}

Json Tenant::json() const {
  constexpr int64_t kGB = int64_t{1} << 30;
  auto limit = [](int64_t n) { return n > 0 ? Json(n) : Json(nullptr); };
  Json j(Json::value_t::object);
  j["id"] = id;
  j["name"] = name;
  j["created_at"] = format_rfc3339(created_at);
  j["quota"] = {{"desktops", limit(quota.desktops)},
                {"vcpus", limit(quota.vcpus)},
                {"memory_mb", limit(quota.memory_mb)},
                {"disk_gb", limit(quota.disk_gb)}};
  j["usage"] = {{"desktops", usage.desktops},
                {"vcpus", usage.vcpus},
                {"memory_mb", usage.memory_mb},
                {"disk_gb", static_cast<double>(usage.disk_bytes) / kGB}};
  j["audit"] = {{"retention_days", limit(audit.retention_days)}, {"legal_hold", audit.legal_hold}};
  return j;
}

User User::of(const store::UserRecord& u) {
  return {u.id, u.username, u.role, unless_empty(u.tenant_id), unless_epoch(u.locked_until), u.created_at};
}

Json User::json() const {
  Json j(Json::value_t::object);
  j["id"] = id;
  j["username"] = username;
  j["role"] = role;
  j["tenant_id"] = or_null(tenant_id);
  j["locked_until"] = or_null(locked_until);
  j["created_at"] = format_rfc3339(created_at);
  return j;
}

Pool Pool::of(const controller::PoolView& v) {
  const auto& p = v.pool;
  Pool o;
  o.id = p.id;
  o.name = p.name;
  o.tenant_id = p.tenant_id;
  o.image_id = p.image_id;
  o.type = p.type;
  o.size = p.size;
  o.spare = p.spare;
  o.vcpus = p.vcpus;
  o.memory_mb = p.memory_mb;
  o.idle_timeout_s = p.idle_timeout_s;
  o.provisioning = p.provisioning;
  o.clipboard = p.clipboard;
  o.network = p.network;
  o.state = p.state;
  o.desktops = v.desktops;
  o.assigned = v.assigned;
  o.free = v.free;
  o.running_free = v.running_free;
  o.sessions = v.sessions;
  o.message = unless_empty(p.message);
  o.created_at = p.created_at;
  o.updated_at = p.updated_at;
  return o;
}

Json Pool::json() const {
  Json j(Json::value_t::object);
  j["id"] = id;
  j["name"] = name;
  j["tenant_id"] = tenant_id;
  j["image_id"] = image_id;
  j["type"] = type;
  j["size"] = size;
  j["spare"] = spare;
  j["vcpus"] = vcpus;
  j["memory_mb"] = memory_mb;
  j["idle_timeout_s"] = idle_timeout_s;
  j["provisioning"] = provisioning;
  j["clipboard"] = clipboard;
  j["network"] = network;
  j["state"] = state;
  j["desktops"] = desktops;
  j["assigned"] = assigned;
  j["free"] = free;
  j["running_free"] = running_free;
  j["sessions"] = sessions;
  j["message"] = or_null(message);
  j["created_at"] = format_rfc3339(created_at);
  j["updated_at"] = format_rfc3339(updated_at);
  return j;
}

Entitlement Entitlement::of(const std::string& pool_id, const store::UserRecord& u) {
  return {pool_id, u.id, u.username, u.tenant_id};
}

Json Entitlement::json() const {
  return {{"pool_id", pool_id}, {"user_id", user_id}, {"username", username}, {"tenant_id", tenant_id}};
}

Session Session::of(const controller::SessionView& v, std::string_view websocket_base) {
  const auto& s = v.session;
  Session o{s.id,
            s.pool_id,
            s.tenant_id,
            s.user_id,
            v.username,
            s.desktop_id,
            s.state,
            s.client_address,
            s.created_at,
            s.last_activity_at,
            unless_epoch(s.ended_at)};
  if (v.ticket) {
    o.display_url = fmt::format("{}/display/{}?ticket={}", websocket_base, s.id, v.ticket->ticket);
    o.ticket_expires_at = v.ticket->expires_at;
  }
  return o;
}

Json Session::json() const {
  Json j(Json::value_t::object);
  j["id"] = id;
  j["pool_id"] = pool_id;
  j["tenant_id"] = tenant_id;
  j["user_id"] = user_id;
  j["username"] = username;
  j["desktop_id"] = desktop_id;
  j["state"] = state;
  j["client_address"] = client_address;
  j["created_at"] = format_rfc3339(created_at);
  j["last_activity_at"] = format_rfc3339(last_activity_at);
  j["ended_at"] = or_null(ended_at);
  if (display_url) {
    j["display_url"] = *display_url;
    j["ticket_expires_at"] = or_null(ticket_expires_at);
  }
  return j;
}

Json audit_archive_json(const store::AuditArchive& a) {
  return {{"tenant_id", or_null(unless_empty(a.tenant_id))},
          {"first_seq", a.first_seq},
          {"last_seq", a.last_seq},
          {"events", a.events},
          {"file", a.file},
          {"sha256", a.sha256},
          {"archived_at", format_rfc3339(a.archived_at)}};
}

AuditEvent AuditEvent::of(const store::AuditEvent& e) {
  return {
      e.seq,    e.at,     unless_empty(e.tenant_id), unless_empty(e.user_id), e.username, e.action, e.target, e.address,
      e.status, e.result, unless_empty(e.detail)};
}

Json AuditEvent::json() const {
  Json j(Json::value_t::object);
  j["seq"] = seq;
  j["at"] = format_rfc3339(at);
  j["tenant_id"] = or_null(tenant_id);
  j["user_id"] = or_null(user_id);
  j["username"] = username;
  j["action"] = action;
  j["target"] = target;
  j["address"] = address;
  j["status"] = status;
  j["result"] = result;
  j["detail"] = or_null(detail);
  return j;
}

Json usage_json(const controller::UsageReport& r) {
  Json desktops = Json::array(), sessions = Json::array();
  for (const auto& d : r.desktops) {
    desktops.push_back({{"day", d.day},
                        {"tenant_id", or_null(unless_empty(d.tenant_id))},
                        {"pool_id", or_null(unless_empty(d.pool_id))},
                        {"desktop_hours", d.hours}});
  }
  for (const auto& s : r.sessions) {
    sessions.push_back({{"day", s.day},
                        {"tenant_id", s.tenant_id},
                        {"user_id", s.user_id},
                        {"username", s.username},
                        {"session_hours", s.hours}});
  }
  return {{"from", r.from_day}, {"to", r.to_day}, {"desktops", desktops}, {"sessions", sessions}};
}

namespace {

// RFC 4180: a field with a comma, quote or line break is quoted, quotes
// doubled. A field a spreadsheet would run as a formula (=, +, -, @, or a
// tab or carriage return first: OWASP's list) gets a ' in front, so a user
// named =HYPERLINK(...) stays text in the administrator's spreadsheet.
std::string csv_field(std::string_view s) {
  std::string text = !s.empty() && std::string_view("=+-@\t\r").find(s.front()) != std::string_view::npos
                         ? "'" + std::string(s)
                         : std::string(s);
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string usage_csv(const controller::UsageReport& r) {
  std::string out = "kind,day,tenant_id,pool_id,user_id,username,hours\r\n";
  for (const auto& d : r.desktops) {
    out += fmt::format("desktop,{},{},{},,,{:.4f}\r\n", d.day, csv_field(d.tenant_id), csv_field(d.pool_id), d.hours);
  }
  for (const auto& s : r.sessions) {
    out += fmt::format("session,{},{},,{},{},{:.4f}\r\n", s.day, csv_field(s.tenant_id), csv_field(s.user_id),
                       csv_field(s.username), s.hours);
  }
  return out;
}

}  // namespace oriel::api::view
