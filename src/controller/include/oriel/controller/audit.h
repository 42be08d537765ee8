// The append-only audit log and the usage report (desktop-hours and
// session-hours per day).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oriel/common/clock.h"
#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/store.h"

namespace oriel::controller {

struct Core;

struct UsageQuery {
  std::string from_day;   // YYYY-MM-DD
  std::string to_day;     // inclusive
  std::string tenant_id;  // empty: all (admin only)
};

struct DesktopUsage {
  std::string day, tenant_id, pool_id;
  double hours = 0;
};

struct SessionUsage {
  std::string day, tenant_id, user_id, username;
  double hours = 0;
};

struct UsageReport {
  std::string from_day, to_day;
  std::vector<DesktopUsage> desktops;
  std::vector<SessionUsage> sessions;
};

// Splits metered intervals at UTC midnight and sums them per day and key,
// clipped to [from, to). Pure; `now` closes intervals still open.
UsageReport summarize_usage(const std::vector<store::UsageInterval>& intervals, WallTime from, WallTime to,
                            WallTime now);

// Admins read everything, tenant-admins their tenant's. Thread-safe.
class AuditLog {
 public:
  explicit AuditLog(Core& core) : core_(core) {}
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends an event (the API layer records every request that changes
  // something); `event.at` is set here. A failure is logged, not returned.
  void append(store::AuditEvent event);
  Result<std::vector<store::AuditEvent>> events(const Principal& who, store::AuditFilter filter);
  Result<UsageReport> usage(const Principal& who, const UsageQuery& query);
  // The archives of pruned events, newest first: an admin's of `tenant_id`
  // (nullopt: all), a tenant-admin's of their tenant, with the file's name
  // only (no server path).
  Result<std::vector<store::AuditArchive>> archives(const Principal& who, std::optional<std::string> tenant_id);

 private:
  Core& core_;
};

}  // namespace oriel::controller
