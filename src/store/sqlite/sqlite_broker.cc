// The broker's entities on SQLite: tenants, pools and entitlements,
// sessions and tickets, the audit log and the usage meter.
#include "sqlite/sqlite_store.h"

namespace oriel::store {
namespace {

PoolRecord read_pool(const SqliteStatement& s) {
  PoolRecord p;
  p.id = s.text(0);
  p.name = s.text(1);
  p.tenant_id = s.text(2);
  p.image_id = s.text(3);
  p.type = s.text(4);
  p.size = s.int64(5);
  p.spare = s.int64(6);
  p.vcpus = s.int64(7);
  p.memory_mb = s.int64(8);
  p.idle_timeout_s = s.int64(9);
  p.provisioning = s.text(10);
  p.state = s.text(11);
  p.message = s.text(12);
  p.next_index = s.int64(13);
  p.created_at = from_unix_ms(s.int64(14));
  p.updated_at = from_unix_ms(s.int64(15));
  p.version = s.int64(16);
  p.clipboard = s.text(17);
  return p;
}

SessionRecord read_session(const SqliteStatement& s) {
  return SessionRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6),
                       from_unix_ms(s.int64(7)), from_unix_ms(s.int64(8)), from_unix_ms(s.int64(9))};
}

AuditEvent read_audit(const SqliteStatement& s) {
  return AuditEvent{s.int64(0), from_unix_ms(s.int64(1)), s.text(2), s.text(3), s.text(4), s.text(5),
                    s.text(6),  s.text(7),                s.int64(8), s.text(9), s.text(10)};
}

UsageInterval read_usage(const SqliteStatement& s) {
  return UsageInterval{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), from_unix_ms(s.int64(5)),
                       from_unix_ms(s.int64(6))};
}

TenantRecord read_tenant(const SqliteStatement& s) { return {s.text(0), s.text(1), from_unix_ms(s.int64(2))}; }

}  // namespace

Result<void> SqliteStore::insert_tenant(const TenantRecord& t) {
  return write("INSERT INTO tenants (id, name, created_ms) VALUES (?,?,?)", t.id, t.name, to_unix_ms(t.created_at));
}

Result<TenantRecord> SqliteStore::tenant(std::string_view id) {
  return one<TenantRecord>("SELECT id, name, created_ms FROM tenants WHERE id=?", read_tenant, "tenant", id);
}

Result<std::vector<TenantRecord>> SqliteStore::tenants() {
  return many<TenantRecord>("SELECT id, name, created_ms FROM tenants ORDER BY name", read_tenant);
}

Result<void> SqliteStore::delete_tenant(std::string_view id) {
  return transaction<void>([&]() -> Result<void> {
    auto count = TRY(db_.prepare(
        "SELECT (SELECT COUNT(*) FROM users WHERE tenant_id=?1), (SELECT COUNT(*) FROM pools WHERE tenant_id=?1)"));
    count.bind_all(id);
    TRY(count.step());
    if (count.int64(0) > 0 || count.int64(1) > 0) {
      return Error::Conflict(fmt::format("tenant '{}' still has {} users and {} pools", id, count.int64(0),
                                         count.int64(1)));
    }
    TRY(exec_locked("DELETE FROM tenants WHERE id=?", id));
    if (db_.changes() == 0) return Error::NotFound("tenant", id);
    return Ok();
  });
}

Result<void> SqliteStore::insert_pool(const PoolRecord& p) {
  return write(fmt::format("INSERT INTO pools ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", kPoolColumns), p.id,
               p.name, p.tenant_id, p.image_id, p.type, p.size, p.spare, p.vcpus, p.memory_mb, p.idle_timeout_s,
               p.provisioning, p.state, p.message, p.next_index, to_unix_ms(p.created_at),
               to_unix_ms(p.updated_at), p.version, p.clipboard);
}

Result<PoolRecord> SqliteStore::update_pool(const PoolRecord& p) {
  std::lock_guard lock(mu_);
  TRY(exec_locked("UPDATE pools SET name=?, image_id=?, size=?, spare=?, vcpus=?, memory_mb=?, idle_timeout_s=?, "
                  "provisioning=?, state=?, message=?, next_index=?, updated_ms=?, clipboard=?, version=version+1 "
                  "WHERE id=? AND version=?",
                  p.name, p.image_id, p.size, p.spare, p.vcpus, p.memory_mb, p.idle_timeout_s, p.provisioning,
                  p.state, p.message, p.next_index, to_unix_ms(p.updated_at), p.clipboard, p.id, p.version));
  if (db_.changes() == 0) return Error::Conflict(fmt::format("pool '{}' changed concurrently or is gone", p.id));
  PoolRecord updated = p;
  updated.version = p.version + 1;
  return updated;
}

Result<PoolRecord> SqliteStore::pool(std::string_view id) {
  return one<PoolRecord>(fmt::format("SELECT {} FROM pools WHERE id=?", kPoolColumns), read_pool, "pool", id);
}

Result<std::vector<PoolRecord>> SqliteStore::pools(std::string_view tenant_id) {
  return many<PoolRecord>(
      fmt::format("SELECT {} FROM pools WHERE (?1='' OR tenant_id=?1) ORDER BY name, id", kPoolColumns), read_pool,
      tenant_id);
}

Result<void> SqliteStore::delete_pool(std::string_view id) {
  return write_one("DELETE FROM pools WHERE id=?", "pool", id, id);  // entitlements cascade
}

Result<void> SqliteStore::add_entitlement(std::string_view pool_id, std::string_view user_id) {
  return write("INSERT OR IGNORE INTO entitlements (pool_id, user_id) VALUES (?,?)", pool_id, user_id);
}

Result<void> SqliteStore::remove_entitlement(std::string_view pool_id, std::string_view user_id) {
  return write_one("DELETE FROM entitlements WHERE pool_id=? AND user_id=?", "entitlement", user_id, pool_id,
                   user_id);
}

Result<std::vector<UserRecord>> SqliteStore::entitled_users(std::string_view pool_id) {
  return many<UserRecord>(fmt::format("SELECT {} FROM users WHERE id IN (SELECT user_id FROM entitlements "
                                      "WHERE pool_id=?) ORDER BY username",
                                      kUserColumns),
                          read_user, pool_id);
}

Result<std::vector<std::string>> SqliteStore::entitled_pool_ids(std::string_view user_id) {
  return many<std::string>("SELECT pool_id FROM entitlements WHERE user_id=? ORDER BY pool_id",
                           [](const SqliteStatement& s) { return s.text(0); }, user_id);
}

Result<DesktopRecord> SqliteStore::open_session(const SessionRecord& s, const DesktopRecord& d,
                                                const TicketRecord& t) {
  return transaction<DesktopRecord>([&]() -> Result<DesktopRecord> {
    TRY(exec_locked("UPDATE desktops SET assigned_user=?, desired=?, pending_op=?, state=?, error=?, updated_ms=?, "
                    "version=version+1 WHERE id=? AND version=?",
                    d.assigned_user, d.desired, d.pending_op, d.state, d.error, to_unix_ms(d.updated_at), d.id,
                    d.version));
    if (db_.changes() == 0) return Error::Conflict(fmt::format("desktop '{}' changed concurrently or is gone", d.id));
    TRY(exec_locked(fmt::format("INSERT INTO sessions ({}) VALUES (?,?,?,?,?,?,?,?,?,?)", kSessionColumns), s.id,
                    s.pool_id, s.tenant_id, s.user_id, s.desktop_id, s.state, s.client_address,
                    to_unix_ms(s.created_at), to_unix_ms(s.last_activity_at), to_unix_ms(s.ended_at)));
    TRY(exec_locked("INSERT INTO tickets (ticket_hash, session_id, desktop_id, expires_ms) VALUES (?,?,?,?)",
                    t.ticket_hash, t.session_id, t.desktop_id, to_unix_ms(t.expires_at)));
    TRY(exec_locked(fmt::format("INSERT INTO usage ({}) VALUES ('session',?,?,?,?,?,0)", kUsageColumns), s.id,
                    s.tenant_id, s.pool_id, s.user_id, to_unix_ms(s.created_at)));
    DesktopRecord updated = d;
    updated.version = d.version + 1;
    return updated;
  });
}

Result<void> SqliteStore::end_session(std::string_view session_id, WallTime ended_at, const DesktopRecord* d) {
  return transaction<void>([&]() -> Result<void> {
    int64_t end_ms = to_unix_ms(ended_at);
    TRY(exec_locked("UPDATE sessions SET state='ended', ended_ms=? WHERE id=? AND state<>'ended'", end_ms,
                    session_id));
    if (db_.changes() == 0) return Error::Conflict(fmt::format("session '{}' has already ended", session_id));
    TRY(exec_locked("UPDATE usage SET end_ms=MAX(start_ms, ?) WHERE kind='session' AND subject_id=? AND end_ms=0",
                    end_ms, session_id));
    TRY(exec_locked("DELETE FROM tickets WHERE session_id=?", session_id));
    if (d == nullptr) return Ok();
    TRY(exec_locked("UPDATE desktops SET image_id=?, vcpus=?, memory_mb=?, assigned_user=?, desired=?, pending_op=?, "
                    "updated_ms=?, version=version+1 WHERE id=? AND version=?",
                    d->image_id, d->vcpus, d->memory_mb, d->assigned_user, d->desired, d->pending_op,
                    to_unix_ms(d->updated_at), d->id, d->version));
    if (db_.changes() == 0) return Error::Conflict(fmt::format("desktop '{}' changed concurrently", d->id));
    return Ok();
  });
}

Result<void> SqliteStore::update_session(const SessionRecord& s) {
  return write_one("UPDATE sessions SET state=?, last_activity_ms=? WHERE id=? AND state<>'ended'", "open session",
                   s.id, s.state, to_unix_ms(s.last_activity_at), s.id);
}

Result<SessionRecord> SqliteStore::session(std::string_view id) {
  return one<SessionRecord>(fmt::format("SELECT {} FROM sessions WHERE id=?", kSessionColumns), read_session,
                            "session", id);
}

Result<std::vector<SessionRecord>> SqliteStore::sessions(const SessionFilter& f) {
  return many<SessionRecord>(
      fmt::format("SELECT {} FROM sessions WHERE (?1='' OR tenant_id=?1) AND (?2='' OR user_id=?2) AND "
                  "(?3='' OR pool_id=?3) AND (?4='' OR desktop_id=?4) AND (?5=1 OR state<>'ended') "
                  "ORDER BY created_ms, id",
                  kSessionColumns),
      read_session, f.tenant_id, f.user_id, f.pool_id, f.desktop_id, f.include_ended ? 1 : 0);
}

Result<void> SqliteStore::insert_ticket(const TicketRecord& t) {
  return write("INSERT INTO tickets (ticket_hash, session_id, desktop_id, expires_ms) VALUES (?,?,?,?)",
               t.ticket_hash, t.session_id, t.desktop_id, to_unix_ms(t.expires_at));
}

Result<TicketRecord> SqliteStore::redeem_ticket(std::string_view ticket_hash, WallTime now) {
  return transaction<TicketRecord>([&]() -> Result<TicketRecord> {
    int64_t now_ms = to_unix_ms(now);
    TRY(exec_locked("UPDATE tickets SET used_ms=? WHERE ticket_hash=? AND used_ms=0 AND expires_ms>?", now_ms,
                    ticket_hash, now_ms));
    if (db_.changes() == 0) return Error::NotFound("ticket", "(invalid, expired or already used)");
    auto stmt = TRY(db_.prepare("SELECT ticket_hash, session_id, desktop_id, expires_ms, used_ms FROM tickets "
                                "WHERE ticket_hash=?"));
    stmt.bind_all(ticket_hash);
    if (!TRY(stmt.step())) return Error::Internal("a redeemed ticket vanished");
    return TicketRecord{stmt.text(0), stmt.text(1), stmt.text(2), from_unix_ms(stmt.int64(3)),
                        from_unix_ms(stmt.int64(4))};
  });
}

Result<void> SqliteStore::delete_expired_tickets(WallTime now) {
  return write("DELETE FROM tickets WHERE expires_ms<=?", to_unix_ms(now));
}

Result<void> SqliteStore::append_audit(const AuditEvent& e) {
  return write("INSERT INTO audit (at_ms, tenant_id, user_id, username, action, target, address, status, result, "
               "detail) VALUES (?,?,?,?,?,?,?,?,?,?)",
               to_unix_ms(e.at), e.tenant_id, e.user_id, e.username, e.action, e.target, e.address, e.status,
               e.result, e.detail);
}

Result<std::vector<AuditEvent>> SqliteStore::audit_events(const AuditFilter& f) {
  // Only the conditions given go into the query, so that SQLite's planner
  // picks the index that fits (tenant and time, user and time, or time).
  std::string where = "1";
  if (f.tenant_id) where += " AND tenant_id=?1";
  if (!f.user_id.empty()) where += " AND user_id=?2";
  if (!f.action.empty()) where += " AND action=?3";
  if (f.since) where += " AND at_ms>=?4";
  if (f.until) where += " AND at_ms<?5";
  if (f.before_seq > 0) where += " AND seq<?6";
  std::lock_guard lock(mu_);
  auto stmt = TRY(db_.prepare(
      fmt::format("SELECT {} FROM audit WHERE {} ORDER BY at_ms DESC, seq DESC LIMIT ?7", kAuditColumns, where)));
  stmt.bind_all(f.tenant_id.value_or(""), f.user_id, f.action, f.since ? to_unix_ms(*f.since) : int64_t{0},
                f.until ? to_unix_ms(*f.until) : int64_t{0}, f.before_seq, f.limit);
  std::vector<AuditEvent> out;
  while (TRY(stmt.step())) out.push_back(read_audit(stmt));
  return out;
}

Result<void> SqliteStore::open_usage(const UsageInterval& u) {
  return write(fmt::format("INSERT OR IGNORE INTO usage ({}) VALUES (?,?,?,?,?,?,0)", kUsageColumns), u.kind,
               u.subject_id, u.tenant_id, u.pool_id, u.user_id, to_unix_ms(u.start));
}

Result<void> SqliteStore::close_usage(std::string_view kind, std::string_view subject_id, WallTime end) {
  return write("UPDATE usage SET end_ms=MAX(start_ms, ?) WHERE kind=? AND subject_id=? AND end_ms=0",
               to_unix_ms(end), kind, subject_id);
}

Result<std::vector<UsageInterval>> SqliteStore::open_usage(std::string_view kind) {
  return many<UsageInterval>(fmt::format("SELECT {} FROM usage WHERE kind=? AND end_ms=0 ORDER BY start_ms, subject_id",
                                         kUsageColumns),
                             read_usage, kind);
}

Result<std::vector<UsageInterval>> SqliteStore::usage(WallTime from, WallTime to, std::string_view tenant_id) {
  return many<UsageInterval>(
      fmt::format("SELECT {} FROM usage WHERE start_ms<?1 AND (end_ms=0 OR end_ms>?2) AND (?3='' OR tenant_id=?3) "
                  "ORDER BY start_ms, kind, subject_id",
                  kUsageColumns),
      read_usage, to_unix_ms(to), to_unix_ms(from), tenant_id);
}

}  // namespace oriel::store
