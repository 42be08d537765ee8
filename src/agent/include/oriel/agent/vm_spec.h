// What a desktop's virtual machine is made of, and where its runtime files
// live. The agent turns a VmSpec into a QEMU command line (qemu_process.h);
// the controller builds VmSpecs from its desktops and images.
#pragma once

#include <string>
#include <vector>

#include "oriel/common/json.h"
#include "oriel/common/result.h"

namespace oriel::agent {

enum class Accelerator { kKvm, kTcg };
std::string_view accelerator_name(Accelerator a);

struct BootSpec {
  enum class Kind { kDirectKernel, kBios, kUefi };
  Kind kind = Kind::kBios;
  std::string kernel;   // kDirectKernel only
  std::string initrd;   // optional
  std::string cmdline;  // optional

  // {"kernel","initrd","cmdline"} or {"firmware":"bios"|"uefi"}; {} means BIOS.
  static Result<BootSpec> from_json(const Json& j);
  Json to_json() const;
};

// How a desktop's NIC reaches a network.
// - none: no NIC.
// - isolated: QEMU's user-mode network with restrict=on. The guest gets an
//   address by DHCP and reaches nothing through it: not the host (in plain
//   user-mode networking 10.0.2.2 is the host's 127.0.0.1), not the
//   networks the host can route to.
// - bridge:NAME: a tap on a Linux bridge the administrator made on every
//   host, typically one per tenant on its own VLAN, with no host address on
//   it. The agent creates the tap before QEMU starts and removes it after.
struct NetworkSpec {
  enum class Mode { kNone, kIsolated, kBridge };
  Mode mode = Mode::kIsolated;
  std::string bridge;  // kBridge only: a network interface name

  // "none" | "isolated" | "bridge:NAME"; InvalidArgument otherwise.
  static Result<NetworkSpec> parse(std::string_view text);
  std::string text() const;
};

struct VmSpec {
  std::string id;    // the desktop id; names the run directory
  std::string name;  // shown as QEMU's guest name
  int vcpus = 1;
  int memory_mb = 512;
  std::string disk_path;  // the desktop's qcow2 overlay
  BootSpec boot;
  NetworkSpec network;
  Json to_json() const;
  static Result<VmSpec> from_json(const Json& j);
};

// The per-VM runtime files under the agent's run directory. Only Oriel's
// processes can reach the sockets (the directory is 0700).
struct VmPaths {
  std::string dir;
  std::string qmp_socket;
  std::string vnc_socket;
  std::string pidfile;
  std::string serial_log;
  std::string uefi_vars;
  std::string spec_file;  // the VmSpec it was started with, for re-attaching
  std::string tap;        // the tap device of a bridged NIC (15 bytes at most)

  static VmPaths in(const std::string& run_dir, const std::string& vm_id);
};

// Unix socket paths are limited to 107 bytes (sun_path); a run dir deeper
// than that cannot host VMs. Checked at start-up, not at the first VM.
Result<void> check_run_dir(const std::string& run_dir);

}  // namespace oriel::agent
