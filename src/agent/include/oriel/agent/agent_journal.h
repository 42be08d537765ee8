// The agent's account of its VMs for a remote controller: a change counter
// that moves on every command that may change a VM, on every exit and on
// every VM that arrives by migration, the latest exits with their reasons,
// and snapshots of both with the current VM statuses. Owned by the agent
// role next to its LocalAgent; takes over the LocalAgent's exit and arrival
// handlers. Thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <string>

#include "oriel/agent/agent_wire.h"
#include "oriel/agent/local_agent.h"
#include "oriel/common/mutex.h"

namespace oriel::agent {

class AgentJournal {
 public:
  // `epoch` is random per process start (see AgentSnapshot::epoch).
  AgentJournal(LocalAgent& agent, std::string epoch);

  // Something may have changed (a command ran): the counter moves on.
  void changed();
  AgentSnapshot snapshot();
  // Called after every change, on the thread that made it (to send a
  // heartbeat at once rather than at the next tick).
  void set_listener(std::function<void()> on_change);

 private:
  void exited(const std::string& vm_id, VmExit why);

  static constexpr size_t kKeptExits = 256;

  LocalAgent& agent_;
  const std::string epoch_;
  Mutex mu_;
  uint64_t seq_ ORIEL_GUARDED_BY(mu_) = 0;
  std::deque<VmExitEvent> exits_ ORIEL_GUARDED_BY(mu_);
  std::function<void()> listener_ ORIEL_GUARDED_BY(mu_);
};

}  // namespace oriel::agent
