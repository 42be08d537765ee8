// The agent's own HTTP API (/agent/v1, docs/cluster.md), which the
// controller calls on a host it does not run on: disks, VMs, screenshots, a
// snapshot of the VMs' states, and a WebSocket that carries a VM's VNC
// stream to the display gateway. Every call must carry the cluster token
// (Authorization: Bearer); a command with a ?request_id= that was already
// answered gets the same answer again instead of being run twice.
#pragma once

#include "oriel/net/http.h"  // first: it includes <utility> before Asio

#include <string>

#include "oriel/agent/agent_journal.h"
#include "oriel/agent/local_agent.h"

namespace oriel::agent {

struct AgentApi {
  LocalAgent& agent;
  AgentJournal& journal;
  std::string cluster_token;
  std::string run_dir;  // where the VMs' VNC sockets are
};

// Registers the /agent/v1 routes. `api` (and what it refers to) must
// outlive the router.
void add_agent_routes(net::Router& router, const AgentApi& api);

}  // namespace oriel::agent
