// The agent's record of a live migration at either end (internal to
// LocalAgent; see local_agent_migration.cc).
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "managed_vm.h"
#include "migration_steps.h"
#include "oriel/agent/migration.h"
#include "oriel/agent/qemu_process.h"  // kDriveId, the VM's drive

namespace oriel::agent {

// Names Oriel gives QEMU's objects for a migration. Fixed, so an agent that
// restarted mid-migration finds and removes them.
inline constexpr const char* kMirrorJob = "oriel-migration-mirror";  // source: the mirror job
inline constexpr const char* kDiskNode = "oriel-migration-disk";     // source: NBD client node
inline constexpr const char* kExportId = "oriel-migration-export";   // target: block export
inline constexpr const char* kExportName = "oriel-disk0";            // target: NBD export name

// What the driver of an outgoing migration keeps between observations.
// Touched only on the agent's io thread (and before the driver starts).
struct DriverState {
  boost::asio::steady_timer* wake = nullptr;  // while the driver waits between observations
  bool poked = false;                         // an event came: observe again at once
  bool ram_started = false;                   // `migrate` was sent (query-migrate is about this migration)
  MirrorJob job = MirrorJob::kAbsent;         // last seen by query-jobs
  bool disk_node = false;                     // the NBD client node is attached
  std::string local_error;                    // a command of ours failed: roll back
};

// A target: a QEMU waiting for the stream. Lives in incoming_ until the
// next prepare_incoming or abort_incoming for the same VM. Like Vm's, the
// fields "guarded by LocalAgent::mu_" are so by convention only: the analysis
// cannot name the mutex of the agent that owns the record.
struct LocalAgent::Incoming {
  std::shared_ptr<Vm> vm;
  MigrationStorage storage = MigrationStorage::kShared;
  bool made_disk = false;      // kCopy: prepare_incoming made the overlay, so failure removes it
  MigrationProgress progress;  // guarded by LocalAgent::mu_: kIncoming, then kCompleted or kFailed
};

// A source: the migration of one running VM. Lives in outgoing_ until the
// next migration of the same VM (or a prepare_incoming for it).
struct LocalAgent::Outgoing {
  std::string vm_id;
  std::shared_ptr<Vm> vm;
  MigrationTarget target;
  std::optional<NbdAddress> disk;  // kCopy
  int64_t ram_estimate = 0;        // the guest's RAM, until QEMU reports its total

  // Guarded by LocalAgent::mu_:
  MigrationPhase phase = MigrationPhase::kMigrating;
  std::chrono::steady_clock::time_point phase_since = std::chrono::steady_clock::now();
  MigrationProgress progress;
  bool cancel_requested = false;

  DriverState driver;  // on the io thread only (set before the driver starts)
};

}  // namespace oriel::agent
