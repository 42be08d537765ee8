// The desktop commands: validate, write the desired state, poke the
// reconciler. Nothing here waits for QEMU.
#include "oriel/controller/desktops.h"

#include "access.h"
#include "checks.h"
#include "core.h"
#include "desktop_state.h"
#include "loops.h"
#include "migrations.h"

namespace oriel::controller {
namespace {

// What an action changes in the desktop's record, checked against its state.
Result<void> apply_action(Placement& placement, const Principal& who, DesktopAction action, store::DesktopRecord& d) {
  switch (action) {
    case DesktopAction::kStart:
      TRY(placement.check_room_to_run(d, &who));
      d.desired = "running";
      if (d.state == state_name(DesktopState::kFailed)) {
        d.state = std::string(state_name(DesktopState::kStopped));
        d.error.clear();
      }
      return Ok();
    case DesktopAction::kStop: d.desired = "stopped"; return Ok();
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
}

}  // namespace

Result<store::DesktopRecord> Desktops::create(const Principal& who, const CreateDesktop& cmd) {
  TRY(require_admin(who));
  TRY(check_name("desktop", cmd.name));
  auto image = TRY(core_.store.image(cmd.image_id));
  if (image.state == "importing") return Error::Conflict(fmt::format("image '{}' is still importing", image.id));
  if (image.state != "ready") {
    return Error::Unprocessable(fmt::format("image '{}' failed to import: {}", image.id, image.error));
  }
  store::DesktopRecord d;
  d.id = new_id(core_.random, "d");
  d.name = cmd.name;
  d.image_id = image.id;
  d.vcpus = cmd.vcpus;
  d.memory_mb = cmd.memory_mb;
  d.state = std::string(state_name(DesktopState::kProvisioning));
  d.desired = cmd.start ? "running" : "stopped";
  d.created_at = d.updated_at = core_.clock.now();
  std::lock_guard lock(core_.placement.mutex());
  d.host_id = TRY(core_.placement.place(d, &who));
  auto inserted = core_.store.insert_desktop(d);
  if (!inserted.ok() && inserted.error().code() == ErrorCode::kConflict) {
    return Error::Conflict(fmt::format("a desktop named '{}' already exists", d.name));
  }
  TRY(std::move(inserted));
  core_.poke_desktop(d.id);
  return d;
}

Result<store::DesktopRecord> Desktops::get(const Principal& who, std::string_view id) {
  auto d = TRY(visible_desktop(core_.store, who, id));
  d.error = capacity_text_for(who, std::move(d.error));
  return d;
}

Result<std::vector<store::DesktopRecord>> Desktops::list(const Principal& who, store::DesktopFilter filter) {
  if (who.tenant_admin()) {
    if (!filter.tenant_id.empty() && filter.tenant_id != who.tenant_id) return std::vector<store::DesktopRecord>{};
    filter.tenant_id = who.tenant_id;
  } else if (!who.admin()) {
    filter.assigned_user = who.user_id;
  }
  auto desktops = TRY(core_.store.desktops(filter));
  for (auto& d : desktops) d.error = capacity_text_for(who, std::move(d.error));
  return desktops;
}

Result<store::DesktopRecord> Desktops::act(const Principal& who, std::string_view id, DesktopAction action) {
  Core::Asker asker{who};
  if (!who.admin() && !who.tenant_admin() && action == DesktopAction::kReset) {
    asker.allowed = Error::PermissionDenied("a user resets a pooled desktop by logging off");
  }
  std::lock_guard lock(core_.placement.mutex());
  return core_.change_desktop(
      id, [&](store::DesktopRecord& d) { return apply_action(core_.placement, who, action, d); }, &asker);
}

Result<store::DesktopRecord> Desktops::remove(const Principal& who, std::string_view id) {
  Core::Asker asker{who};
  if (!who.admin() && !who.tenant_admin())
    asker.allowed = Error::PermissionDenied("only administrators delete desktops");
  return core_.change_desktop(
      id,
      [](store::DesktopRecord& d) -> Result<void> {
        d.desired = "deleted";
        return Ok();
      },
      &asker);
}

Result<std::string> Desktops::screenshot_png(const Principal& who, std::string_view id) {
  auto d = TRY(visible_desktop(core_.store, who, id));
  auto agent = core_.fleet.agent(d.host_id);
  if (!agent || agent->vm_status(d.id) == agent::VmStatus::kAbsent) {
    return Error::Conflict(fmt::format("desktop '{}' is {}: no screen to capture", d.id, public_state_name(d.state)));
  }
  return agent->screenshot_png(d.id);
}

Result<store::DesktopRecord> Desktops::migrate(const Principal& who, std::string_view id, std::string_view host_id) {
  std::lock_guard lock(core_.placement.mutex());
  auto d = TRY(visible_desktop(core_.store, who, id));
  if (!who.admin()) return Error::PermissionDenied("only administrators move desktops between hosts");
  return request_migration(core_, std::move(d), std::string(host_id));
}

Result<store::DesktopRecord> Desktops::cancel_migration(const Principal& who, std::string_view id) {
  auto d = TRY(visible_desktop(core_.store, who, id));
  if (!who.admin()) return Error::PermissionDenied("only administrators move desktops between hosts");
  if (!migration_target(d)) return Error::Conflict(fmt::format("desktop '{}' is not migrating", d.id));
  if (d.state != state_name(DesktopState::kMigrating)) {
    // Asked for, not started yet: forget it.
    d.pending_op.clear();
    d.updated_at = core_.clock.now();
    return core_.store.update_desktop(d);
  }
  // Stored, so that it reaches the controller that follows the migration.
  d.pending_op = cancel_migrate_op(migration_target(d).value_or(""));
  d.updated_at = core_.clock.now();
  d = TRY(core_.store.update_desktop(d));
  (void)core_.migrations->cancel(d.id);
  core_.poke_desktops();
  return d;
}

std::optional<MigrationView> Desktops::migration(const Principal& who, std::string_view id) {
  if (!who.admin()) return std::nullopt;
  return core_.migrations->view(std::string(id));
}

}  // namespace oriel::controller
