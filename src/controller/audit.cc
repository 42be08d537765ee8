// The audit log, the usage meter and the usage report.
#include "oriel/controller/audit.h"

#include <map>
#include <set>
#include <tuple>

#include "access.h"
#include "core.h"
#include "desktop_state.h"
#include "loops.h"
#include "oriel/common/log.h"

namespace oriel::controller {
namespace {

constexpr auto kDay = std::chrono::hours(24);

Result<WallTime> parse_day(std::string_view field, std::string_view day) {
  auto t = parse_rfc3339(fmt::format("{}T00:00:00Z", day));
  if (day.size() != 10 || !t.ok()) {
    return Error::InvalidArgument(fmt::format("{} '{}' is not a day like 2026-11-22", field, day));
  }
  return *t;
}

std::string day_of(WallTime t) { return format_rfc3339(t).substr(0, 10); }

WallTime midnight_after(WallTime t) {
  auto ms = to_unix_ms(t);
  constexpr int64_t kDayMs = 24 * 3600 * 1000;
  return from_unix_ms((ms / kDayMs + 1) * kDayMs);
}

}  // namespace

UsageReport summarize_usage(const std::vector<store::UsageInterval>& intervals, WallTime from, WallTime to,
                            WallTime now) {
  std::map<std::tuple<std::string, std::string, std::string>, double> desktops, sessions;
  for (const auto& u : intervals) {
    WallTime start = std::max(u.start, from);
    WallTime end = std::min(u.end == WallTime{} ? now : u.end, to);
    while (start < end) {
      WallTime cut = std::min(midnight_after(start), end);
      double hours = std::chrono::duration<double>(cut - start).count() / 3600.0;
      if (u.kind == "desktop") {
        desktops[{day_of(start), u.tenant_id, u.pool_id}] += hours;
      } else {
        sessions[{day_of(start), u.tenant_id, u.user_id}] += hours;
      }
      start = cut;
    }
  }
  UsageReport report{day_of(from), day_of(to - std::chrono::milliseconds(1))};
  for (const auto& [key, hours] : desktops) {
    report.desktops.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), hours});
  }
  for (const auto& [key, hours] : sessions) {
    report.sessions.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), "", hours});
  }
  return report;
}

void AuditLog::append(store::AuditEvent event) {
  event.at = core_.clock.now();
  if (auto r = core_.store.append_audit(event); !r.ok()) {
    spdlog::error("audit event {} on '{}' by {} not recorded: {}", event.action, event.target, event.username,
                  r.error().message());
  }
}

Result<std::vector<store::AuditEvent>> AuditLog::events(const Principal& who, store::AuditFilter filter) {
  if (who.tenant_admin()) {
    if (filter.tenant_id && *filter.tenant_id != who.tenant_id) return std::vector<store::AuditEvent>{};
    filter.tenant_id = who.tenant_id;
  } else if (!who.admin()) {
    return Error::PermissionDenied("the audit log is for administrators");
  }
  return core_.store.audit_events(filter);
}

Result<UsageReport> AuditLog::usage(const Principal& who, const UsageQuery& q) {
  std::string tenant = q.tenant_id;
  if (who.tenant_admin()) {
    if (!tenant.empty() && tenant != who.tenant_id) return Error::NotFound("tenant", tenant);
    tenant = who.tenant_id;
  } else if (!who.admin()) {
    return Error::PermissionDenied("usage reports are for administrators");
  }
  WallTime from = TRY(parse_day("from", q.from_day));
  WallTime to = TRY(parse_day("to", q.to_day)) + kDay;
  if (to <= from) return Error::InvalidArgument("to is before from");
  if (to - from > 366 * kDay) return Error::InvalidArgument("a report covers at most 366 days");
  auto report = summarize_usage(TRY(core_.store.usage(from, to, tenant)), from, to, core_.clock.now());
  Usernames names(core_.store);
  for (auto& s : report.sessions) s.username = names.of(s.user_id);
  return report;
}

void meter_usage(Core& core, const std::vector<store::DesktopRecord>& desktops) {
  auto open = core.store.open_usage("desktop");
  if (!open.ok()) return;
  auto now = core.clock.now();
  std::set<std::string> metered;
  for (const auto& u : *open) metered.insert(u.subject_id);
  std::set<std::string> running;
  for (const auto& d : desktops) {
    if (d.state != state_name(DesktopState::kRunning)) continue;
    running.insert(d.id);
    if (!metered.count(d.id)) (void)core.store.open_usage({"desktop", d.id, d.tenant_id, d.pool_id, "", now, {}});
  }
  for (const auto& id : metered) {
    if (!running.count(id)) (void)core.store.close_usage("desktop", id, now);
  }
}

}  // namespace oriel::controller
