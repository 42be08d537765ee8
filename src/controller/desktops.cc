// The controller's desktop commands: validate, write the desired state, poke
// the reconciler. Nothing here waits for QEMU.
#include "checks.h"
#include "desktop_state.h"
#include "oriel/controller/controller.h"
#include "reconciler.h"

namespace oriel::controller {

Result<void> Controller::check_capacity(const store::DesktopRecord& d, bool to_run) {
  auto host = TRY(store_.host(d.host_id));
  double cpu_limit = static_cast<double>(host.cpus) * options_.cpu_overcommit;
  double mem_limit = static_cast<double>(host.memory_mb) * options_.memory_overcommit;
  if (d.vcpus > cpu_limit || d.memory_mb > mem_limit) {
    return Error::Unprocessable(fmt::format(
        "a desktop with {} vCPUs and {} MiB cannot fit on any host (largest: {} CPUs x{} overcommit, {} MiB x{})",
        d.vcpus, d.memory_mb, host.cpus, options_.cpu_overcommit, host.memory_mb, options_.memory_overcommit));
  }
  if (!to_run) return Ok();
  int64_t cpus = d.vcpus, mem = d.memory_mb;
  for (const auto& other : TRY(store_.desktops({.host_id = d.host_id}))) {
    if (other.id == d.id || other.desired != "running") continue;
    cpus += other.vcpus;
    mem += other.memory_mb;
  }
  if (cpus > cpu_limit || mem > mem_limit) {
    return Error::Unavailable(fmt::format(
        "no capacity: host {} would need {} vCPUs (limit {:.0f}) and {} MiB (limit {:.0f}) to run this desktop",
        host.name, cpus, cpu_limit, mem, mem_limit));
  }
  return Ok();
}

Result<store::DesktopRecord> Controller::create_desktop(const Principal& who, CreateDesktop cmd) {
  TRY(require_admin(who));
  TRY(check_name("desktop", cmd.name));
  auto image = TRY(store_.image(cmd.image_id));
  if (image.state == "importing") return Error::Conflict(fmt::format("image '{}' is still importing", image.id));
  if (image.state != "ready") {
    return Error::Unprocessable(fmt::format("image '{}' failed to import: {}", image.id, image.error));
  }
  store::DesktopRecord d;
  d.id = new_id(random_, "d");
  d.name = cmd.name;
  d.image_id = image.id;
  d.vcpus = cmd.vcpus;
  d.memory_mb = cmd.memory_mb;
  d.host_id = host_id_;
  d.state = std::string(state_name(DesktopState::kProvisioning));
  d.desired = cmd.start ? "running" : "stopped";
  d.created_at = d.updated_at = clock_.now();
  TRY(check_capacity(d, cmd.start));
  auto inserted = store_.insert_desktop(d);
  if (!inserted.ok() && inserted.error().code() == ErrorCode::kConflict) {
    return Error::Conflict(fmt::format("a desktop named '{}' already exists", d.name));
  }
  TRY(std::move(inserted));
  reconciler_->poke();
  return d;
}

Result<store::DesktopRecord> Controller::desktop(std::string_view id) { return store_.desktop(id); }

Result<std::vector<store::DesktopRecord>> Controller::desktops(const store::DesktopFilter& filter) {
  return store_.desktops(filter);
}

Result<store::DesktopRecord> Controller::change_desktop(
    std::string_view id, const std::function<Result<void>(store::DesktopRecord&)>& change) {
  // Compare-and-swap against the reconciler's own writes: retry on a race.
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto d = TRY(store_.desktop(id));
    if (d.desired == "deleted") return Error::Conflict(fmt::format("desktop '{}' is being deleted", id));
    TRY(change(d));
    d.updated_at = clock_.now();
    auto updated = store_.update_desktop(d);
    if (updated.ok()) {
      reconciler_->poke();
      return updated;
    }
    if (updated.error().code() != ErrorCode::kConflict) return updated.take_error();
  }
  return Error::Conflict(fmt::format("desktop '{}' is changing too fast; try again", id));
}

Result<store::DesktopRecord> Controller::desktop_action(const Principal& who, std::string_view id,
                                                        DesktopAction action) {
  TRY(require_admin(who));
  return change_desktop(id, [&](store::DesktopRecord& d) -> Result<void> {
    switch (action) {
      case DesktopAction::kStart:
        TRY(check_capacity(d, true));
        d.desired = "running";
        if (d.state == state_name(DesktopState::kFailed)) {
          d.state = std::string(state_name(DesktopState::kStopped));
          d.error.clear();
        }
        return Ok();
      case DesktopAction::kStop:
        d.desired = "stopped";
        return Ok();
      case DesktopAction::kReboot:
        if (d.state != state_name(DesktopState::kRunning)) {
          return Error::Conflict(fmt::format("desktop '{}' is {}, not running", d.id, public_state_name(d.state)));
        }
        d.pending_op = "reboot";
        return Ok();
      case DesktopAction::kReset:
        if (d.state == state_name(DesktopState::kProvisioning)) {
          return Error::Conflict(fmt::format("desktop '{}' is still provisioning", d.id));
        }
        d.pending_op = "reset";
        if (d.state == state_name(DesktopState::kFailed)) d.state = std::string(state_name(DesktopState::kStopped));
        return Ok();
    }
    return Ok();
  });
}

Result<store::DesktopRecord> Controller::delete_desktop(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  return change_desktop(id, [](store::DesktopRecord& d) -> Result<void> {
    d.desired = "deleted";
    return Ok();
  });
}

Result<std::string> Controller::screenshot_png(std::string_view desktop_id) {
  auto d = TRY(store_.desktop(desktop_id));
  if (agent_.vm_status(d.id) == agent::VmStatus::kAbsent) {
    return Error::Conflict(fmt::format("desktop '{}' is {}: no screen to capture", d.id, public_state_name(d.state)));
  }
  return agent_.screenshot_png(d.id);
}

}  // namespace oriel::controller
