// Tenants' quotas (internal): whether a tenant may take more of the fleet.
// Pure, so the pool planner spends it as it plans and Placement checks it
// before each desktop it places or starts.
#pragma once

#include "oriel/common/result.h"
#include "oriel/store/records.h"
#include "oriel/store/store.h"

namespace oriel::controller {

// What a desktop adds to its tenant's allocation: a new one counts as a
// desktop and its image's disk; one that is to run, its vCPUs and memory.
store::TenantAllocation demand_of(const store::DesktopRecord& d, bool new_desktop, bool running, int64_t image_bytes);

// Ok if `has` plus `more` stays within `quota` (a 0 limit is none), else
// Unavailable naming the limit, what is in use and what was asked for.
Result<void> within_quota(const store::Quota& quota, const store::TenantAllocation& has,
                          const store::TenantAllocation& more);

// `more` added to `has`, as a plan spends it.
void add_allocation(store::TenantAllocation& has, const store::TenantAllocation& more);

}  // namespace oriel::controller
