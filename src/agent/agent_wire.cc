#include "oriel/agent/agent_wire.h"

namespace oriel::agent {
namespace {

constexpr size_t kMaxVms = 10000;
constexpr size_t kMaxExits = 1000;

Result<Accelerator> parse_accelerator(std::string_view name) {
  if (name == "kvm") return Accelerator::kKvm;
  if (name == "tcg") return Accelerator::kTcg;
  return Error::InvalidArgument(fmt::format("accelerator '{}' is neither kvm nor tcg", name));
}

Result<VmExitEvent> exit_from_json(const Json& j) {
  VmExitEvent e;
  e.seq = static_cast<uint64_t>(TRY(json_int(j, "seq", 0, INT64_MAX)));
  e.vm_id = TRY(json_string(j, "vm_id"));
  std::string why = TRY(json_string(j, "why"));
  auto parsed = parse_vm_exit_code(why);
  if (!parsed) return Error::InvalidArgument(fmt::format("exit reason '{}' is unknown", why));
  e.why = *parsed;
  return e;
}

}  // namespace

std::string_view vm_exit_code(VmExit e) {
  switch (e) {
    case VmExit::kGuestPoweroff: return "guest-poweroff";
    case VmExit::kHostRequest: return "host-request";
    case VmExit::kCrashed: return "crashed";
    case VmExit::kMigrated: return "migrated";
  }
  return "crashed";
}

std::optional<VmExit> parse_vm_exit_code(std::string_view code) {
  for (VmExit e : {VmExit::kGuestPoweroff, VmExit::kHostRequest, VmExit::kCrashed, VmExit::kMigrated}) {
    if (vm_exit_code(e) == code) return e;
  }
  return std::nullopt;
}

std::optional<VmStatus> parse_vm_status(std::string_view name) {
  for (VmStatus s : {VmStatus::kAbsent, VmStatus::kRunning, VmStatus::kPaused}) {
    if (vm_status_name(s) == name) return s;
  }
  return std::nullopt;
}

Json to_json(const HostReport& r) {
  return {{"name", r.name},
          {"accelerator", accelerator_name(r.accelerator)},
          {"accelerator_reason", r.accelerator_reason},
          {"cpus", r.cpus},
          {"memory_mb", r.memory_mb}};
}

Result<HostReport> host_report_from_json(const Json& j) {
  HostReport r;
  r.name = TRY(json_string(j, "name"));
  r.accelerator = TRY(parse_accelerator(TRY(json_string(j, "accelerator"))));
  r.accelerator_reason = TRY(json_opt_string(j, "accelerator_reason")).value_or("");
  r.cpus = static_cast<int>(TRY(json_int(j, "cpus", 1, 100000)));
  r.memory_mb = TRY(json_int(j, "memory_mb", 1, int64_t{1} << 40));
  return r;
}

Json to_json(const AgentSnapshot& s) {
  Json vms = Json::object();
  for (const auto& [id, status] : s.vms) vms[id] = vm_status_name(status);
  Json exits = Json::array();
  for (const auto& e : s.exits) exits.push_back({{"seq", e.seq}, {"vm_id", e.vm_id}, {"why", vm_exit_code(e.why)}});
  return {{"epoch", s.epoch}, {"seq", s.seq}, {"vms", std::move(vms)}, {"exits", std::move(exits)}};
}

Result<AgentSnapshot> agent_snapshot_from_json(const Json& j) {
  AgentSnapshot s;
  s.epoch = TRY(json_string(j, "epoch"));
  s.seq = static_cast<uint64_t>(TRY(json_int(j, "seq", 0, INT64_MAX)));
  if (!j.contains("vms") || !j["vms"].is_object()) return Error::InvalidArgument("'vms' must be an object");
  if (j["vms"].size() > kMaxVms) return Error::InvalidArgument("too many VMs in a snapshot");
  for (const auto& [id, status] : j["vms"].items()) {
    auto parsed = status.is_string() ? parse_vm_status(status.get<std::string>()) : std::nullopt;
    if (!parsed) return Error::InvalidArgument(fmt::format("VM '{}' has no valid status", id));
    s.vms[id] = *parsed;
  }
  if (!j.contains("exits") || !j["exits"].is_array()) return Error::InvalidArgument("'exits' must be an array");
  if (j["exits"].size() > kMaxExits) return Error::InvalidArgument("too many exits in a snapshot");
  for (const auto& e : j["exits"]) s.exits.push_back(TRY(exit_from_json(e)));
  return s;
}

Json to_json(const AgentHello& h) {
  return {{"url", h.url}, {"disks_dir", h.disks_dir}, {"report", to_json(h.report)}, {"snapshot", to_json(h.snapshot)}};
}

Result<AgentHello> agent_hello_from_json(const Json& j) {
  AgentHello h;
  h.url = TRY(json_string(j, "url"));
  if (!h.url.starts_with("http://") && !h.url.starts_with("https://")) {
    return Error::InvalidArgument(fmt::format("agent url '{}' is not http(s)://", h.url));
  }
  h.disks_dir = TRY(json_string(j, "disks_dir"));
  if (!j.contains("report")) return Error::InvalidArgument("'report' is missing");
  h.report = TRY(host_report_from_json(j["report"]));
  if (!j.contains("snapshot")) return Error::InvalidArgument("'snapshot' is missing");
  h.snapshot = TRY(agent_snapshot_from_json(j["snapshot"]));
  return h;
}

}  // namespace oriel::agent
