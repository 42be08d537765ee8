// SQLite implementation of the Store (internal). One connection behind a
// mutex: SQLite serializes writers anyway, and every statement is short. The
// methods are split by entity over sqlite_store.cc and sqlite_broker.cc.
#pragma once

#include <mutex>

#include "columns.h"
#include "oriel/store/store.h"
#include "sqlite/sqlite_db.h"

namespace oriel::store {

// Row readers for the column lists of columns.h.
DesktopRecord read_desktop(const SqliteStatement& s);
ImageRecord read_image(const SqliteStatement& s);
HostRecord read_host(const SqliteStatement& s);
UserRecord read_user(const SqliteStatement& s);

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteDb db) : db_(std::move(db)) {}

  Result<void> migrate();
  int schema_version() override {
    std::lock_guard lock(mu_);
    return version_;
  }
  bool hold_leadership() override { return true; }
  void release_leadership() override {}

  Result<void> insert_user(const UserRecord& u) override {
    return write("INSERT INTO users (id, username, password_hash, role, tenant_id, created_ms) VALUES (?,?,?,?,?,?)",
                 u.id, u.username, u.password_hash, u.role, u.tenant_id, to_unix_ms(u.created_at));
  }
  Result<UserRecord> user_by_name(std::string_view username) override {
    return one<UserRecord>(fmt::format("SELECT {} FROM users WHERE username=?", kUserColumns), read_user, "user",
                           username);
  }
  Result<UserRecord> user_by_id(std::string_view id) override {
    return one<UserRecord>(fmt::format("SELECT {} FROM users WHERE id=?", kUserColumns), read_user, "user", id);
  }
  Result<void> set_password_hash(std::string_view user_id, std::string_view hash) override {
    return write_one("UPDATE users SET password_hash=? WHERE id=?", "user", user_id, hash, user_id);
  }
  Result<void> insert_token(const TokenRecord& t) override {
    return write("INSERT INTO tokens (token_hash, user_id, created_ms, expires_ms) VALUES (?,?,?,?)", t.token_hash,
                 t.user_id, to_unix_ms(t.created_at), to_unix_ms(t.expires_at));
  }
  Result<TokenRecord> token_by_hash(std::string_view token_hash) override {
    return one<TokenRecord>(
        "SELECT token_hash, user_id, created_ms, expires_ms FROM tokens WHERE token_hash=?",
        [](const SqliteStatement& s) {
          return TokenRecord{s.text(0), s.text(1), from_unix_ms(s.int64(2)), from_unix_ms(s.int64(3))};
        },
        "token", token_hash);
  }
  Result<void> delete_token(std::string_view token_hash) override {
    return write("DELETE FROM tokens WHERE token_hash=?", token_hash);
  }
  Result<void> delete_expired_tokens(WallTime now) override {
    return write("DELETE FROM tokens WHERE expires_ms<=?", to_unix_ms(now));
  }

  Result<void> upsert_host(const HostRecord& h) override {
    return write(
        "INSERT INTO hosts (id, name, state, accelerator, cpus, memory_mb, address, heartbeat_ms) VALUES "
        "(?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET name=excluded.name, state=excluded.state, "
        "accelerator=excluded.accelerator, cpus=excluded.cpus, memory_mb=excluded.memory_mb, "
        "address=excluded.address, heartbeat_ms=excluded.heartbeat_ms",
        h.id, h.name, h.state, h.accelerator, h.cpus, h.memory_mb, h.address, to_unix_ms(h.last_heartbeat_at));
  }
  Result<HostRecord> host(std::string_view id) override {
    return one<HostRecord>("SELECT id, name, state, accelerator, cpus, memory_mb, address, heartbeat_ms FROM hosts "
                           "WHERE id=?",
                           read_host, "host", id);
  }
  Result<std::vector<HostRecord>> hosts() override {
    return many<HostRecord>(
        "SELECT id, name, state, accelerator, cpus, memory_mb, address, heartbeat_ms FROM hosts ORDER BY name",
        read_host);
  }

  Result<void> insert_image(const ImageRecord& i) override {
    return write(fmt::format("INSERT INTO images ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", kImageColumns), i.id,
                 i.name, i.state, i.progress, i.source_path, i.requested_format, i.source_format, i.path,
                 i.virtual_size_bytes, i.size_bytes, i.boot_json, i.error, to_unix_ms(i.created_at),
                 to_unix_ms(i.updated_at));
  }
  Result<void> update_image(const ImageRecord& i) override {
    return write_one(
        "UPDATE images SET name=?, state=?, progress=?, source_format=?, path=?, virtual_size_bytes=?, "
        "size_bytes=?, boot_json=?, error=?, updated_ms=? WHERE id=?",
        "image", i.id, i.name, i.state, i.progress, i.source_format, i.path, i.virtual_size_bytes, i.size_bytes,
        i.boot_json, i.error, to_unix_ms(i.updated_at), i.id);
  }
  Result<ImageRecord> image(std::string_view id) override {
    return one<ImageRecord>(fmt::format("SELECT {} FROM images WHERE id=?", kImageColumns), read_image, "image", id);
  }
  Result<std::vector<ImageRecord>> images() override {
    return many<ImageRecord>(fmt::format("SELECT {} FROM images ORDER BY created_ms, id", kImageColumns),
                             read_image);
  }
  Result<void> delete_unused_image(std::string_view id) override;

  Result<void> insert_desktop(const DesktopRecord& d) override {
    return write(fmt::format("INSERT INTO desktops ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", kDesktopColumns),
                 d.id, d.name, d.image_id, d.vcpus, d.memory_mb, d.host_id, d.pool_id, d.tenant_id, d.assigned_user, d.state,
                 d.desired, d.pending_op, d.error, d.deadline_ms, to_unix_ms(d.created_at),
                 to_unix_ms(d.updated_at), d.version);
  }
  Result<DesktopRecord> update_desktop(const DesktopRecord& d) override;
  Result<DesktopRecord> desktop(std::string_view id) override {
    return one<DesktopRecord>(fmt::format("SELECT {} FROM desktops WHERE id=?", kDesktopColumns), read_desktop,
                              "desktop", id);
  }
  Result<std::vector<DesktopRecord>> desktops(const DesktopFilter& f) override {
    return many<DesktopRecord>(fmt::format("SELECT {} FROM desktops WHERE (?1='' OR pool_id=?1) AND "
                                           "(?2='' OR host_id=?2) AND (?3='' OR tenant_id=?3) AND "
                                           "(?4='' OR assigned_user=?4) ORDER BY created_ms, id",
                                           kDesktopColumns),
                               read_desktop, f.pool_id, f.host_id, f.tenant_id, f.assigned_user);
  }
  Result<void> delete_desktop(std::string_view id, int64_t version) override;
  Result<std::vector<HostAllocation>> host_allocations() override {
    return many<HostAllocation>(
        "SELECT host_id, SUM(vcpus), SUM(memory_mb) FROM desktops WHERE desired='running' GROUP BY host_id",
        [](const SqliteStatement& s) { return HostAllocation{s.text(0), s.int64(1), s.int64(2)}; });
  }

  // Users (sqlite_store.cc).
  Result<std::vector<UserRecord>> users(std::string_view tenant_id) override;
  Result<void> set_login_state(const UserRecord& user) override;
  Result<void> delete_user(std::string_view id) override;

  // The broker's entities (sqlite_broker.cc).
  Result<void> insert_tenant(const TenantRecord& tenant) override;
  Result<TenantRecord> tenant(std::string_view id) override;
  Result<std::vector<TenantRecord>> tenants() override;
  Result<void> delete_tenant(std::string_view id) override;
  Result<void> insert_pool(const PoolRecord& pool) override;
  Result<PoolRecord> update_pool(const PoolRecord& pool) override;
  Result<PoolRecord> pool(std::string_view id) override;
  Result<std::vector<PoolRecord>> pools(std::string_view tenant_id) override;
  Result<void> delete_pool(std::string_view id) override;
  Result<void> add_entitlement(std::string_view pool_id, std::string_view user_id) override;
  Result<void> remove_entitlement(std::string_view pool_id, std::string_view user_id) override;
  Result<std::vector<UserRecord>> entitled_users(std::string_view pool_id) override;
  Result<std::vector<std::string>> entitled_pool_ids(std::string_view user_id) override;
  Result<DesktopRecord> open_session(const SessionRecord& session, const DesktopRecord& desktop,
                                     const TicketRecord& ticket) override;
  Result<void> end_session(std::string_view session_id, WallTime ended_at, const DesktopRecord* desktop) override;
  Result<void> update_session(const SessionRecord& session) override;
  Result<SessionRecord> session(std::string_view id) override;
  Result<std::vector<SessionRecord>> sessions(const SessionFilter& filter) override;
  Result<void> insert_ticket(const TicketRecord& ticket) override;
  Result<TicketRecord> redeem_ticket(std::string_view ticket_hash, WallTime now) override;
  Result<void> delete_expired_tickets(WallTime now) override;
  Result<void> append_audit(const AuditEvent& event) override;
  Result<std::vector<AuditEvent>> audit_events(const AuditFilter& filter) override;
  Result<void> open_usage(const UsageInterval& interval) override;
  Result<void> close_usage(std::string_view kind, std::string_view subject_id, WallTime end) override;
  Result<std::vector<UsageInterval>> open_usage(std::string_view kind) override;
  Result<std::vector<UsageInterval>> usage(WallTime from, WallTime to, std::string_view tenant_id) override;

 private:
  // Runs fn (which uses db_ directly) inside BEGIN IMMEDIATE ... COMMIT under
  // mu_; rolls back if it fails.
  template <typename T, typename Fn>
  Result<T> transaction(Fn fn) {
    std::lock_guard lock(mu_);
    TRY(db_.exec("BEGIN IMMEDIATE"));
    Result<T> r = fn();
    if (!r.ok()) {
      (void)db_.exec("ROLLBACK");
      return r;
    }
    if (auto committed = db_.exec("COMMIT"); !committed.ok()) {
      (void)db_.exec("ROLLBACK");
      return committed.take_error();
    }
    return r;
  }
  // One statement on db_, the lock already held.
  template <typename... Args>
  Result<void> exec_locked(std::string_view sql, const Args&... args) {
    auto stmt = TRY(db_.prepare(sql));
    stmt.bind_all(args...);
    return stmt.run();
  }
  template <typename... Args>
  Result<void> write(std::string_view sql, const Args&... args) {
    std::lock_guard lock(mu_);
    auto stmt = TRY(db_.prepare(sql));
    stmt.bind_all(args...);
    return stmt.run();
  }
  // Like write, but NotFound when no row changed.
  template <typename... Args>
  Result<void> write_one(std::string_view sql, std::string_view kind, std::string_view id, const Args&... args) {
    std::lock_guard lock(mu_);
    auto stmt = TRY(db_.prepare(sql));
    stmt.bind_all(args...);
    TRY(stmt.run());
    if (db_.changes() == 0) return Error::NotFound(kind, id);
    return Ok();
  }
  template <typename T, typename Read, typename... Args>
  Result<T> one(std::string_view sql, Read read, std::string_view kind, std::string_view id, const Args&... args) {
    std::lock_guard lock(mu_);
    auto stmt = TRY(db_.prepare(sql));
    stmt.bind_all(id, args...);
    if (!TRY(stmt.step())) return Error::NotFound(kind, id);
    return read(stmt);
  }
  template <typename T, typename Read, typename... Args>
  Result<std::vector<T>> many(std::string_view sql, Read read, const Args&... args) {
    std::lock_guard lock(mu_);
    auto stmt = TRY(db_.prepare(sql));
    stmt.bind_all(args...);
    std::vector<T> out;
    while (TRY(stmt.step())) out.push_back(read(stmt));
    return out;
  }

  std::mutex mu_;
  SqliteDb db_;      // GUARDED_BY(mu_)
  int version_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace oriel::store
