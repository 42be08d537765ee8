// The controller's view of one hypervisor host. The embedded LocalAgent
// implements it in-process; the fleet issue adds a remote implementation
// over HTTP with the same contract. Every call is idempotent so the
// controller's reconcilers can repeat it after a crash. Implementations are
// thread-safe; calls may block (a QMP round-trip, qemu-img).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "oriel/agent/migration.h"
#include "oriel/agent/vm_spec.h"
#include "oriel/common/result.h"

namespace oriel::agent {

enum class VmStatus {
  kAbsent,   // no QEMU for this VM
  kRunning,  // QEMU runs and the guest executes
  kPaused,   // QEMU runs, guest stopped (e.g. I/O error, migration)
};
std::string_view vm_status_name(VmStatus s);

// Why a VM's QEMU went away, as the agent saw it.
enum class VmExit {
  kGuestPoweroff,  // the guest shut itself down (SHUTDOWN event with guest=true)
  kHostRequest,    // Oriel asked for it (ACPI shutdown answered, or quit/kill)
  kCrashed,        // QEMU vanished with no shutdown: killed, crashed, out of memory
  kMigrated,       // live-migrated: the guest runs on another host; this QEMU was quit after the switchover
};
std::string_view vm_exit_name(VmExit e);

struct HostReport {
  std::string name;
  Accelerator accelerator = Accelerator::kTcg;
  std::string accelerator_reason;
  int cpus = 0;
  int64_t memory_mb = 0;
};

struct ImageImportRequest {
  std::string source_path;
  std::string format;  // auto | qcow2 | raw | vpc | vhdx
  std::string dest_path;
  std::function<void(double percent)> on_progress;
};

struct ImportedImage {
  std::string source_format;
  int64_t virtual_size_bytes = 0;
  int64_t size_bytes = 0;
};

// Where an agent keeps a VM's overlay in its disks directory. One rule for
// the local and the remote agent: the controller compares these paths to
// tell hosts that see the same file (shared storage).
std::string overlay_path(const std::string& disks_dir, const std::string& vm_id);

class HostAgent {
 public:
  virtual ~HostAgent() = default;

  virtual HostReport report() = 0;

  // Golden images and linked clones.
  virtual Result<ImportedImage> import_image(const ImageImportRequest& request) = 0;
  virtual std::string disk_path(const std::string& vm_id) = 0;
  virtual Result<void> create_disk(const std::string& vm_id, const std::string& golden_path) = 0;
  virtual Result<void> reset_disk(const std::string& vm_id, const std::string& golden_path) = 0;
  virtual Result<void> delete_disk(const std::string& vm_id) = 0;

  // Virtual machines. start_vm on a running VM and kill_vm on an absent one succeed.
  virtual Result<void> start_vm(const VmSpec& spec) = 0;
  virtual Result<void> shutdown_vm(const std::string& vm_id) = 0;  // ACPI power button; returns at once
  virtual Result<void> kill_vm(const std::string& vm_id) = 0;      // hard stop; returns when gone
  virtual Result<void> reboot_vm(const std::string& vm_id) = 0;    // hard reset, disk kept
  virtual VmStatus vm_status(const std::string& vm_id) = 0;
  // Every VM the agent runs now, with its status.
  virtual std::map<std::string, VmStatus> vms() = 0;
  virtual Result<std::string> screenshot_png(const std::string& vm_id) = 0;

  // Live migration (migration.h): the target host prepares a QEMU that waits
  // for the VM, the source sends it there; the agents drive the rest
  // themselves. prepare_incoming: Conflict if the VM runs or waits there
  // already. finish_incoming: waits until the VM runs there (Ok), or the
  // migration failed (Unavailable); Timeout if it still waits, Ok if the VM
  // already ran there. abort_incoming: gives a prepared target up (Ok if
  // there is none). migrate: returns once QEMU is under way.
  // migration_progress: the latest (the last one, once final); NotFound if
  // there was none. cancel_migration: rolls back and waits for it; Conflict
  // if it completed.
  virtual Result<MigrationTarget> prepare_incoming(const IncomingRequest& request) = 0;
  virtual Result<void> finish_incoming(const std::string& vm_id, std::chrono::milliseconds timeout) = 0;
  virtual Result<void> abort_incoming(const std::string& vm_id) = 0;
  virtual Result<void> migrate(const std::string& vm_id, const MigrationTarget& target,
                               const MigrationOptions& options = {}) = 0;
  virtual Result<MigrationProgress> migration_progress(const std::string& vm_id) = 0;
  virtual Result<void> cancel_migration(const std::string& vm_id) = 0;

  // Called (from an agent thread) when a VM's QEMU exits. Set before start.
  virtual void set_exit_handler(std::function<void(const std::string& vm_id, VmExit why)> handler) = 0;
};

}  // namespace oriel::agent
