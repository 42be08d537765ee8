// The fleet's hosts as the API sees them: the list with what is allocated
// on each, agents' heartbeats, and maintenance.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/agent/agent_wire.h"
#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/records.h"

namespace oriel::controller {

struct Core;

// What a heartbeat gets back: the host's id and its lease.
struct HeartbeatAnswer {
  std::string host_id;
  std::chrono::milliseconds lease;
};

enum class HostAction {
  kMaintenance,  // no new desktops; running ones migrate away, stopped ones move (shared storage)
  kActivate,     // ready again
};

struct HostView {
  store::HostRecord host;
  int64_t cpus_allocated = 0;  // vCPUs of desktops meant to run there
  int64_t memory_allocated_mb = 0;
  int64_t desktops = 0;
};

// Admins only. Thread-safe.
class Hosts {
 public:
  explicit Hosts(Core& core) : core_(core) {}
  Hosts(const Hosts&) = delete;
  Hosts& operator=(const Hosts&) = delete;

  Result<std::vector<HostView>> list(const Principal& who);
  // An agent's heartbeat (authenticated by the cluster token): registers
  // its host on first sight, records that it is alive, and grants its lease.
  Result<HeartbeatAnswer> heartbeat(std::string_view cluster_token, const agent::AgentHello& hello);
  // Maintenance drains the host by live migration.
  Result<HostView> act(const Principal& who, std::string_view id, HostAction action);

 private:
  Core& core_;
};

}  // namespace oriel::controller
