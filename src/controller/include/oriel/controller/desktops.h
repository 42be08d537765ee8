// Desktops, one by one: create, power, reset, delete, screenshot and live
// migration. Commands write the desired state and answer at once; the
// reconciler drives the hosts there.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/agent/migration.h"
#include "oriel/common/clock.h"
#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/store.h"

namespace oriel::controller {

struct Core;

struct CreateDesktop {
  std::string name;
  std::string image_id;  // must be ready
  int vcpus = 1;
  int memory_mb = 1024;
  bool start = true;
};

enum class DesktopAction {
  kStart,   // any state but deleting; clears a failure
  kStop,    // ACPI shutdown, hard stop after the timeout
  kReboot,  // only while running: hard reset, disk kept
  kReset,   // back to the golden image: discards the overlay; restarts if it was to run
};

// The contract's desktop state (provisioning, stopped, starting, running,
// migrating, stopping, failed, deleting) for a stored internal state.
std::string_view public_state_name(std::string_view internal_state);
// The same for a desktop: "migrating" too while a migration is asked for but not under way.
std::string_view public_state_name(const store::DesktopRecord& desktop);

// A desktop's live migration, as the API shows it (the active one, or the last).
struct MigrationView {
  std::string source_host;
  std::string target_host;
  bool active = false;
  agent::MigrationProgress progress;
  WallTime started_at;
};

// A desktop is visible to admins, to its tenant's admins and to its
// assigned user; anyone else gets NotFound. Thread-safe.
class Desktops {
 public:
  explicit Desktops(Core& core) : core_(core) {}
  Desktops(const Desktops&) = delete;
  Desktops& operator=(const Desktops&) = delete;

  // Admins only; the image must be ready and a host must have room.
  Result<store::DesktopRecord> create(const Principal& who, const CreateDesktop& cmd);
  Result<store::DesktopRecord> get(const Principal& who, std::string_view id);
  Result<std::vector<store::DesktopRecord>> list(const Principal& who, store::DesktopFilter filter);
  Result<store::DesktopRecord> act(const Principal& who, std::string_view id, DesktopAction action);
  Result<store::DesktopRecord> remove(const Principal& who, std::string_view id);
  Result<std::string> screenshot_png(const Principal& who, std::string_view id);
  // Live migration of a running desktop (admins only) to `host_id`, or to
  // the host the scheduler picks when it is empty. Returns once it is asked
  // for (state migrating); the outcome shows in the desktop and migration().
  Result<store::DesktopRecord> migrate(const Principal& who, std::string_view id, std::string_view host_id);
  Result<store::DesktopRecord> cancel_migration(const Principal& who, std::string_view id);
  // The active or last migration this controller followed, for admins.
  std::optional<MigrationView> migration(const Principal& who, std::string_view id);

 private:
  Core& core_;
};

}  // namespace oriel::controller
