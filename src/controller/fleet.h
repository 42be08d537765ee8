// The hosts the controller can act on: the embedded agent of this process
// (if it runs the agent role) and a RemoteAgent for every agent that has
// sent a heartbeat. Host records live in the store; this is only the
// in-memory handle on each host's agent, rebuilt from heartbeats after a
// controller restart. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "oriel/agent/agent_wire.h"
#include "oriel/agent/host_agent.h"
#include "oriel/common/mutex.h"
#include "oriel/common/random.h"
#include "oriel/net/tls.h"

namespace oriel::controller {

class Fleet {
 public:
  using ExitHandler = std::function<void(const std::string& vm_id, agent::VmExit why)>;

  Fleet(Random& random, std::string cluster_token);

  // The embedded agent; it must outlive the fleet.
  void add_local(const std::string& host_id, agent::HostAgent& agent);
  // A heartbeat from a remote agent: its handle, made on first sight (or
  // anew when its address changed), brought up to date.
  void heard(const std::string& host_id, const agent::AgentHello& hello);
  // The agent of a host, or null when this controller has no way to reach
  // it (yet: a remote agent after a controller restart, until its next
  // heartbeat).
  std::shared_ptr<agent::HostAgent> agent(const std::string& host_id);
  // Another host's agent that sees `vm_id`'s disk at the same path as
  // `host_id` does (shared storage), or null.
  std::shared_ptr<agent::HostAgent> sharing_disks_with(const std::string& host_id, const std::string& vm_id);
  // The address of a remote host's agent API; empty for the embedded agent.
  std::string address(const std::string& host_id);
  // Receives every VM exit on any host, present and future.
  void set_exit_handler(ExitHandler handler);
  // How agents are called over https: the cluster CA and this controller's
  // certificate. Before the first heartbeat.
  void set_tls(std::shared_ptr<const net::TlsClient> tls);
  // A removed host: its agent is called no more.
  void forget(const std::string& host_id);

 private:
  void exited(const std::string& vm_id, agent::VmExit why);

  Random& random_;
  const std::string token_;
  Mutex mu_;
  std::string local_id_ ORIEL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<agent::HostAgent>> agents_ ORIEL_GUARDED_BY(mu_);
  std::map<std::string, std::string> addresses_ ORIEL_GUARDED_BY(mu_);
  std::shared_ptr<const net::TlsClient> tls_ ORIEL_GUARDED_BY(mu_);
  ExitHandler on_exit_ ORIEL_GUARDED_BY(mu_);
};

}  // namespace oriel::controller
