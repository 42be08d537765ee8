// An agent's tie to its controller(s): a heartbeat every interval (and at
// once after any change of its VMs) carrying what the agent is and runs
// (AgentHello), answered with the lease the controller grants. Fencing: when
// no heartbeat has been answered for a whole lease, the controller may
// already be restarting this host's desktops elsewhere, so the agent kills
// its own VMs before that can happen — a desktop's disk is never written by
// two QEMUs. Owns one thread. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "oriel/agent/agent_journal.h"
#include "oriel/agent/local_agent.h"
#include "oriel/common/mutex.h"
#include "oriel/net/tls.h"

namespace oriel::agent {

struct ControllerLinkOptions {
  std::vector<std::string> controller_urls;   // tried in turn; any controller takes heartbeats
  std::string token;                          // the cluster token
  std::string own_url;                        // where this agent's API listens, as the controller should call it
  std::shared_ptr<const net::TlsClient> tls;  // what an https controller is checked against (null: the system's CAs)
  std::chrono::milliseconds interval{1000};
  // Per heartbeat and controller; fencing starts this much before the lease
  // ends. Until a controller has answered once there is nothing to fence.
  std::chrono::milliseconds request_timeout{1000};
};

class ControllerLink {
 public:
  ControllerLink(LocalAgent& agent, AgentJournal& journal, ControllerLinkOptions options);
  ~ControllerLink();

  void start();
  void stop();
  void poke();  // a heartbeat now, not at the next tick
  // The TLS the next heartbeats use (a renewed certificate); thread-safe.
  void set_tls(std::shared_ptr<const net::TlsClient> tls);

  bool registered() const { return !host_id().empty(); }
  std::string host_id() const;
  int fencings() const { return fencings_.load(); }  // how often this agent fenced itself

 private:
  void run();
  // One heartbeat to the first controller that answers; true if one did.
  bool beat();
  void fence_if_expired(std::chrono::steady_clock::time_point now);

  LocalAgent& agent_;
  AgentJournal& journal_;
  ControllerLinkOptions options_;  // tls: under mu_ (set_tls)
  std::thread thread_;
  mutable Mutex mu_;
  CondVar wake_;
  bool stopping_ ORIEL_GUARDED_BY(mu_) = false;
  bool poked_ ORIEL_GUARDED_BY(mu_) = false;
  std::string host_id_ ORIEL_GUARDED_BY(mu_);
  std::chrono::milliseconds lease_ ORIEL_GUARDED_BY(mu_){0};                   // 0 until granted
  std::chrono::steady_clock::time_point last_answered_ ORIEL_GUARDED_BY(mu_);  // when that heartbeat was sent
  bool fenced_ ORIEL_GUARDED_BY(mu_) = false;                                  // VMs killed since the last answer
  std::atomic<int> fencings_{0};
  size_t preferred_ = 0;  // the controller that answered last
};

}  // namespace oriel::agent
