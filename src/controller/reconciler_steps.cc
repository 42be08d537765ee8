// The effects of each reconciler step. Each writes the state it enters before
// acting on the host, so that a crash in between is repaired by the next step.
#include "oriel/common/log.h"
#include "reconciler.h"

namespace oriel::controller {
namespace {

// Records a failure on the desktop; the step's own error is what we report.
Error fail(store::Store& store, Clock& clock, store::DesktopRecord d, const Error& why) {
  d.state = std::string(state_name(DesktopState::kFailed));
  d.error = why.message();
  d.updated_at = clock.now();
  (void)store.update_desktop(d);
  return why;
}

}  // namespace

Result<void> Reconciler::apply(store::DesktopRecord d, const Step& step) {
  switch (step.kind) {
    case StepKind::kNone:
      return Ok();
    case StepKind::kCreateDisk: {
      auto golden = golden_path(d);
      if (!golden.ok()) return fail(store_, clock_, d, golden.error());
      if (auto r = agent_.create_disk(d.id, *golden); !r.ok()) return fail(store_, clock_, d, r.error());
      TRY(write(d, state_name(DesktopState::kStopped)));
      return Ok();
    }
    case StepKind::kStartVm: {
      auto spec = spec_for(d);
      if (!spec.ok()) return fail(store_, clock_, d, spec.error());
      d = TRY(write(d, state_name(DesktopState::kStarting)));
      {
        std::lock_guard lock(mu_);
        last_exit_.erase(d.id);
      }
      if (auto r = agent_.start_vm(*spec); !r.ok()) return fail(store_, clock_, d, r.error().context("starting"));
      d.error.clear();
      TRY(write(d, state_name(DesktopState::kRunning)));
      spdlog::info("desktop {} ({}) is running", d.id, d.name);
      return Ok();
    }
    case StepKind::kMarkRunning:
      d.error.clear();
      TRY(write(d, state_name(DesktopState::kRunning)));
      return Ok();
    case StepKind::kShutdownVm: {
      d.deadline_ms = to_unix_ms(clock_.now()) + options_.shutdown_timeout.count();
      d = TRY(write(d, state_name(DesktopState::kStopping)));
      if (auto r = agent_.shutdown_vm(d.id); !r.ok()) {
        spdlog::warn("desktop {}: ACPI shutdown failed ({}), stopping hard", d.id, r.error().message());
        return agent_.kill_vm(d.id);
      }
      return Ok();
    }
    case StepKind::kKillVm:
      return agent_.kill_vm(d.id);
    case StepKind::kMarkStopped:
      d.deadline_ms = 0;
      TRY(write(d, state_name(DesktopState::kStopped)));
      return Ok();
    case StepKind::kMarkGuestOff:
      d.deadline_ms = 0;
      d.desired = "stopped";
      TRY(write(d, state_name(DesktopState::kStopped)));
      return Ok();
    case StepKind::kMarkFailed:
      return fail(store_, clock_, d, Error::Unavailable(step.reason));
    case StepKind::kRebootVm:
      TRY(agent_.reboot_vm(d.id));
      d.pending_op.clear();
      TRY(write(d, d.state));
      return Ok();
    case StepKind::kClearPendingOp:
      d.pending_op.clear();
      TRY(write(d, d.state));
      return Ok();
    case StepKind::kResetDisk: {
      auto golden = golden_path(d);
      if (!golden.ok()) return fail(store_, clock_, d, golden.error());
      d = TRY(write(d, state_name(DesktopState::kResetting)));
      if (auto r = agent_.reset_disk(d.id, *golden); !r.ok()) return fail(store_, clock_, d, r.error());
      d.pending_op.clear();
      TRY(write(d, state_name(DesktopState::kStopped)));
      spdlog::info("desktop {} reset to its image", d.id);
      return Ok();
    }
    case StepKind::kDeleteDisk: {
      if (d.state != state_name(DesktopState::kDeleting)) d = TRY(write(d, state_name(DesktopState::kDeleting)));
      TRY(agent_.delete_disk(d.id));
      TRY(store_.delete_desktop(d.id, d.version));
      {
        std::lock_guard lock(mu_);
        last_exit_.erase(d.id);
      }
      spdlog::info("desktop {} deleted", d.id);
      return Ok();
    }
  }
  return Ok();
}

}  // namespace oriel::controller
