// The broker's entities: tenants, pools and entitlements, sessions and
// tickets, the audit log and the usage meter.
#include "sql/rows.h"
#include "sql/sql_store.h"

namespace oriel::store {
namespace {

// The desktop CAS of open_session: its assignment and state. The rows changed.
Result<int64_t> assign_desktop(sql::Tx& tx, const DesktopRecord& d) {
  return tx.exec("UPDATE desktops SET assigned_user=$1, desired=$2, pending_op=$3, state=$4, error=$5, updated_ms=$6, "
                 "version=version+1 WHERE id=$7 AND version=$8",
                 d.assigned_user, d.desired, d.pending_op, d.state, d.error, to_unix_ms(d.updated_at), d.id, d.version);
}

// The desktop CAS of end_session: its assignment and what it is rebuilt from.
Result<int64_t> release_desktop(sql::Tx& tx, const DesktopRecord& d) {
  return tx.exec(
      "UPDATE desktops SET image_id=$1, vcpus=$2, memory_mb=$3, assigned_user=$4, desired=$5, pending_op=$6, "
      "updated_ms=$7, version=version+1 WHERE id=$8 AND version=$9",
      d.image_id, d.vcpus, d.memory_mb, d.assigned_user, d.desired, d.pending_op, to_unix_ms(d.updated_at), d.id,
      d.version);
}

// Closes the open usage interval of (kind, subject) at `end_ms`, or at its
// start if that is later.
constexpr std::string_view kCloseUsage = "UPDATE usage SET end_ms=CASE WHEN start_ms>$1 THEN start_ms ELSE $1 END "
                                         "WHERE kind=$2 AND subject_id=$3 AND end_ms=0";

}  // namespace

Result<void> SqlStore::insert_tenant(const TenantRecord& t) {
  static const std::string kSql =
      fmt::format("INSERT INTO tenants ({}) VALUES ({})", kTenantColumns, sql::placeholders(9));
  return write(kSql, t.id, t.name, to_unix_ms(t.created_at), t.quota.desktops, t.quota.vcpus, t.quota.memory_mb,
               t.quota.disk_gb, t.audit.retention_days, int64_t{t.audit.legal_hold ? 1 : 0});
}

Result<void> SqlStore::set_tenant_audit_policy(std::string_view id, const AuditPolicy& p) {
  return write_one("UPDATE tenants SET audit_retention_days=$1, audit_legal_hold=$2 WHERE id=$3", "tenant", id,
                   p.retention_days, int64_t{p.legal_hold ? 1 : 0}, id);
}

Result<void> SqlStore::set_tenant_quota(std::string_view id, const Quota& q) {
  return write_one("UPDATE tenants SET quota_desktops=$1, quota_vcpus=$2, quota_memory_mb=$3, quota_disk_gb=$4 "
                   "WHERE id=$5",
                   "tenant", id, q.desktops, q.vcpus, q.memory_mb, q.disk_gb, id);
}

Result<TenantRecord> SqlStore::tenant(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM tenants WHERE id=$1", kTenantColumns);
  return one<TenantRecord>(kSql, read_tenant, "tenant", id);
}

Result<std::vector<TenantRecord>> SqlStore::tenants() {
  static const std::string kSql = fmt::format("SELECT {} FROM tenants ORDER BY name COLLATE \"C\"", kTenantColumns);
  return many<TenantRecord>(kSql, read_tenant);
}

Result<void> SqlStore::delete_tenant(std::string_view id) {
  return transaction<void>(sql::Access::kWrite, [&](sql::Tx& tx) -> Result<void> {
    // A user names its tenant without a foreign key (an admin has none), so
    // no row lock would hold off a concurrent insert: the tables are locked
    // against writers until the delete commits. Deleting a tenant is rare.
    TRY(tx.lock("LOCK TABLE users, pools, images IN SHARE MODE"));
    Counts has = TRY(tx.first<Counts>("SELECT (SELECT COUNT(*) FROM users WHERE tenant_id=$1), "
                                      "(SELECT COUNT(*) FROM pools WHERE tenant_id=$1)",
                                      read_counts, id))
                     .value_or(Counts{});
    if (has.first > 0 || has.second > 0) {
      return Error::Conflict(fmt::format("tenant '{}' still has {} users and {} pools", id, has.first, has.second));
    }
    auto images = TRY(tx.first<int64_t>("SELECT COUNT(*) FROM images WHERE tenant_id=$1", read_int, id)).value_or(0);
    if (images > 0) return Error::Conflict(fmt::format("tenant '{}' still has {} images", id, images));
    if (TRY(tx.exec("DELETE FROM tenants WHERE id=$1", id)) == 0) return Error::NotFound("tenant", id);
    return Ok();
  });
}

Result<void> SqlStore::insert_pool(const PoolRecord& p) {
  static const std::string kSql =
      fmt::format("INSERT INTO pools ({}) VALUES ({})", kPoolColumns, sql::placeholders(19));
  return write(kSql, p.id, p.name, p.tenant_id, p.image_id, p.type, p.size, p.spare, p.vcpus, p.memory_mb,
               p.idle_timeout_s, p.provisioning, p.state, p.message, p.next_index, to_unix_ms(p.created_at),
               to_unix_ms(p.updated_at), p.version, p.clipboard, p.network);
}

Result<PoolRecord> SqlStore::update_pool(const PoolRecord& p) {
  auto changed = TRY(rows_changed(
      "UPDATE pools SET name=$1, image_id=$2, size=$3, spare=$4, vcpus=$5, memory_mb=$6, idle_timeout_s=$7, "
      "provisioning=$8, state=$9, message=$10, next_index=$11, updated_ms=$12, clipboard=$13, network=$14, "
      "version=version+1 WHERE id=$15 AND version=$16",
      p.name, p.image_id, p.size, p.spare, p.vcpus, p.memory_mb, p.idle_timeout_s, p.provisioning, p.state, p.message,
      p.next_index, to_unix_ms(p.updated_at), p.clipboard, p.network, p.id, p.version));
  if (changed == 0) return Error::Conflict(fmt::format("pool '{}' changed concurrently or is gone", p.id));
  PoolRecord updated = p;
  updated.version = p.version + 1;
  return updated;
}

Result<PoolRecord> SqlStore::pool(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM pools WHERE id=$1", kPoolColumns);
  return one<PoolRecord>(kSql, read_pool, "pool", id);
}

Result<std::vector<PoolRecord>> SqlStore::pools(std::string_view tenant_id) {
  static const std::string kSql = fmt::format(
      "SELECT {} FROM pools WHERE (CAST($1 AS TEXT)='' OR tenant_id=$1) ORDER BY name COLLATE \"C\", id COLLATE \"C\"",
      kPoolColumns);
  return many<PoolRecord>(kSql, read_pool, tenant_id);
}

Result<void> SqlStore::delete_pool(std::string_view id) {
  return write_one("DELETE FROM pools WHERE id=$1", "pool", id, id);  // entitlements cascade
}

Result<void> SqlStore::add_entitlement(std::string_view pool_id, std::string_view user_id) {
  return write("INSERT INTO entitlements (pool_id, user_id) VALUES ($1,$2) ON CONFLICT DO NOTHING", pool_id, user_id);
}

Result<void> SqlStore::remove_entitlement(std::string_view pool_id, std::string_view user_id) {
  return write_one("DELETE FROM entitlements WHERE pool_id=$1 AND user_id=$2", "entitlement", user_id, pool_id,
                   user_id);
}

Result<std::vector<UserRecord>> SqlStore::entitled_users(std::string_view pool_id) {
  static const std::string kSql =
      fmt::format("SELECT {} FROM users WHERE id IN (SELECT user_id FROM entitlements WHERE pool_id=$1) "
                  "ORDER BY username COLLATE \"C\"",
                  kUserColumns);
  return many<UserRecord>(kSql, read_user, pool_id);
}

Result<std::vector<std::string>> SqlStore::entitled_pool_ids(std::string_view user_id) {
  return many<std::string>("SELECT pool_id FROM entitlements WHERE user_id=$1 ORDER BY pool_id COLLATE \"C\"",
                           read_text, user_id);
}

Result<DesktopRecord> SqlStore::open_session(const SessionRecord& s, const DesktopRecord& d, const TicketRecord& t) {
  static const std::string kInsertSession =
      fmt::format("INSERT INTO sessions ({}) VALUES ({})", kSessionColumns, sql::placeholders(10));
  static const std::string kInsertUsage =
      fmt::format("INSERT INTO usage ({}) VALUES ('session',$1,$2,$3,$4,$5,0)", kUsageColumns);
  return transaction<DesktopRecord>(sql::Access::kWrite, [&](sql::Tx& tx) -> Result<DesktopRecord> {
    if (TRY(assign_desktop(tx, d)) == 0) {
      return Error::Conflict(fmt::format("desktop '{}' changed concurrently or is gone", d.id));
    }
    // A second open session on the desktop, or for the user in the pool,
    // fails here on a unique index (Conflict), and everything is rolled back.
    TRY(tx.exec(kInsertSession, s.id, s.pool_id, s.tenant_id, s.user_id, s.desktop_id, s.state, s.client_address,
                to_unix_ms(s.created_at), to_unix_ms(s.last_activity_at), to_unix_ms(s.ended_at)));
    TRY(tx.exec("INSERT INTO tickets (ticket_hash, session_id, desktop_id, expires_ms) VALUES ($1,$2,$3,$4)",
                t.ticket_hash, t.session_id, t.desktop_id, to_unix_ms(t.expires_at)));
    TRY(tx.exec(kInsertUsage, s.id, s.tenant_id, s.pool_id, s.user_id, to_unix_ms(s.created_at)));
    DesktopRecord updated = d;
    updated.version = d.version + 1;
    return updated;
  });
}

Result<void> SqlStore::end_session(std::string_view session_id, WallTime ended_at, const DesktopRecord* d) {
  return transaction<void>(sql::Access::kWrite, [&](sql::Tx& tx) -> Result<void> {
    int64_t end_ms = to_unix_ms(ended_at);
    // The desktop first, as open_session locks it: two transactions taking
    // the same rows in the same order cannot deadlock.
    if (d != nullptr) TRY(tx.lock("SELECT 1 FROM desktops WHERE id=$1 FOR UPDATE", d->id));
    if (TRY(tx.exec("UPDATE sessions SET state='ended', ended_ms=$1 WHERE id=$2 AND state<>'ended'", end_ms,
                    session_id)) == 0) {
      return Error::Conflict(fmt::format("session '{}' has already ended", session_id));
    }
    TRY(tx.exec(kCloseUsage, end_ms, "session", session_id));
    TRY(tx.exec("DELETE FROM tickets WHERE session_id=$1", session_id));
    if (d == nullptr) return Ok();
    if (TRY(release_desktop(tx, *d)) == 0) {
      return Error::Conflict(fmt::format("desktop '{}' changed concurrently", d->id));
    }
    return Ok();
  });
}

Result<void> SqlStore::update_session(const SessionRecord& s) {
  return write_one("UPDATE sessions SET state=$1, last_activity_ms=$2 WHERE id=$3 AND state<>'ended'", "open session",
                   s.id, s.state, to_unix_ms(s.last_activity_at), s.id);
}

Result<SessionRecord> SqlStore::session(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM sessions WHERE id=$1", kSessionColumns);
  return one<SessionRecord>(kSql, read_session, "session", id);
}

Result<std::vector<SessionRecord>> SqlStore::sessions(const SessionFilter& f) {
  static const std::string kSql = fmt::format(
      "SELECT {} FROM sessions WHERE (CAST($1 AS TEXT)='' OR tenant_id=$1) AND (CAST($2 AS TEXT)='' OR user_id=$2) "
      "AND (CAST($3 AS TEXT)='' OR pool_id=$3) AND (CAST($4 AS TEXT)='' OR desktop_id=$4) "
      "AND (CAST($5 AS INTEGER)=1 OR state<>'ended') ORDER BY created_ms, id COLLATE \"C\"",
      kSessionColumns);
  return many<SessionRecord>(kSql, read_session, f.tenant_id, f.user_id, f.pool_id, f.desktop_id,
                             f.include_ended ? 1 : 0);
}

Result<void> SqlStore::insert_ticket(const TicketRecord& t) {
  return write("INSERT INTO tickets (ticket_hash, session_id, desktop_id, expires_ms) VALUES ($1,$2,$3,$4)",
               t.ticket_hash, t.session_id, t.desktop_id, to_unix_ms(t.expires_at));
}

Result<TicketRecord> SqlStore::redeem_ticket(std::string_view ticket_hash, WallTime now) {
  static const std::string kSelect = fmt::format("SELECT {} FROM tickets WHERE ticket_hash=$1", kTicketColumns);
  // The UPDATE decides: of two concurrent redeems, the second waits for the
  // first, then finds used_ms set. (Not one UPDATE ... RETURNING: SQLite
  // runs that through a temporary table, twice as slow as the two statements.)
  return transaction<TicketRecord>(sql::Access::kWrite, [&](sql::Tx& tx) -> Result<TicketRecord> {
    int64_t now_ms = to_unix_ms(now);
    if (TRY(tx.exec("UPDATE tickets SET used_ms=$1 WHERE ticket_hash=$2 AND used_ms=0 AND expires_ms>$1", now_ms,
                    ticket_hash)) == 0) {
      return Error::NotFound("ticket", "(invalid, expired or already used)");
    }
    auto ticket = TRY(tx.first<TicketRecord>(kSelect, read_ticket, ticket_hash));
    if (!ticket) return Error::Internal("a redeemed ticket vanished");
    return std::move(*ticket);
  });
}

Result<void> SqlStore::delete_expired_tickets(WallTime now) {
  return write("DELETE FROM tickets WHERE expires_ms<=$1", to_unix_ms(now));
}

Result<void> SqlStore::append_audit(const AuditEvent& e) {
  return write(
      "INSERT INTO audit (at_ms, tenant_id, user_id, username, action, target, address, status, result, detail) "
      "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
      to_unix_ms(e.at), e.tenant_id, e.user_id, e.username, e.action, e.target, e.address, e.status, e.result,
      e.detail);
}

Result<std::vector<AuditEvent>> SqlStore::audit_events(const AuditFilter& f) {
  // Only the conditions given go into the query, so that the planner picks
  // the index that fits (tenant and time, user and time, or time);
  // PostgreSQL must also be able to type every parameter, so an unused one
  // may not be passed.
  std::vector<sql::Param> params;
  std::string where = "TRUE";
  auto add = [&](std::string_view condition, sql::Param value) {
    params.push_back(value);
    where += fmt::format(" AND {}${}", condition, params.size());
  };
  if (f.tenant_id) add("tenant_id=", *f.tenant_id);
  if (!f.user_id.empty()) add("user_id=", f.user_id);
  if (!f.action.empty()) add("action=", f.action);
  if (f.since) add("at_ms>=", to_unix_ms(*f.since));
  if (f.until) add("at_ms<", to_unix_ms(*f.until));
  if (f.before_seq > 0) add("seq<", f.before_seq);
  std::string limit;  // a negative limit is none
  if (f.limit >= 0) {
    params.push_back(f.limit);
    limit = fmt::format(" LIMIT ${}", params.size());
  }
  const std::string sql =
      fmt::format("SELECT {} FROM audit WHERE {} ORDER BY at_ms DESC, seq DESC{}", kAuditColumns, where, limit);
  return transaction<std::vector<AuditEvent>>(sql::Access::kRead, [&](sql::Tx& tx) -> Result<std::vector<AuditEvent>> {
    std::vector<AuditEvent> out;
    TRY(tx.run(sql, params, [&](const sql::Row& row) { out.push_back(read_audit(row)); }));
    return out;
  });
}

Result<std::vector<AuditEvent>> SqlStore::oldest_audit_events(std::string_view tenant_id, WallTime before,
                                                              int64_t limit) {
  static const std::string kSql =
      fmt::format("SELECT {} FROM audit WHERE tenant_id=$1 AND at_ms<$2 ORDER BY seq LIMIT $3", kAuditColumns);
  return many<AuditEvent>(kSql, read_audit, tenant_id, to_unix_ms(before), limit);
}

Result<int64_t> SqlStore::prune_audit(const AuditArchive& a) {
  static const std::string kInsert =
      fmt::format("INSERT INTO audit_archives ({}) VALUES ({})", kAuditArchiveColumns, sql::placeholders(7));
  return transaction<int64_t>(sql::Access::kWrite, [&](sql::Tx& tx) -> Result<int64_t> {
    TRY(tx.exec(kInsert, a.tenant_id, a.first_seq, a.last_seq, a.events, a.file, a.sha256, to_unix_ms(a.archived_at)));
    return tx.exec("DELETE FROM audit WHERE tenant_id=$1 AND seq>=$2 AND seq<=$3", a.tenant_id, a.first_seq,
                   a.last_seq);
  });
}

Result<std::vector<AuditArchive>> SqlStore::audit_archives(const std::optional<std::string>& tenant_id) {
  if (tenant_id) {
    static const std::string kSql =
        fmt::format("SELECT {} FROM audit_archives WHERE tenant_id=$1 ORDER BY last_seq DESC", kAuditArchiveColumns);
    return many<AuditArchive>(kSql, read_audit_archive, *tenant_id);
  }
  static const std::string kAll =
      fmt::format("SELECT {} FROM audit_archives ORDER BY last_seq DESC", kAuditArchiveColumns);
  return many<AuditArchive>(kAll, read_audit_archive);
}

Result<void> SqlStore::open_usage(const UsageInterval& u) {
  // ON CONFLICT without a target covers the partial unique index usage_open.
  static const std::string kSql =
      fmt::format("INSERT INTO usage ({}) VALUES ($1,$2,$3,$4,$5,$6,0) ON CONFLICT DO NOTHING", kUsageColumns);
  return write(kSql, u.kind, u.subject_id, u.tenant_id, u.pool_id, u.user_id, to_unix_ms(u.start));
}

Result<void> SqlStore::close_usage(std::string_view kind, std::string_view subject_id, WallTime end) {
  return write(kCloseUsage, to_unix_ms(end), kind, subject_id);
}

Result<std::vector<UsageInterval>> SqlStore::open_usage(std::string_view kind) {
  static const std::string kSql = fmt::format(
      "SELECT {} FROM usage WHERE kind=$1 AND end_ms=0 ORDER BY start_ms, subject_id COLLATE \"C\"", kUsageColumns);
  return many<UsageInterval>(kSql, read_usage, kind);
}

Result<std::vector<UsageInterval>> SqlStore::usage(WallTime from, WallTime to, std::string_view tenant_id) {
  static const std::string kSql = fmt::format(
      "SELECT {} FROM usage WHERE start_ms<$1 AND (end_ms=0 OR end_ms>$2) AND (CAST($3 AS TEXT)='' OR tenant_id=$3) "
      "ORDER BY start_ms, kind COLLATE \"C\", subject_id COLLATE \"C\"",
      kUsageColumns);
  return many<UsageInterval>(kSql, read_usage, to_unix_ms(to), to_unix_ms(from), tenant_id);
}

}  // namespace oriel::store
