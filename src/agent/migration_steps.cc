#include "migration_steps.h"

namespace oriel::agent {
namespace {

using P = MigrationPhase;
using A = MigrationAction;

MigrationStep rolling_back(const MigrationObservation& o) {
  // QEMU may have finished the switchover before the cancel reached it.
  // With kCopy the disk was in sync by then (the switchover waits for the
  // mirror), so the guest runs on the target either way.
  if (o.qemu_status == "completed") return {P::kQuitting, A::kQuitSource};
  P done = o.cancel_requested ? P::kCancelled : P::kFailed;
  if (o.source_gone) return {P::kFailed, A::kNone, "the source QEMU exited while the migration was rolled back"};
  if (qemu_migration_busy(o.qemu_status)) return {P::kRollingBack};  // QEMU cancels, then resumes the guest
  if (o.job == MirrorJob::kRunning || o.job == MirrorJob::kReady) return {P::kRollingBack};
  if (o.job == MirrorJob::kConcluded || o.job == MirrorJob::kFailed) return {P::kRollingBack, A::kDismissJob};
  if (o.disk_node) return {P::kRollingBack, A::kRemoveDiskNode};
  return {done};
}

// What can only go wrong while the disk is being copied.
std::string mirror_failure(P phase, const MigrationObservation& o) {
  if (!o.copy_disk || phase == P::kSwitchingOver) return {};
  if (o.job == MirrorJob::kFailed) return "copying the disk to the target failed: " + o.job_error;
  if (o.job == MirrorJob::kAbsent) return "the disk copy job disappeared";
  if (o.job == MirrorJob::kConcluded && phase != P::kSyncingDisk) return "the disk copy stopped before the switchover";
  return {};
}

}  // namespace

// QAPI migration.json, MigrationStatus.
bool qemu_migration_busy(const std::string& s) {
  return s == "setup" || s == "active" || s == "pre-switchover" || s == "device" || s == "wait-unplug" ||
         s == "cancelling" || s.starts_with("postcopy");
}

std::string json_str(const Json& obj, const char* name) {
  if (!obj.is_object()) return {};
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// QAPI job.json: JobInfo {id, type, status, current-progress, total-progress, error}.
MirrorJobView find_mirror_job(const Json& jobs, const std::string& job_id) {
  MirrorJobView view;
  if (!jobs.is_array()) return view;
  for (const auto& job : jobs) {
    if (json_str(job, "id") != job_id) continue;
    std::string status = json_str(job, "status");
    view.error = json_str(job, "error");
    if (auto it = job.find("current-progress"); it != job.end() && it->is_number_integer()) view.done = *it;
    if (auto it = job.find("total-progress"); it != job.end() && it->is_number_integer()) view.total = *it;
    if (status == "ready") {
      view.state = MirrorJob::kReady;
    } else if (status == "concluded") {
      view.state = view.error.empty() ? MirrorJob::kConcluded : MirrorJob::kFailed;
    } else if (status == "null") {
      view.state = MirrorJob::kAbsent;
    } else {
      view.state = MirrorJob::kRunning;  // created, running, paused, standby, waiting, pending, aborting, undefined
    }
    return view;
  }
  return view;
}

MigrationState public_state(MigrationPhase p) {
  switch (p) {
    case P::kMirroring: return MigrationState::kMirroring;
    case P::kMigrating: return MigrationState::kMigrating;
    case P::kSyncingDisk:
    case P::kSwitchingOver:
    case P::kQuitting: return MigrationState::kSwitchover;
    case P::kRollingBack: return MigrationState::kRollingBack;
    case P::kCompleted: return MigrationState::kCompleted;
    case P::kFailed: return MigrationState::kFailed;
    case P::kCancelled: return MigrationState::kCancelled;
  }
  return MigrationState::kFailed;
}

MigrationStep next_migration_step(MigrationPhase phase, const MigrationObservation& o) {
  switch (phase) {
    case P::kCompleted:
    case P::kFailed:
    case P::kCancelled: return {phase};
    case P::kQuitting:
      if (o.source_gone) return {P::kCompleted};
      if (o.in_phase >= kQuitTimeout) return {P::kQuitting, A::kKillSource};
      return {P::kQuitting};
    case P::kRollingBack: return rolling_back(o);
    default: break;
  }
  // Completion wins: once QEMU says so, the guest runs on the target.
  if (o.qemu_status == "completed") return {P::kQuitting, A::kQuitSource};
  if (o.source_gone) return {P::kFailed, A::kNone, "the source QEMU exited during the migration"};
  if (o.cancel_requested) return {P::kRollingBack, A::kRollBack, "cancelled"};
  if (!o.local_error.empty()) return {P::kRollingBack, A::kRollBack, o.local_error};
  if (o.qemu_status == "failed" || o.qemu_status == "cancelled") {
    return {P::kRollingBack, A::kRollBack, o.error.empty() ? "QEMU's migration " + o.qemu_status : o.error};
  }
  if (auto why = mirror_failure(phase, o); !why.empty()) return {P::kRollingBack, A::kRollBack, why};
  switch (phase) {
    case P::kMirroring:
      if (o.job == MirrorJob::kReady) return {P::kMigrating, A::kStartRam};
      break;
    case P::kMigrating:
      // Only with kCopy (pause-before-switchover): the guest is paused and
      // writes nothing more; the mirror drains what is left in flight.
      if (o.qemu_status == "pre-switchover") return {P::kSyncingDisk, A::kCompleteMirror};
      break;
    case P::kSyncingDisk:
      if (o.job == MirrorJob::kConcluded) return {P::kSwitchingOver, A::kContinue};
      break;
    default: break;
  }
  return {phase};
}

}  // namespace oriel::agent
