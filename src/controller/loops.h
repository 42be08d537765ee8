// The leader's background work, one pass or one step each (internal): the
// broker's loop runs them, and the reconciler calls relocate and the
// migration steps through its hooks. Each decides from the store alone, so a
// crash at any point converges on the next pass.
#pragma once

#include <string>
#include <vector>

#include "core.h"

namespace oriel::controller {

// hosts.cc: declares down the remote hosts whose lease and grace have run
// out, and drains those in maintenance.
void watch_hosts(Core& core);
// A host for a desktop whose host is down, or the reason there is none.
Result<std::string> relocate(Core& core, const store::DesktopRecord& d);
// Records that `d` (running) is to migrate to `target` (empty: the
// scheduler's choice); callers hold the placement lock. The leader's
// reconciler then calls begin_migration.
Result<store::DesktopRecord> request_migration(Core& core, store::DesktopRecord d, const std::string& target);
Result<void> begin_migration(Core& core, store::DesktopRecord d);

// pool_reconciler.cc: brings one pool to its targets.
Result<void> reconcile_pool(Core& core, std::string_view pool_id);
// A new desktop of `pool` on `host_id`, its name "<pool>-<n>"; writes the
// pool's next index. Callers hold the pool's lock and the placement lock.
Result<store::DesktopRecord> new_pool_desktop(Core& core, store::PoolRecord& pool, bool run, std::string host_id);

// sessions.cc: disconnects sessions idle past their pool's timeout, and
// ends those whose desktop is gone.
void expire_idle_sessions(Core& core, const std::vector<store::SessionRecord>& open_sessions,
                          const std::vector<store::DesktopRecord>& desktops,
                          const std::vector<store::PoolRecord>& pools);
// audit.cc: opens and closes the usage intervals of running desktops.
void meter_usage(Core& core, const std::vector<store::DesktopRecord>& desktops);
// audit.cc: archives, then prunes, the audit events past their retention;
// does nothing until options.audit_archive_interval has passed since the
// last pass.
void archive_audit(Core& core);

}  // namespace oriel::controller
