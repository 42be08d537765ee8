// Placement with the store's current picture (internal): what every host
// has allocated, and where a desktop goes or whether it may start. One lock
// serializes the decisions that spend host capacity, so two of them never
// see the same room; the store's compare-and-swap and unique indexes guard
// the same rules across processes. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "oriel/store/store.h"
#include "scheduler.h"

namespace oriel::controller {

// Capacity held on hosts that desktops are migrating to: host id →
// (vCPUs, MiB). The scheduler counts them on both hosts until the switchover.
using Reservations = std::map<std::string, std::pair<int64_t, int64_t>>;

class Placement {
 public:
  Placement(store::HostStore& hosts, store::DesktopStore& desktops, SchedulerOptions options)
      : hosts_(hosts), desktops_(desktops), scheduler_(options) {}

  // Held by callers around a decision and the write that spends it; logons
  // and the pool loop take their pool's lock first.
  std::mutex& mutex() { return mu_; }
  // Where migrations hold capacity (set once, before use).
  void set_reservations(std::function<Reservations()> reservations) { reservations_ = std::move(reservations); }

  // Every host with what the desktops meant to run there need, migrations
  // on their way included. Callers hold mutex().
  Result<std::vector<HostLoad>> loads();
  // place_desktop and room_to_run (scheduler.h) on loads(). Callers hold mutex().
  Result<std::string> place(const store::DesktopRecord& d);
  Result<void> check_room_to_run(const store::DesktopRecord& d);
  const Scheduler& scheduler() const { return scheduler_; }

 private:
  store::HostStore& hosts_;
  store::DesktopStore& desktops_;
  const Scheduler scheduler_;
  std::function<Reservations()> reservations_;
  std::mutex mu_;
};

}  // namespace oriel::controller
