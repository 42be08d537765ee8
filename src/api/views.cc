#include "views.h"

#include "oriel/common/clock.h"

namespace oriel::api {
namespace {

// Objects are filled with operator[] rather than built from initializer
// lists: that halves the cost of a 1,000-desktop list.

// Empty strings in the store are "none" in the API.
Json nullable(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

}  // namespace

Json image_json(const store::ImageRecord& i) {
  Json boot = Json::object();
  if (auto parsed = parse_json(i.boot_json); parsed.ok()) boot = *parsed;
  Json j(Json::value_t::object);
  j["id"] = i.id;
  j["name"] = i.name;
  j["state"] = i.state;
  j["progress"] = i.progress;
  j["source_path"] = i.source_path;
  j["format"] = i.requested_format;
  j["source_format"] = nullable(i.source_format);
  j["virtual_size_bytes"] = i.virtual_size_bytes;
  j["size_bytes"] = i.size_bytes;
  j["boot"] = boot;
  j["error"] = nullable(i.error);
  j["created_at"] = format_rfc3339(i.created_at);
  j["updated_at"] = format_rfc3339(i.updated_at);
  return j;
}

Json desktop_json(const store::DesktopRecord& d) {
  Json j(Json::value_t::object);
  j["id"] = d.id;
  j["name"] = d.name;
  j["state"] = controller::public_state_name(d);
  j["desired_state"] = d.desired;
  j["pending_action"] = nullable(d.pending_op);
  j["host_id"] = nullable(d.host_id);
  j["pool_id"] = nullable(d.pool_id);
  j["tenant_id"] = nullable(d.tenant_id);
  j["assigned_user"] = nullable(d.assigned_user);
  j["image_id"] = d.image_id;
  j["vcpus"] = d.vcpus;
  j["memory_mb"] = d.memory_mb;
  j["error"] = nullable(d.error);
  j["created_at"] = format_rfc3339(d.created_at);
  j["updated_at"] = format_rfc3339(d.updated_at);
  return j;
}

Json migration_json(const controller::MigrationView& m) {
  Json j = m.progress.to_json();
  j["source_host_id"] = m.source_host;
  j["target_host_id"] = m.target_host;
  j["active"] = m.active;
  j["started_at"] = format_rfc3339(m.started_at);
  return j;
}

Json host_json(const controller::HostView& v) {
  const auto& h = v.host;
  Json j(Json::value_t::object);
  j["id"] = h.id;
  j["name"] = h.name;
  j["state"] = h.state;
  j["accelerator"] = h.accelerator;
  j["cpus"] = h.cpus;
  j["memory_mb"] = h.memory_mb;
  j["cpus_allocated"] = v.cpus_allocated;
  j["memory_allocated_mb"] = v.memory_allocated_mb;
  j["desktops"] = v.desktops;
  j["last_heartbeat_at"] = format_rfc3339(h.last_heartbeat_at);
  return j;
}

Json tenant_json(const store::TenantRecord& t) {
  Json j(Json::value_t::object);
  j["id"] = t.id;
  j["name"] = t.name;
  j["created_at"] = format_rfc3339(t.created_at);
  return j;
}

Json user_json(const store::UserRecord& u) {
  Json j(Json::value_t::object);
  j["id"] = u.id;
  j["username"] = u.username;
  j["role"] = u.role;
  j["tenant_id"] = nullable(u.tenant_id);
  j["locked_until"] = u.locked_until == WallTime{} ? Json(nullptr) : Json(format_rfc3339(u.locked_until));
  j["created_at"] = format_rfc3339(u.created_at);
  return j;
}

Json pool_json(const controller::PoolView& v) {
  const auto& p = v.pool;
  Json j(Json::value_t::object);
  j["id"] = p.id;
  j["name"] = p.name;
  j["tenant_id"] = p.tenant_id;
  j["image_id"] = p.image_id;
  j["type"] = p.type;
  j["size"] = p.size;
  j["spare"] = p.spare;
  j["vcpus"] = p.vcpus;
  j["memory_mb"] = p.memory_mb;
  j["idle_timeout_s"] = p.idle_timeout_s;
  j["provisioning"] = p.provisioning;
  j["clipboard"] = p.clipboard;
  j["state"] = p.state;
  j["desktops"] = v.desktops;
  j["assigned"] = v.assigned;
  j["free"] = v.free;
  j["running_free"] = v.running_free;
  j["sessions"] = v.sessions;
  j["message"] = nullable(p.message);
  j["created_at"] = format_rfc3339(p.created_at);
  j["updated_at"] = format_rfc3339(p.updated_at);
  return j;
}

Json session_json(const controller::SessionView& v) {
  const auto& s = v.session;
  Json j(Json::value_t::object);
  j["id"] = s.id;
  j["pool_id"] = s.pool_id;
  j["tenant_id"] = s.tenant_id;
  j["user_id"] = s.user_id;
  j["username"] = v.username;
  j["desktop_id"] = s.desktop_id;
  j["state"] = s.state;
  j["client_address"] = s.client_address;
  j["created_at"] = format_rfc3339(s.created_at);
  j["last_activity_at"] = format_rfc3339(s.last_activity_at);
  j["ended_at"] = s.ended_at == WallTime{} ? Json(nullptr) : Json(format_rfc3339(s.ended_at));
  return j;
}

void add_display_url(Json& j, const controller::SessionView& v, std::string_view host) {
  if (!v.ticket) return;
  j["display_url"] = fmt::format("ws://{}/display/{}?ticket={}", host, v.session.id, v.ticket->ticket);
  j["ticket_expires_at"] = format_rfc3339(v.ticket->expires_at);
}

Json audit_json(const store::AuditEvent& e) {
  Json j(Json::value_t::object);
  j["seq"] = e.seq;
  j["at"] = format_rfc3339(e.at);
  j["tenant_id"] = nullable(e.tenant_id);
  j["user_id"] = nullable(e.user_id);
  j["username"] = e.username;
  j["action"] = e.action;
  j["target"] = e.target;
  j["address"] = e.address;
  j["status"] = e.status;
  j["result"] = e.result;
  j["detail"] = nullable(e.detail);
  return j;
}

Json usage_json(const controller::UsageReport& r) {
  Json desktops = Json::array(), sessions = Json::array();
  for (const auto& d : r.desktops) {
    desktops.push_back({{"day", d.day}, {"tenant_id", nullable(d.tenant_id)}, {"pool_id", nullable(d.pool_id)},
                        {"desktop_hours", d.hours}});
  }
  for (const auto& s : r.sessions) {
    sessions.push_back({{"day", s.day}, {"tenant_id", s.tenant_id}, {"user_id", s.user_id},
                        {"username", s.username}, {"session_hours", s.hours}});
  }
  return {{"from", r.from_day}, {"to", r.to_day}, {"desktops", desktops}, {"sessions", sessions}};
}

namespace {

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
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

}  // namespace oriel::api
