// What crosses the network between the controller and a remote agent
// (docs/cluster.md): the host's report and a snapshot of its VMs, stamped
// with the agent's change counter so that the controller never takes an
// older picture for a newer one, whether it arrives in a heartbeat or in
// the answer to a command. Pure conversions to and from JSON; the peer's
// JSON is untrusted and every malformed field is an InvalidArgument.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "oriel/agent/host_agent.h"
#include "oriel/common/json.h"

namespace oriel::agent {

// The name on a controller's certificate ("controller:" and its host
// name): the one name an agent's API lets in over mutual TLS. Host names
// cannot hold a ':', so no host's certificate has it.
inline constexpr std::string_view kControllerCertificatePrefix = "controller:";

struct VmExitEvent {
  uint64_t seq = 0;  // the change that recorded it
  std::string vm_id;
  VmExit why = VmExit::kCrashed;
};

struct AgentSnapshot {
  // A new random epoch each time the agent process starts: its counter
  // starts again from zero then, and the controller must not compare the two.
  std::string epoch;
  uint64_t seq = 0;                     // the agent's change counter when the snapshot was taken
  std::map<std::string, VmStatus> vms;  // every VM the agent runs
  std::vector<VmExitEvent> exits;       // the latest exits, oldest first (bounded)
};

// What an agent tells the controller about itself in every heartbeat.
struct AgentHello {
  std::string url;        // where its API listens, https://ADDR:PORT (http:// with the cluster token)
  std::string disks_dir;  // where its desktop overlays live (shared storage or local)
  HostReport report;
  AgentSnapshot snapshot;
};

std::string_view vm_exit_code(VmExit e);  // guest-poweroff | host-request | crashed
std::optional<VmExit> parse_vm_exit_code(std::string_view code);
std::optional<VmStatus> parse_vm_status(std::string_view name);

Json to_json(const HostReport& r);
Result<HostReport> host_report_from_json(const Json& j);
Json to_json(const AgentSnapshot& s);
Result<AgentSnapshot> agent_snapshot_from_json(const Json& j);
Json to_json(const AgentHello& h);
Result<AgentHello> agent_hello_from_json(const Json& j);

}  // namespace oriel::agent
