// The controller: the single source of truth. It validates commands, writes
// the desired state to the store, and answers at once; its reconciler and
// image importer then drive the hosts towards that state. Every step is
// written before it is acted on, so a crash at any point converges after a
// restart. All public methods are thread-safe (the API calls them from its
// worker threads).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "oriel/agent/host_agent.h"
#include "oriel/common/clock.h"
#include "oriel/common/random.h"
#include "oriel/store/store.h"

namespace oriel::controller {

struct ControllerOptions {
  std::string data_dir;                                   // images/ lives here
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(30)};  // ACPI, then hard stop
  std::chrono::milliseconds reconcile_interval{std::chrono::seconds(1)};
  std::chrono::hours token_ttl{12};
  double cpu_overcommit = 4.0;     // vCPUs per host CPU
  double memory_overcommit = 1.0;  // guest memory per host memory
  size_t reconcile_workers = 4;    // desktops worked on at once
};

struct Principal {
  std::string user_id;
  std::string username;
  std::string role;       // admin | tenant-admin | user
  std::string tenant_id;
};

struct LoginResult {
  std::string token;
  WallTime expires_at;
};

// Commands: what an API request means once parsed. Preconditions are checked
// by the controller against the store, not by the parser.
struct CreateImage {
  std::string name;
  std::string source_path;      // a regular file on the controller's machine
  std::string format = "auto";  // auto | qcow2 | raw | vpc | vhdx
  agent::BootSpec boot;
};

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

struct HostView {
  store::HostRecord host;
  int64_t cpus_allocated = 0;       // vCPUs of desktops meant to run there
  int64_t memory_allocated_mb = 0;
  int64_t desktops = 0;
};

class Reconciler;
class ImageImporter;

class Controller {
 public:
  Controller(store::Store& store, agent::HostAgent& agent, Clock& clock, Random& random, ControllerOptions options);
  ~Controller();

  // Registers the embedded host and makes sure the admin exists with this
  // password (created, or its password updated when given).
  Result<void> bootstrap(std::string_view admin_password);
  void start();  // starts the reconciler and the importer
  void stop();   // stops them; running desktops keep running

  Result<LoginResult> login(std::string_view username, std::string_view password);
  Result<void> logout(std::string_view token);
  Result<Principal> authenticate(std::string_view token);

  Result<std::vector<HostView>> hosts();

  Result<store::ImageRecord> create_image(const Principal& who, CreateImage cmd);
  Result<store::ImageRecord> image(std::string_view id);
  Result<std::vector<store::ImageRecord>> images();
  Result<void> delete_image(const Principal& who, std::string_view id);

  Result<store::DesktopRecord> create_desktop(const Principal& who, CreateDesktop cmd);
  Result<store::DesktopRecord> desktop(std::string_view id);
  Result<std::vector<store::DesktopRecord>> desktops(const store::DesktopFilter& filter);
  Result<store::DesktopRecord> desktop_action(const Principal& who, std::string_view id, DesktopAction action);
  Result<store::DesktopRecord> delete_desktop(const Principal& who, std::string_view id);
  Result<std::string> screenshot_png(std::string_view desktop_id);

 private:
  Result<void> check_capacity(const store::DesktopRecord& d, bool to_run);
  Result<store::DesktopRecord> change_desktop(std::string_view id,
                                              const std::function<Result<void>(store::DesktopRecord&)>& change);
  Result<void> require_admin(const Principal& who);

  store::Store& store_;
  agent::HostAgent& agent_;
  Clock& clock_;
  Random& random_;
  ControllerOptions options_;
  std::string host_id_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<ImageImporter> importer_;
};

}  // namespace oriel::controller
