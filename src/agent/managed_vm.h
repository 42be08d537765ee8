// The agent's record of one QEMU it manages (internal to LocalAgent).
#pragma once

#include <memory>

#include "oriel/agent/local_agent.h"
#include "oriel/agent/qmp_client.h"

namespace oriel::agent {

// One QEMU the agent manages. The fields marked "guarded by LocalAgent::mu_"
// are read and written only with the owning agent's mu_ held. That cannot be
// an ORIEL_GUARDED_BY annotation: the analysis would look for a mutex in the
// Vm itself, not in the agent that holds it in vms_.
struct LocalAgent::Vm {
  VmSpec spec;
  VmPaths paths;
  pid_t pid = -1;
  std::shared_ptr<QmpClient> qmp;  // guarded by LocalAgent::mu_; null until connected
  bool paused = false;             // guarded by LocalAgent::mu_
  bool host_stop = false;          // Oriel asked it to stop (ACPI, quit, kill)
  bool guest_shutdown = false;     // a SHUTDOWN event said the guest did it
  bool exit_reported = false;      // on_closed has told the exit handler
  // Live migration (local_agent_migration.cc), guarded by LocalAgent::mu_:
  bool incoming = false;  // a target before switchover: in incoming_, not vms_; its exit is no desktop's
  bool migrated = false;  // the guest runs on another host now: QEMU's exit is VmExit::kMigrated
};

// The first `n` lines of a program's output, without trailing blanks: what
// an error message quotes of QEMU's or ip's stderr.
std::string first_lines(const std::string& text, size_t n);

// The host side of the VM's NIC (vm_network.cc): a bridged desktop's tap,
// made before QEMU starts and removed once it is gone.
Result<void> plug_network(ProcessRunner& runner, const VmSpec& spec, const VmPaths& paths);
void unplug_network(ProcessRunner& runner, const VmSpec& spec, const VmPaths& paths);
// Whether this thread holds ambient capabilities, which its children would
// inherit: the packaged agent's CAP_NET_ADMIN, for the taps.
bool has_ambient_capabilities();

}  // namespace oriel::agent
