// What the controller's parts share (internal to src/controller): the
// store, the agents of the fleet, the clock and randomness, the options,
// placement, and the background machinery (reconciler, migrations, image
// importer, the broker's loop). The Controller owns one Core and hands a
// reference to each part; members are set up in the Controller's
// constructor and stay put until its destructor. Thread-safe as its members
// are.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "access.h"
#include "fleet.h"
#include "oriel/agent/host_agent.h"
#include "oriel/common/clock.h"
#include "oriel/common/mutex.h"
#include "oriel/common/random.h"
#include "oriel/controller/controller.h"
#include "oriel/store/store.h"
#include "placement.h"

namespace oriel::controller {

class ImageImporter;
class Migrations;
class Reconciler;
class Ticker;

// One mutex per pool, made on first use: logons to a pool and the pool's
// loop take it, so two of them never pick the same free desktop, while
// logons to different pools run side by side.
class PoolLocks {
 public:
  std::mutex& of(std::string_view pool_id);

 private:
  Mutex mu_;
  std::map<std::string, std::unique_ptr<std::mutex>, std::less<>> locks_ ORIEL_GUARDED_BY(mu_);
};

struct Core {
  Core(store::Store& store, agent::HostAgent& agent, Clock& clock, Random& random, ControllerOptions options);
  ~Core();

  store::Store& store;
  agent::HostAgent& embedded_agent;  // this process's own, if it runs the agent role
  Clock& clock;
  Random& random;
  const ControllerOptions options;
  std::string host_id;         // the embedded host's, once bootstrapped
  ClusterCredentials cluster;  // set by Controller::bootstrap
  Fleet fleet;
  Placement placement;
  PoolLocks pool_locks;
  std::unique_ptr<Reconciler> reconciler;
  std::unique_ptr<Migrations> migrations;
  std::unique_ptr<ImageImporter> importer;
  std::unique_ptr<Ticker> broker_loop;  // hosts watched, pools reconciled (while leading)
  std::unique_ptr<Ticker> leadership;   // takes or keeps the store's leader lock
  std::atomic<bool> leading{false};
  std::atomic<int64_t> next_audit_archive_ms{0};  // archive_audit's next pass
  Controller::MoveListener move_listener;
  SessionListener session_listener;

  // A caller's change of a desktop: who asks, and whether their role may
  // make it at all (answered once they are known to see the desktop).
  struct Asker {
    const Principal& who;
    Result<void> allowed = Ok();
  };
  // Changes a desktop with compare-and-swap against the reconciler's own
  // writes (re-read and retried on a race), then pokes the reconciler.
  // With an asker: NotFound if they do not see it, then their `allowed`.
  // Conflict if it is being deleted, or keeps changing. One read when
  // nothing races.
  Result<store::DesktopRecord> change_desktop(std::string_view id,
                                              const std::function<Result<void>(store::DesktopRecord&)>& change,
                                              const Asker* asker = nullptr);
  // The reconciler and the broker's loop: something changed, look now.
  void poke_desktops();
  // The same, for one desktop changed by this thread's request: the
  // reconciler's work on it logs with the request's id.
  void poke_desktop(const std::string& desktop_id);
  void poke_broker();
  void session_ended(const std::string& session_id, SessionEnd why) {
    if (session_listener) session_listener(session_id, why);
  }
  // The guest of `desktop_id` runs on `host` now: a connected display follows.
  void desktop_moved(const std::string& desktop_id, const std::string& host) {
    if (move_listener) move_listener(desktop_id, fleet.address(host));
  }
};

}  // namespace oriel::controller
