#include "views.h"

#include "oriel/common/clock.h"

namespace oriel::api {
namespace {

// Empty strings in the store are "none" in the API.
Json nullable(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

}  // namespace

Json image_json(const store::ImageRecord& i) {
  Json boot = Json::object();
  if (auto parsed = parse_json(i.boot_json); parsed.ok()) boot = *parsed;
  return {{"id", i.id},
          {"name", i.name},
          {"state", i.state},
          {"progress", i.progress},
          {"source_path", i.source_path},
          {"format", i.requested_format},
          {"source_format", nullable(i.source_format)},
          {"virtual_size_bytes", i.virtual_size_bytes},
          {"size_bytes", i.size_bytes},
          {"boot", boot},
          {"error", nullable(i.error)},
          {"created_at", format_rfc3339(i.created_at)},
          {"updated_at", format_rfc3339(i.updated_at)}};
}

Json desktop_json(const store::DesktopRecord& d) {
  return {{"id", d.id},
          {"name", d.name},
          {"state", controller::public_state_name(d.state)},
          {"desired_state", d.desired},
          {"pending_action", nullable(d.pending_op)},
          {"host_id", nullable(d.host_id)},
          {"pool_id", nullable(d.pool_id)},
          {"assigned_user", nullable(d.assigned_user)},
          {"image_id", d.image_id},
          {"vcpus", d.vcpus},
          {"memory_mb", d.memory_mb},
          {"error", nullable(d.error)},
          {"created_at", format_rfc3339(d.created_at)},
          {"updated_at", format_rfc3339(d.updated_at)}};
}

Json host_json(const controller::HostView& v) {
  const auto& h = v.host;
  return {{"id", h.id},
          {"name", h.name},
          {"state", h.state},
          {"accelerator", h.accelerator},
          {"cpus", h.cpus},
          {"memory_mb", h.memory_mb},
          {"cpus_allocated", v.cpus_allocated},
          {"memory_allocated_mb", v.memory_allocated_mb},
          {"desktops", v.desktops},
          {"last_heartbeat_at", format_rfc3339(h.last_heartbeat_at)}};
}

}  // namespace oriel::api
