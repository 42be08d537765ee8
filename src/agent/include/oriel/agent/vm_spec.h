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

struct VmSpec {
  std::string id;    // the desktop id; names the run directory
  std::string name;  // shown as QEMU's guest name
  int vcpus = 1;
  int memory_mb = 512;
  std::string disk_path;  // the desktop's qcow2 overlay
  BootSpec boot;
  bool network = true;  // user-mode NAT
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

  static VmPaths in(const std::string& run_dir, const std::string& vm_id);
};

// Unix socket paths are limited to 107 bytes (sun_path); a run dir deeper
// than that cannot host VMs. Checked at start-up, not at the first VM.
Result<void> check_run_dir(const std::string& run_dir);

}  // namespace oriel::agent
