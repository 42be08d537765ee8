// orield's roles and what they share (internal to orield).
#pragma once

#include <cstdint>
#include <string>

#include "options.h"
#include "oriel/agent/host_probe.h"
#include "oriel/common/process.h"
#include "oriel/common/result.h"

namespace oriel {

// Which roles --roles names. Every combination this version runs is one of:
// all three (the embedded default), controller + gateway (hosts are remote
// agents), or agent alone (a host of a fleet).
struct Roles {
  bool controller = false, agent = false, gateway = false;
};
Result<Roles> parse_roles(const OrieldOptions& o);
// Whether --database means SQLite in DATA-DIR/oriel.db (else it is a
// PostgreSQL connection string).
bool is_sqlite(const std::string& database);

Result<void> make_private_dir(const std::string& dir);
// The shared storage as this user's alone: it is made if missing, and what
// an older orield (or another tool) left there loses its group and other
// permissions: directories 0700, files without the group and other bits.
// Desktop disks are users' data; the mount point may be world-traversable.
Result<void> make_private_tree(const std::string& dir);
agent::ProbeResult choose_accelerator(ProcessRunner& runner, const OrieldOptions& o);
// Where this host keeps desktop overlays: the shared storage if there is
// one (any host can then run any desktop), else under the data directory.
std::string disks_dir(const OrieldOptions& o);

// The agent role alone: runs QEMU for a remote controller (agent_role.cc).
Result<int> run_agent(const OrieldOptions& o);

}  // namespace oriel
