// The effects of each reconciler step. Each writes the state it enters before
// acting on the host, so that a crash in between is repaired by the next step.
#include "oriel/common/log.h"
#include "reconciler.h"

namespace oriel::controller {
namespace {

// Records a failure on the desktop; the step's own error is what we report.
Error fail(store::DesktopStore& desktops, Clock& clock, store::DesktopRecord d, const Error& why) {
  d.state = std::string(state_name(DesktopState::kFailed));
  d.error = why.message();
  d.updated_at = clock.now();
  (void)desktops.update_desktop(d);
  return why;
}

// A desktop that runs has no error, but for the note of a restart after a
// crash: it says what happened, and tells a crash loop (desktop_state.cc).
void clear_error(store::DesktopRecord& d) {
  if (d.error.rfind(kRestartedAfterCrash, 0) != 0) d.error.clear();
}

}  // namespace

Result<void> Reconciler::apply(store::DesktopRecord d, const Step& step, HostHealth host) {
  switch (step.kind) {
    case StepKind::kNone: return Ok();
    case StepKind::kMarkRunning:
      clear_error(d);
      TRY(write(d, state_name(DesktopState::kRunning)));
      return Ok();
    case StepKind::kMarkStopped:
      d.deadline_ms = 0;
      TRY(write(d, state_name(DesktopState::kStopped)));
      return Ok();
    case StepKind::kMarkGuestOff:
      d.deadline_ms = 0;
      d.desired = "stopped";
      TRY(write(d, state_name(DesktopState::kStopped)));
      return Ok();
    case StepKind::kMarkFailed: return fail(store_, clock_, d, Error::Unavailable(step.reason));
    case StepKind::kRestartAfterCrash:
      spdlog::warn("desktop {}: QEMU exited unexpectedly; starting it again on host {}", d.id, d.host_id);
      d.error = fmt::format("{} at {}", kRestartedAfterCrash, format_rfc3339(clock_.now()));
      TRY(write(d, state_name(DesktopState::kStopped)));
      return Ok();
    case StepKind::kClearPendingOp:
      d.pending_op.clear();
      TRY(write(d, d.state));
      return Ok();
    case StepKind::kRelocate: return relocate(std::move(d));
    case StepKind::kStartMigration:
      if (!options_.start_migration) return Error::Unavailable("no migrations here");
      return options_.start_migration(d);
    case StepKind::kSettleMigration:
      if (!options_.settle_migration) return Error::Unavailable("no migrations here");
      return options_.settle_migration(d);
    case StepKind::kDeleteDisk: {
      // A host that is down cannot delete; a host that shares its storage can.
      auto agent = host == HostHealth::kDown ? fleet_.sharing_disks_with(d.host_id, d.id) : fleet_.agent(d.host_id);
      return delete_desktop(std::move(d), agent.get());
    }
    default: break;
  }
  auto agent = fleet_.agent(d.host_id);
  if (!agent) return Error::Unavailable(fmt::format("host '{}' cannot be reached", d.host_id));
  return apply_vm_step(std::move(d), step, *agent);
}

// The steps that act on the desktop's host.
Result<void> Reconciler::apply_vm_step(store::DesktopRecord d, const Step& step, agent::HostAgent& agent) {
  switch (step.kind) {
    case StepKind::kCreateDisk: {
      auto golden = golden_path_of(store_, d);
      if (!golden.ok()) return fail(store_, clock_, d, golden.error());
      if (auto r = agent.create_disk(d.id, *golden); !r.ok()) return fail(store_, clock_, d, r.error());
      TRY(write(d, state_name(DesktopState::kStopped)));
      return Ok();
    }
    case StepKind::kStartVm: {
      auto spec = vm_spec_for(store_, d, agent);
      if (!spec.ok()) return fail(store_, clock_, d, spec.error());
      d = TRY(write(d, state_name(DesktopState::kStarting)));
      {
        MutexLock lock(mu_);
        last_exit_.erase(d.id);
      }
      if (auto r = agent.start_vm(*spec); !r.ok()) return fail(store_, clock_, d, r.error().context("starting"));
      clear_error(d);
      TRY(write(d, state_name(DesktopState::kRunning)));
      spdlog::info("desktop {} ({}) is running", d.id, d.name);
      return Ok();
    }
    case StepKind::kShutdownVm: {
      d.deadline_ms = to_unix_ms(clock_.now()) + options_.shutdown_timeout.count();
      d = TRY(write(d, state_name(DesktopState::kStopping)));
      if (auto r = agent.shutdown_vm(d.id); !r.ok()) {
        spdlog::warn("desktop {}: ACPI shutdown failed ({}), stopping hard", d.id, r.error().message());
        return agent.kill_vm(d.id);
      }
      return Ok();
    }
    case StepKind::kKillVm: return agent.kill_vm(d.id);
    case StepKind::kRebootVm:
      TRY(agent.reboot_vm(d.id));
      d.pending_op.clear();
      TRY(write(d, d.state));
      return Ok();
    case StepKind::kResetDisk: {
      auto golden = golden_path_of(store_, d);
      if (!golden.ok()) return fail(store_, clock_, d, golden.error());
      d = TRY(write(d, state_name(DesktopState::kResetting)));
      if (auto r = agent.reset_disk(d.id, *golden); !r.ok()) return fail(store_, clock_, d, r.error());
      d.pending_op.clear();
      TRY(write(d, state_name(DesktopState::kStopped)));
      spdlog::info("desktop {} reset to its image", d.id);
      return Ok();
    }
    default: return Ok();
  }
}

// The desktop's host is down (it fenced itself): the desktop goes to
// another host. With shared storage its overlay is already there and it
// starts as it was; otherwise the overlay died with the host, and only a
// desktop that is reset at logoff anyway may start again from its image.
Result<void> Reconciler::relocate(store::DesktopRecord d) {
  auto old_agent = fleet_.agent(d.host_id);
  auto target = options_.relocate ? options_.relocate(d) : Result<std::string>(Error::Unavailable("no scheduler"));
  if (!target.ok()) {
    if (d.error != target.error().message()) {
      d.error = target.error().message();
      TRY(write(d, d.state));
    }
    return target.take_error();
  }
  auto new_agent = fleet_.agent(*target);
  if (!new_agent) return Error::Unavailable(fmt::format("host '{}' cannot be reached", *target));
  bool shared = old_agent && old_agent->disk_path(d.id) == new_agent->disk_path(d.id);
  std::string old_host = d.host_id;
  d.host_id = *target;
  d.deadline_ms = 0;
  d.error.clear();
  auto state = parse_state(d.state).value_or(DesktopState::kStopped);
  if (!shared && state != DesktopState::kProvisioning) {
    if (!d.pool_id.empty() && d.assigned_user.empty()) {
      state = DesktopState::kProvisioning;  // a free pool desktop: a fresh clone will do
    } else {
      return fail(store_, clock_, d,
                  Error::Unavailable(fmt::format(
                      "host '{}' is down and this desktop's disk was on it (no shared storage)", old_host)));
    }
  } else if (state != DesktopState::kProvisioning && state != DesktopState::kResetting) {
    state = DesktopState::kStopped;
  }
  TRY(write(d, state_name(state)));
  spdlog::warn("desktop {} ({}): host {} is down; moved to host {}", d.id, d.name, old_host, d.host_id);
  return Ok();
}

Result<void> Reconciler::delete_desktop(store::DesktopRecord d, agent::HostAgent* agent) {
  if (d.state != state_name(DesktopState::kDeleting)) d = TRY(write(d, state_name(DesktopState::kDeleting)));
  if (agent) {
    TRY(agent->delete_disk(d.id));
  } else {
    spdlog::warn("desktop {}: its host {} is down; its disk stays there", d.id, d.host_id);
  }
  TRY(store_.delete_desktop(d.id, d.version));
  {
    MutexLock lock(mu_);
    last_exit_.erase(d.id);
  }
  spdlog::info("desktop {} deleted", d.id);
  return Ok();
}

}  // namespace oriel::controller
