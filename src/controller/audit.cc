// The audit log and the usage report.
#include <map>
#include <tuple>

#include "oriel/common/log.h"
#include "oriel/controller/controller.h"

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

void Controller::audit(store::AuditEvent event) {
  event.at = clock_.now();
  if (auto r = store_.append_audit(event); !r.ok()) {
    spdlog::error("audit event {} on '{}' by {} not recorded: {}", event.action, event.target, event.username,
                  r.error().message());
  }
}

Result<std::vector<store::AuditEvent>> Controller::audit_events(const Principal& who, store::AuditFilter filter) {
  if (who.tenant_admin()) {
    if (filter.tenant_id && *filter.tenant_id != who.tenant_id) return std::vector<store::AuditEvent>{};
    filter.tenant_id = who.tenant_id;
  } else if (!who.admin()) {
    return Error::PermissionDenied("the audit log is for administrators");
  }
  return store_.audit_events(filter);
}

Result<UsageReport> Controller::usage(const Principal& who, const UsageQuery& q) {
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
  auto report = summarize_usage(TRY(store_.usage(from, to, tenant)), from, to, clock_.now());
  UsernameCache names;
  for (auto& s : report.sessions) s.username = username_of(s.user_id, names);
  return report;
}

}  // namespace oriel::controller
