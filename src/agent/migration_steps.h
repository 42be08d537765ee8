// The source side of a live migration as an explicit state machine
// (internal to LocalAgent). The driver observes QEMU, asks
// next_migration_step what to do, does it, and repeats; the one transition
// function is pure, so the order of QMP commands is decided in one place.
#pragma once

#include <chrono>
#include <string>

#include "oriel/agent/migration.h"

namespace oriel::agent {

// Finer than the public MigrationState, which is derived from it.
enum class MigrationPhase {
  kMirroring,      // kCopy: mirror job copying the overlay, not ready yet
  kMigrating,      // RAM precopy (kCopy: mirror ready, write-blocking)
  kSyncingDisk,    // kCopy: QEMU paused the guest at pre-switchover; mirror being completed
  kSwitchingOver,  // kCopy: migrate-continue sent; QEMU sends the device state
  kQuitting,       // QEMU completed: the guest runs on the target; the source QEMU is quit
  kRollingBack,    // undoing: QEMU's migration cancelled, mirror cancelled, NBD node removed
  kCompleted,
  kFailed,
  kCancelled,
};
MigrationState public_state(MigrationPhase p);

// The mirror job as query-jobs shows it.
enum class MirrorJob {
  kAbsent,     // none (never started, or dismissed)
  kRunning,    // created, running, paused, standby, waiting, pending, aborting
  kReady,      // in sync: every guest write now goes to both sides
  kConcluded,  // finished without error (not yet dismissed)
  kFailed,     // finished with an error (not yet dismissed)
};

struct MigrationObservation {
  bool copy_disk = false;   // kCopy
  std::string qemu_status;  // query-migrate's status; "" when none
  MirrorJob job = MirrorJob::kAbsent;
  bool disk_node = false;   // the NBD client node is still attached
  std::string error;        // QEMU's error-desc
  std::string job_error;    // the mirror job's error
  std::string local_error;  // a QMP command of the driver's failed
  bool cancel_requested = false;
  bool source_gone = false;  // the source QEMU has exited (and been reported)
  std::chrono::milliseconds in_phase{0};
};

enum class MigrationAction {
  kNone,            // wait for QEMU
  kStartRam,        // migrate uri
  kCompleteMirror,  // block-job-cancel (not forced) of the ready mirror: drains, then stops without a pivot
  kContinue,        // migrate-continue from pre-switchover
  kQuitSource,      // the guest runs on the target: quit the source QEMU
  kKillSource,      // it did not quit in time: SIGKILL
  kRollBack,        // migrate_cancel if QEMU is migrating, forced cancel of the mirror job
  kDismissJob,      // job-dismiss of the concluded mirror job
  kRemoveDiskNode,  // blockdev-del of the NBD client node
};

struct MigrationStep {
  MigrationPhase next;
  MigrationAction action = MigrationAction::kNone;
  std::string error;  // set when the step starts a rollback: why
};

// The transition function. Terminal phases never change.
MigrationStep next_migration_step(MigrationPhase phase, const MigrationObservation& o);

// Whether QEMU's MigrationStatus (query-migrate) is one of an outgoing
// migration still under way.
bool qemu_migration_busy(const std::string& status);

// The mirror job `job_id` in QEMU's query-jobs answer, with its progress
// (-1 when unknown) and error.
struct MirrorJobView {
  MirrorJob state = MirrorJob::kAbsent;
  int64_t done = -1;
  int64_t total = -1;
  std::string error;
};
MirrorJobView find_mirror_job(const Json& jobs, const std::string& job_id);

// A string field of QEMU's reply; "" when absent or not a string.
std::string json_str(const Json& obj, const char* name);

inline constexpr std::chrono::milliseconds kQuitTimeout{10000};

}  // namespace oriel::agent
