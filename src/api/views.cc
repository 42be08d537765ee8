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
  j["state"] = controller::public_state_name(d.state);
  j["desired_state"] = d.desired;
  j["pending_action"] = nullable(d.pending_op);
  j["host_id"] = nullable(d.host_id);
  j["pool_id"] = nullable(d.pool_id);
  j["assigned_user"] = nullable(d.assigned_user);
  j["image_id"] = d.image_id;
  j["vcpus"] = d.vcpus;
  j["memory_mb"] = d.memory_mb;
  j["error"] = nullable(d.error);
  j["created_at"] = format_rfc3339(d.created_at);
  j["updated_at"] = format_rfc3339(d.updated_at);
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

}  // namespace oriel::api
