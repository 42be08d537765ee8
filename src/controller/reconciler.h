// Drives each desktop from its stored state towards its desired state, one
// step at a time (desktop_state.h decides the step). A loop thread scans the
// store on every poke and at least once per interval; steps run on a small
// worker pool with at most one step in flight per desktop, so a slow stop
// never holds up another desktop. Each desktop's steps go to the agent of
// its host (the Fleet); desktops of a host that is down are moved to
// another, those in a session first. Thread-safe.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <functional>

#include <map>
#include <memory>
#include <set>

#include "desktop_state.h"
#include "fleet.h"
#include "oriel/agent/host_agent.h"
#include "oriel/common/clock.h"
#include "oriel/common/mutex.h"
#include "oriel/store/store.h"
#include "ticker.h"

namespace oriel::controller {

struct ReconcilerOptions {
  std::chrono::milliseconds shutdown_timeout;
  std::chrono::milliseconds interval;
  size_t workers;
  // Another host for a desktop whose host is down (the controller's
  // scheduler, under its placement lock).
  std::function<Result<std::string>(const store::DesktopRecord&)> relocate;
  // Live migration (the controller's Migrations): a running desktop asked
  // to migrate, and a desktop in state migrating.
  std::function<Result<void>(const store::DesktopRecord&)> start_migration;
  std::function<Result<void>(const store::DesktopRecord&)> settle_migration;
};

// What QEMU runs for desktop `d` on the host of `agent`.
Result<agent::VmSpec> vm_spec_for(store::Store& store, const store::DesktopRecord& d, agent::HostAgent& agent);
// The golden image under d's overlay (Conflict if the image is not ready).
Result<std::string> golden_path_of(store::ImageStore& images, const store::DesktopRecord& d);

class Reconciler {
 public:
  Reconciler(store::Store& store, Fleet& fleet, Clock& clock, ReconcilerOptions options);
  ~Reconciler();

  void start();
  void stop();
  void poke();  // something changed: scan now
  // A request changed this desktop: scan now, and log the work on it with
  // the request's id (current_request_id()) until it has no step left.
  void poke_for(const std::string& desktop_id);
  void on_vm_exit(const std::string& vm_id, agent::VmExit why);

 private:
  using HostStates = std::map<std::string, std::string>;  // host id → state
  void scan();
  void work(const std::string& desktop_id);
  Observation observe(const store::DesktopRecord& d, const HostStates& hosts);
  Result<HostStates> host_states();
  Result<void> apply(store::DesktopRecord d, const Step& step, HostHealth host);
  Result<void> apply_vm_step(store::DesktopRecord d, const Step& step, agent::HostAgent& agent);
  Result<void> relocate(store::DesktopRecord d);
  Result<void> delete_desktop(store::DesktopRecord d, agent::HostAgent* agent);
  // Kills VMs that no desktop of their host accounts for (a desktop moved
  // away while its old host was cut off, then the host came back).
  void sweep_strays(const std::vector<store::DesktopRecord>& all, const HostStates& hosts);
  Result<store::DesktopRecord> write(store::DesktopRecord d, std::string_view state);

  store::Store& store_;
  Fleet& fleet_;
  Clock& clock_;
  ReconcilerOptions options_;

  Mutex mu_;
  bool stopping_ ORIEL_GUARDED_BY(mu_) = false;
  std::set<std::string> busy_ ORIEL_GUARDED_BY(mu_);
  std::map<std::string, std::string> origins_ ORIEL_GUARDED_BY(mu_);  // desktop id → the request that changed it
  std::map<std::string, agent::VmExit> last_exit_ ORIEL_GUARDED_BY(mu_);
  std::unique_ptr<boost::asio::thread_pool> pool_;
  // Scans on every poke and once per interval; pokes during a scan coalesce
  // and scans stay 25 ms apart: with many desktops in flight, every finished
  // step pokes, and a full scan per step would burn a core re-reading the store.
  Ticker ticker_;
};

}  // namespace oriel::controller
