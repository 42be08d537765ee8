// The audit log, the usage meter and the usage report.
#include "oriel/controller/audit.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstring>
#include <filesystem>
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

Result<std::vector<store::AuditArchive>> AuditLog::archives(const Principal& who,
                                                            std::optional<std::string> tenant_id) {
  if (who.admin()) return core_.store.audit_archives(tenant_id);
  if (!who.tenant_admin()) return Error::PermissionDenied("the audit log is for administrators");
  if (tenant_id && *tenant_id != who.tenant_id) return std::vector<store::AuditArchive>{};
  auto archives = TRY(core_.store.audit_archives(who.tenant_id));
  for (auto& a : archives) a.file = std::filesystem::path(a.file).filename().string();
  return archives;
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

namespace {

constexpr int64_t kArchiveBatch = 10000;  // events per archive file

Json archived_event(const store::AuditEvent& e) {
  return {{"seq", e.seq},           {"at", format_rfc3339(e.at)}, {"tenant_id", e.tenant_id}, {"user_id", e.user_id},
          {"username", e.username}, {"action", e.action},         {"target", e.target},       {"address", e.address},
          {"status", e.status},     {"result", e.result},         {"detail", e.detail}};
}

// Syncs the file to disk and returns its SHA-256 (hex).
Result<std::string> sync_and_hash(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::Internal(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::array<unsigned char, 1 << 16> buf;
  ssize_t n = 0;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
    crypto_hash_sha256_update(&state, buf.data(), static_cast<unsigned long long>(n));
  }
  bool failed = n < 0 || ::fsync(fd) != 0;
  ::close(fd);
  if (failed) return Error::Internal(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest;
  crypto_hash_sha256_final(&state, digest.data());
  std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex;
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data());
}

// Writes `events` (one scope's, oldest first) as gzip'd JSON lines to
// DIR/<scope>/audit-<scope>-<first seq>-<last seq>.jsonl.gz, 0600, through a
// temporary file renamed once synced. The same events make the same file,
// so a pass cut short before its prune writes it again, whole.
Result<store::AuditArchive> write_archive(const std::string& dir, const std::string& tenant_id,
                                          const std::vector<store::AuditEvent>& events, WallTime now) {
  namespace fs = std::filesystem;
  std::string scope = tenant_id.empty() ? "platform" : tenant_id;
  std::string scope_dir = dir + "/" + scope;
  std::error_code ec;
  fs::create_directories(scope_dir, ec);
  if (ec) return Error::Internal(fmt::format("cannot create {}: {}", scope_dir, ec.message()));
  ::chmod(dir.c_str(), 0700);
  ::chmod(scope_dir.c_str(), 0700);
  store::AuditArchive a{tenant_id, events.front().seq, events.back().seq, static_cast<int64_t>(events.size()), "", "",
                        now};
  a.file = fmt::format("{}/audit-{}-{:012}-{:012}.jsonl.gz", scope_dir, scope, a.first_seq, a.last_seq);
  std::string tmp = a.file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::Internal(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  gzFile gz = gzdopen(fd, "wb6");
  if (gz == nullptr) {
    ::close(fd);
    return Error::Internal(fmt::format("cannot write {}", tmp));
  }
  bool written = true;
  for (const auto& e : events) {
    std::string line = archived_event(e).dump() + "\n";
    written = written && gzwrite(gz, line.data(), static_cast<unsigned>(line.size())) == static_cast<int>(line.size());
  }
  written = gzclose(gz) == Z_OK && written;
  if (!written) {
    fs::remove(tmp, ec);
    return Error::Internal(fmt::format("cannot write {}", tmp));
  }
  a.sha256 = TRY(sync_and_hash(tmp));
  fs::rename(tmp, a.file, ec);
  if (ec) return Error::Internal(fmt::format("cannot rename {}: {}", tmp, ec.message()));
  // The rename itself on disk, before the prune deletes the events.
  if (int dfd = ::open(scope_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return a;
}

// One scope's events older than `retention_days`, in files of kArchiveBatch.
void archive_scope(Core& core, const std::string& tenant_id, int64_t retention_days, WallTime now,
                   const std::string& dir) {
  WallTime cutoff = now - std::chrono::hours(24) * retention_days;
  const std::string whose = tenant_id.empty() ? "the platform" : tenant_id;
  while (true) {
    auto events = core.store.oldest_audit_events(tenant_id, cutoff, kArchiveBatch);
    if (!events.ok() || events->empty()) return;
    auto archive = write_archive(dir, tenant_id, *events, now);
    if (!archive.ok()) {
      spdlog::error("audit of {}: not archived, so not pruned: {}", whose, archive.error().message());
      return;
    }
    auto pruned = core.store.prune_audit(*archive);
    if (!pruned.ok()) {
      spdlog::warn("audit of {}: archived to {} but not pruned: {}", whose, archive->file, pruned.error().message());
      return;
    }
    spdlog::info("audit of {}: {} events (seq {} to {}) older than {} days archived to {} and pruned", whose, *pruned,
                 archive->first_seq, archive->last_seq, retention_days, archive->file);
    if (static_cast<int64_t>(events->size()) < kArchiveBatch) return;
  }
}

}  // namespace

void archive_audit(Core& core) {
  WallTime now = core.clock.now();
  int64_t now_ms = to_unix_ms(now);
  if (now_ms < core.next_audit_archive_ms.load()) return;
  core.next_audit_archive_ms = now_ms + core.options.audit_archive_interval.count();
  std::string dir = core.options.audit_archive_dir.empty() ? core.options.data_dir + "/audit-archive"
                                                           : core.options.audit_archive_dir;
  if (core.options.audit_retention_days > 0) archive_scope(core, "", core.options.audit_retention_days, now, dir);
  auto tenants = core.store.tenants();
  if (!tenants.ok()) return;
  for (const auto& t : *tenants) {
    if (t.audit.retention_days > 0 && !t.audit.legal_hold) archive_scope(core, t.id, t.audit.retention_days, now, dir);
  }
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
