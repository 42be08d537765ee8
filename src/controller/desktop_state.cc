#include "desktop_state.h"

#include "oriel/controller/desktops.h"

#include <array>

namespace oriel::controller {
namespace {

using agent::VmStatus;
using S = DesktopState;

constexpr std::array<std::pair<S, std::string_view>, 9> kNames = {{
    {S::kProvisioning, "provisioning"},
    {S::kStopped, "stopped"},
    {S::kStarting, "starting"},
    {S::kRunning, "running"},
    {S::kStopping, "stopping"},
    {S::kResetting, "resetting"},
    {S::kFailed, "failed"},
    {S::kDeleting, "deleting"},
    {S::kMigrating, "migrating"},
}};

bool vm_up(const Observation& o) { return o.vm != VmStatus::kAbsent; }

Step step_when_deleted(const Observation& o) {
  return vm_up(o) ? Step{StepKind::kKillVm} : Step{StepKind::kDeleteDisk};
}

Step step_when_stopped(const store::DesktopRecord& d, const Observation& o) {
  if (vm_up(o)) return {StepKind::kMarkRunning};  // started outside our record (crash between start and write)
  if (d.pending_op == "reset") return {StepKind::kResetDisk};
  if (!d.pending_op.empty()) return {StepKind::kClearPendingOp};
  if (d.desired == "running") return {StepKind::kStartVm};
  return {};
}

Step step_when_running(const store::DesktopRecord& d, const Observation& o) {
  if (!vm_up(o)) {
    if (o.last_exit == agent::VmExit::kGuestPoweroff) return {StepKind::kMarkGuestOff};
    if (o.last_exit == agent::VmExit::kHostRequest) return {StepKind::kMarkStopped};
    if (o.last_exit == agent::VmExit::kMigrated) return {};  // it runs on the target: the migration moves its host
    // A crash: start it again on the same host, unless it crashed within a
    // minute of such a restart (then an operator should look).
    bool just_restarted = d.error.rfind(kRestartedAfterCrash, 0) == 0 && o.now_ms - to_unix_ms(d.updated_at) < 60'000;
    if (d.desired == "running" && !just_restarted) return {StepKind::kRestartAfterCrash};
    return {StepKind::kMarkFailed,
            just_restarted ? "the virtual machine stopped unexpectedly again, within a minute of its restart"
                           : "the virtual machine stopped unexpectedly (QEMU exited without a shutdown)"};
  }
  if (d.pending_op == "reset") return {StepKind::kKillVm};  // the disk is discarded anyway
  if (d.pending_op == "reboot") return {StepKind::kRebootVm};
  if (migration_target(d) && !migration_cancel_asked(d)) {
    // A stop asked for since wins; the migration is dropped.
    return d.desired == "stopped" ? Step{StepKind::kClearPendingOp} : Step{StepKind::kStartMigration};
  }
  if (d.desired == "stopped") return {StepKind::kShutdownVm};
  return {};
}

Step step_when_stopping(const store::DesktopRecord& d, const Observation& o) {
  if (!vm_up(o)) return {StepKind::kMarkStopped};
  if (d.pending_op == "reset" || (d.deadline_ms > 0 && o.now_ms >= d.deadline_ms)) return {StepKind::kKillVm};
  return {};
}

// Its host is down: the agent fenced itself, so its VMs are gone. A
// desktop meant to run goes to another host; one being stopped is stopped.
Step step_when_host_down(const store::DesktopRecord& d, S state) {
  if (state == S::kMigrating) return {StepKind::kSettleMigration};  // it may run on the target already
  if (d.desired == "deleted" || state == S::kDeleting) return {StepKind::kDeleteDisk};
  bool meant_to_run = d.desired == "running" && (state == S::kStopped || state == S::kStarting || state == S::kRunning);
  if (meant_to_run || state == S::kProvisioning || state == S::kResetting) return {StepKind::kRelocate};
  if (state == S::kRunning || state == S::kStarting || state == S::kStopping) return {StepKind::kMarkStopped};
  return {};
}

}  // namespace

std::string_view state_name(DesktopState s) {
  for (const auto& [state, name] : kNames) {
    if (state == s) return name;
  }
  return "failed";
}

std::optional<DesktopState> parse_state(std::string_view s) {
  for (const auto& [state, name] : kNames) {
    if (name == s) return state;
  }
  return std::nullopt;
}

namespace {
constexpr std::string_view kMigrateOp = "migrate:";
constexpr std::string_view kCancelMigrateOp = "cancel-migrate:";
}  // namespace

std::string migrate_op(const std::string& host_id) { return std::string(kMigrateOp) + host_id; }
std::string cancel_migrate_op(const std::string& host_id) { return std::string(kCancelMigrateOp) + host_id; }

std::optional<std::string> migration_target(const store::DesktopRecord& d) {
  for (auto prefix : {kMigrateOp, kCancelMigrateOp}) {
    if (d.pending_op.starts_with(prefix) && d.pending_op.size() > prefix.size())
      return d.pending_op.substr(prefix.size());
  }
  return std::nullopt;
}

bool migration_cancel_asked(const store::DesktopRecord& d) { return d.pending_op.starts_with(kCancelMigrateOp); }

std::string_view public_state_name(const store::DesktopRecord& d) {
  // A migration asked for and not yet under way is "migrating" already.
  return migration_target(d) ? "migrating" : public_state_name(d.state);
}

std::string_view public_state_name(std::string_view internal) {
  auto s = parse_state(internal);
  if (!s) return "failed";
  if (*s == S::kResetting) return "provisioning";
  return state_name(*s);
}

Step next_step(const store::DesktopRecord& d, const Observation& o) {
  auto state = parse_state(d.state);
  if (!state) return {StepKind::kMarkFailed, "unknown state '" + d.state + "' in the store"};
  if (o.host == HostHealth::kUnknown) return {};  // wait for its agent's heartbeat
  if (o.host == HostHealth::kDown) return step_when_host_down(d, *state);
  // Even a delete waits for the migration: the guest must be in one place first.
  if (*state == S::kMigrating) return {StepKind::kSettleMigration};
  if (d.desired == "deleted" || *state == S::kDeleting) return step_when_deleted(o);
  switch (*state) {
    case S::kProvisioning: return {StepKind::kCreateDisk};
    case S::kResetting: return {StepKind::kResetDisk};
    case S::kStopped: return step_when_stopped(d, o);
    case S::kStarting: return vm_up(o) ? Step{StepKind::kMarkRunning} : Step{StepKind::kStartVm};
    case S::kRunning: return step_when_running(d, o);
    case S::kStopping: return step_when_stopping(d, o);
    case S::kFailed:
      if (vm_up(o)) return {StepKind::kKillVm};  // never leave a QEMU behind a failed record
      return {};
    case S::kMigrating:
    case S::kDeleting: break;
  }
  return {};
}

}  // namespace oriel::controller
