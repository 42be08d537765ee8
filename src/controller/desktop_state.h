// The desktop state machine. The stored state is internal; the public state
// of the API is derived from it. `next_step` is the one transition function:
// pure, so every case is unit-tested without QEMU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "oriel/agent/host_agent.h"
#include "oriel/store/records.h"

namespace oriel::controller {

enum class DesktopState {
  kProvisioning,  // record written, disk not made yet
  kStopped,
  kStarting,  // QEMU being started
  kRunning,
  kStopping,   // ACPI shutdown asked; hard stop at deadline_ms
  kResetting,  // overlay being discarded and recreated
  kFailed,     // needs an operator (or a start) to go on; error says why
  kDeleting,
  kMigrating,  // live migration to the host in pending_op ("migrate:<host id>"); the Migrations own it
};

std::string_view state_name(DesktopState s);
std::optional<DesktopState> parse_state(std::string_view s);

// What the reconciler does next for one desktop.
enum class StepKind {
  kNone,               // settled, or waiting for a deadline
  kCreateDisk,         // provisioning → stopped
  kStartVm,            // write starting, start QEMU
  kMarkRunning,        // QEMU runs: record it
  kShutdownVm,         // write stopping with a deadline, press the power button
  kKillVm,             // hard stop (deadline passed, reset or delete of a running VM)
  kMarkStopped,        // QEMU gone after a stop: record it
  kMarkFailed,         // QEMU gone on its own: record why
  kRestartAfterCrash,  // QEMU gone on its own: stopped, error kRestartedAfterCrash, started again (desired running)
  kMarkGuestOff,       // the guest powered off by itself: now stopped, desired stopped
  kRebootVm,           // hard reset of the guest, clear pending_op
  kResetDisk,          // write resetting, recreate the overlay, clear pending_op
  kClearPendingOp,     // an op that no longer applies (reboot of a stopped desktop)
  kDeleteDisk,         // write deleting, delete the overlay, then the record
  kRelocate,           // its host is down: another host, state stopped (or provisioning), to start there
  kStartMigration,     // running with pending_op "migrate:<host>" (asked for on any controller): migrating, under way
  kSettleMigration,    // migrating: let the migration finish, or (no one follows it) find where the guest runs
};

// What the controller knows of a desktop's host.
enum class HostHealth {
  kUp,       // its agent answers (or is this process's own)
  kUnknown,  // no way to reach it yet (a remote agent that has not sent a heartbeat since this controller started)
  kDown,     // silent for longer than its lease: it has fenced itself, its VMs are gone
};

// The start of a desktop's error after its QEMU crashed and was started again.
inline constexpr std::string_view kRestartedAfterCrash = "restarted after QEMU exited unexpectedly";

// A live migration in pending_op: "migrate:<host id>" once asked for (on any
// controller), "cancel-migrate:<host id>" once a cancel is asked for.
std::string migrate_op(const std::string& host_id);
std::string cancel_migrate_op(const std::string& host_id);
// The host a desktop is to migrate to, if a migration is asked for or under way.
std::optional<std::string> migration_target(const store::DesktopRecord& d);
bool migration_cancel_asked(const store::DesktopRecord& d);

struct Step {
  StepKind kind = StepKind::kNone;
  std::string reason;  // for kMarkFailed and logs
};

struct Observation {
  HostHealth host = HostHealth::kUp;
  agent::VmStatus vm = agent::VmStatus::kAbsent;
  std::optional<agent::VmExit> last_exit;  // why the VM last exited, if the agent saw it
  int64_t now_ms = 0;
};

Step next_step(const store::DesktopRecord& d, const Observation& o);

}  // namespace oriel::controller
