// The controller's desktop commands: validate, write the desired state, poke
// the reconciler. Nothing here waits for QEMU.
#include "checks.h"
#include "desktop_state.h"
#include "fleet.h"
#include "migrations.h"
#include "oriel/controller/controller.h"
#include "reconciler.h"
#include "scheduler.h"

namespace oriel::controller {

Result<std::vector<HostLoad>> Controller::host_loads() {
  auto hosts = TRY(store_.hosts());
  auto allocations = TRY(store_.host_allocations());
  std::vector<HostLoad> loads;
  loads.reserve(hosts.size());
  for (auto& h : hosts) {
    HostLoad load{std::move(h)};
    for (const auto& a : allocations) {
      if (a.host_id != load.host.id) continue;
      load.vcpus = a.vcpus;
      load.memory_mb = a.memory_mb;
    }
    loads.push_back(std::move(load));
  }
  // A desktop on its way to a host holds its place there already.
  for (const auto& [host_id, r] : migrations_->reserved()) {
    for (auto& load : loads) {
      if (load.host.id != host_id) continue;
      load.vcpus += r.first;
      load.memory_mb += r.second;
    }
  }
  return loads;
}

Result<std::string> Controller::place(const store::DesktopRecord& d) {
  auto loads = TRY(host_loads());
  auto host = scheduler_->place(loads, {d.vcpus, d.memory_mb});
  if (host.ok() || d.desired == "running" || host.error().code() != ErrorCode::kUnavailable) return host;
  // A desktop that is not to run needs only a host it could ever run on.
  for (auto& load : loads) load.vcpus = load.memory_mb = 0;
  return scheduler_->place(loads, {d.vcpus, d.memory_mb});
}

Result<void> Controller::check_room_to_run(const store::DesktopRecord& d) {
  if (d.desired == "running") return Ok();  // already counted
  for (const auto& load : TRY(host_loads())) {
    if (load.host.id == d.host_id) return scheduler_->check_room(load, {d.vcpus, d.memory_mb});
  }
  return Error::Unavailable(fmt::format("desktop '{}' is on host '{}', which is gone", d.id, d.host_id));
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
  d.state = std::string(state_name(DesktopState::kProvisioning));
  d.desired = cmd.start ? "running" : "stopped";
  d.created_at = d.updated_at = clock_.now();
  std::lock_guard lock(placement_mu_);
  d.host_id = TRY(place(d));
  auto inserted = store_.insert_desktop(d);
  if (!inserted.ok() && inserted.error().code() == ErrorCode::kConflict) {
    return Error::Conflict(fmt::format("a desktop named '{}' already exists", d.name));
  }
  TRY(std::move(inserted));
  reconciler_->poke();
  return d;
}

Result<store::DesktopRecord> Controller::desktop(const Principal& who, std::string_view id) {
  return visible_desktop(who, id);
}

Result<std::vector<store::DesktopRecord>> Controller::desktops(const Principal& who, store::DesktopFilter filter) {
  if (who.tenant_admin()) {
    if (!filter.tenant_id.empty() && filter.tenant_id != who.tenant_id) return std::vector<store::DesktopRecord>{};
    filter.tenant_id = who.tenant_id;
  } else if (!who.admin()) {
    filter.assigned_user = who.user_id;
  }
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
  TRY(visible_desktop(who, id));
  if (!who.admin() && !who.tenant_admin() && action == DesktopAction::kReset) {
    return Error::PermissionDenied("a user resets a pooled desktop by logging off");
  }
  std::lock_guard lock(placement_mu_);
  return change_desktop(id, [&](store::DesktopRecord& d) -> Result<void> {
    switch (action) {
      case DesktopAction::kStart:
        TRY(check_room_to_run(d));
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
  TRY(visible_desktop(who, id));
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("only administrators delete desktops");
  return change_desktop(id, [](store::DesktopRecord& d) -> Result<void> {
    d.desired = "deleted";
    return Ok();
  });
}

Result<std::string> Controller::screenshot_png(const Principal& who, std::string_view desktop_id) {
  auto d = TRY(visible_desktop(who, desktop_id));
  auto agent = fleet_->agent(d.host_id);
  if (!agent || agent->vm_status(d.id) == agent::VmStatus::kAbsent) {
    return Error::Conflict(fmt::format("desktop '{}' is {}: no screen to capture", d.id, public_state_name(d.state)));
  }
  return agent->screenshot_png(d.id);
}

}  // namespace oriel::controller
