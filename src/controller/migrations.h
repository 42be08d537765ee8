// Live migration of desktops between hosts, driven by the controller. A
// desktop that migrates is stored in state "migrating" with pending_op
// "migrate:<target host id>" before anything happens, so a controller that
// dies midway finds out afterwards where the desktop runs (settle); a cancel
// is stored as pending_op "cancel-migrate:<host>" and reaches the controller
// that follows the migration through its reconciler. The
// agents do the moving (HostAgent::prepare_incoming on the target, migrate
// on the source, which drives QEMU to the end by itself); a thread here
// follows the progress, answers a cancel, and at the end writes the
// desktop's new host, or leaves it on its old one with the reason.
// Thread-safe.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "fleet.h"
#include "oriel/agent/migration.h"
#include "oriel/common/clock.h"
#include "oriel/common/mutex.h"
#include "oriel/controller/desktops.h"
#include "oriel/store/store.h"
#include "placement.h"

namespace oriel::controller {

struct MigrationHooks {
  // The guest runs on `host_id` now (after the switchover).
  std::function<void(const std::string& desktop_id, const std::string& host_id)> moved;
  // A migration ended either way: the reconciler may go on.
  std::function<void()> ended;
};

class Migrations {
 public:
  Migrations(store::Store& store, Fleet& fleet, Clock& clock, MigrationHooks hooks, agent::MigrationOptions options,
             size_t parallel);
  ~Migrations();

  // Starts moving `d` (already stored as migrating to its target).
  void start(const store::DesktopRecord& d);
  // Whether a thread of this controller follows d's migration now.
  bool active(const std::string& desktop_id);
  // The hosts that active migrations are moving to, with what they bring
  // (the scheduler counts them on both hosts until the switchover).
  Reservations reserved();
  // Asks the source to roll back; returns at once (the thread writes the
  // outcome). NotFound if no migration of d is active.
  Result<void> cancel(const std::string& desktop_id);
  std::optional<MigrationView> view(const std::string& desktop_id);
  // A desktop stored as migrating that no thread here follows (this
  // controller started after the migration did): looks where the guest runs
  // and writes it. Conflict (nothing done) while it is still under way.
  Result<void> settle(const store::DesktopRecord& d);
  // Stops following migrations (the agents finish them; settle picks them
  // up after a restart). Idempotent.
  void stop();

 private:
  struct Active;
  void run(std::shared_ptr<Active> m);
  void finish(const std::shared_ptr<Active>& m, const agent::MigrationProgress& final_progress, bool shared);
  // Writes the outcome: the desktop's host is `host_id` (the target, or
  // still the source); the error says why a migration did not happen.
  void record(const std::string& desktop_id, const std::string& host_id, const std::string& error);
  std::string listen_host(const std::string& host_id);

  store::Store& store_;
  Fleet& fleet_;
  Clock& clock_;
  MigrationHooks hooks_;
  agent::MigrationOptions options_;
  Mutex mu_;
  bool stopping_ ORIEL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::shared_ptr<Active>> active_ ORIEL_GUARDED_BY(mu_);
  std::map<std::string, MigrationView> last_ ORIEL_GUARDED_BY(mu_);  // finished ones
  boost::asio::thread_pool pool_;
};

}  // namespace oriel::controller
