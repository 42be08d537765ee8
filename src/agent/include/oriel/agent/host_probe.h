// What this host offers: CPUs, memory and the accelerator that really works.
#pragma once

#include <string>

#include "oriel/agent/vm_spec.h"
#include "oriel/common/process.h"

namespace oriel::agent {

struct HostInventory {
  int cpus = 0;
  int64_t memory_mb = 0;
};

HostInventory read_host_inventory();

struct ProbeOptions {
  std::string kernel;      // a Linux kernel to boot; empty: search the usual places
  std::string cache_file;  // where the verdict is kept between starts; empty: no cache
  std::chrono::milliseconds timeout{std::chrono::seconds(8)};
};

struct ProbeResult {
  Accelerator accelerator = Accelerator::kTcg;
  std::string reason;  // one sentence for the log: why this accelerator
};

// Chooses KVM only when a real guest kernel boots under it: /dev/kvm can
// exist yet fail (nested or paravirtual KVM where QEMU aborts or the guest
// hangs). The kernel is booted with no root disk and panic=-1 under
// -no-reboot, so reaching its "Kernel panic" line proves the guest ran in
// long mode, and QEMU exits by itself. The verdict is cached per QEMU
// version and host kernel.
ProbeResult probe_accelerator(ProcessRunner& runner, const ProbeOptions& options);

// The first existing kernel among the candidates the probe uses.
std::string find_probe_kernel(const std::string& preferred);

}  // namespace oriel::agent
