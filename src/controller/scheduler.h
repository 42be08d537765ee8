// Placement of desktops on hosts. Pure: it sees host records and what is
// already allocated on them, and answers where a desktop of a given size
// goes, or why it cannot. The controller serializes placements (so two
// decisions never spend the same room) and keeps the allocations current.
#pragma once

#include <string>
#include <vector>

#include "oriel/common/result.h"
#include "oriel/store/records.h"

namespace oriel::controller {

enum class PlacementPolicy {
  kSpread,  // the host that stays least loaded: fewer desktops share a host's failure
  kPack,    // the fullest host that still fits: whole hosts stay free for maintenance or power-off
};

struct SchedulerOptions {
  double cpu_overcommit = 4.0;     // vCPUs per host CPU
  double memory_overcommit = 1.0;  // guest memory per host memory
  PlacementPolicy policy = PlacementPolicy::kSpread;
};

struct HostLoad {
  store::HostRecord host;
  int64_t vcpus = 0;  // allocated to desktops meant to run there
  int64_t memory_mb = 0;
};

struct Demand {
  int64_t vcpus = 1;
  int64_t memory_mb = 512;
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options) : options_(options) {}

  // The id of the host to run a desktop of `demand` on. Only hosts in state
  // "ready" are candidates. Unprocessable when no host could ever hold it,
  // Unavailable (with the reason) when none has room now.
  Result<std::string> place(const std::vector<HostLoad>& hosts, const Demand& demand) const;
  // Whether `demand` fits next to what is allocated on `host` now.
  Result<void> check_room(const HostLoad& host, const Demand& demand) const;

  const SchedulerOptions& options() const { return options_; }

 private:
  double cpu_limit(const store::HostRecord& h) const { return static_cast<double>(h.cpus) * options_.cpu_overcommit; }
  double memory_limit(const store::HostRecord& h) const {
    return static_cast<double>(h.memory_mb) * options_.memory_overcommit;
  }

  SchedulerOptions options_;
};

Result<PlacementPolicy> parse_placement_policy(std::string_view name);

// How every "no room on the hosts" answer below starts, Unavailable and
// Unprocessable alike: what tenants are told otherwise (placement.h).
inline constexpr std::string_view kNoCapacity = "no capacity";

// A host for desktop `d` given `loads`: one with room to run it now; for a
// desktop that is not to run, any ready host it could ever run on when none
// has room.
Result<std::string> place_desktop(const Scheduler& scheduler, std::vector<HostLoad> loads,
                                  const store::DesktopRecord& d);
// Whether `d` may be started where it is: Ok when it is meant to run already
// (its allocation is counted), else whether its host has room for it.
Result<void> room_to_run(const Scheduler& scheduler, const std::vector<HostLoad>& loads, const store::DesktopRecord& d);

}  // namespace oriel::controller
