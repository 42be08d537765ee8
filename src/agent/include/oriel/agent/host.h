// This machine as a host of the fleet: the agent that owns its QEMU
// processes and disks, and the one thing code outside src/agent makes of it.
// With every role in one process the controller drives it directly, as its
// HostAgent. On a host of its own (orield --roles agent) it also keeps an
// account of its VMs for the controller, serves the agent API (/agent/v1,
// docs/cluster.md) and sends heartbeats, fencing its VMs when the controller
// has been silent for a whole lease.
//
// QEMU runs detached, so start() re-attaches to the VMs that still run and
// stop() leaves them running. Thread-safe as HostAgent is; serve() and
// join() are called once, in that order, before the server runs.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "oriel/agent/host_agent.h"
#include "oriel/agent/host_probe.h"
#include "oriel/common/process.h"
#include "oriel/net/http.h"
#include "oriel/net/tls.h"

namespace oriel::agent {

struct LocalAgentOptions {
  std::string host_name;
  std::string run_dir;    // vms/<id>/ with sockets, pidfile, serial log
  std::string disks_dir;  // <id>.qcow2 linked clones
  ProbeResult accelerator;
  std::chrono::milliseconds kill_timeout{std::chrono::seconds(5)};
};

class LocalAgent;
class AgentJournal;
class ControllerLink;
struct AgentApi;

class Host {
 public:
  Host(ProcessRunner& runner, LocalAgentOptions options);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Starts the agent and re-attaches to the VMs that still run.
  Result<void> start();
  // Ends the heartbeats and disconnects from the VMs, which keep running.
  void stop();
  HostAgent& agent();

  // On a host of its own: registers /agent/v1 on `router` (every call
  // carries `cluster_token`) and from now on keeps the account of the VMs
  // that the API and the heartbeats report; `epoch` is random per start.
  // After start(); the router must not outlive this Host.
  void serve(net::Router& router, std::string cluster_token, std::string epoch);
  // Heartbeats to the first of `controller_urls` that answers, naming
  // `own_url` as where this agent's API listens; an https controller's
  // certificate is checked with `tls`. After serve().
  void join(std::vector<std::string> controller_urls, std::string own_url,
            std::shared_ptr<const net::TlsClient> tls = nullptr);
  // After join(): the heartbeats use `tls` from now on (a renewed certificate).
  void set_controller_tls(std::shared_ptr<const net::TlsClient> tls);

 private:
  std::unique_ptr<LocalAgent> agent_;
  std::unique_ptr<AgentJournal> journal_;
  std::unique_ptr<AgentApi> api_;
  std::unique_ptr<ControllerLink> link_;
};

}  // namespace oriel::agent
