// PostgreSQL implementation of the Store (internal), for installations where
// several controllers share one database. Same schema (migrations.h), same
// semantics as SqliteStore; each call runs on a pooled connection
// (pg_pool.h) in its own transaction at READ COMMITTED. How the guarantees of
// store.h hold with concurrent connections:
//  - compare-and-swap: `UPDATE ... WHERE id=$ AND version=$`; a concurrent
//    update of the row makes this one wait, then re-check its WHERE against
//    the new version: exactly one of them changes the row.
//  - one open session per desktop and per user in a pool: the partial unique
//    indexes; the second of two concurrent inserts waits for the first to
//    commit, then fails (Conflict), and its transaction writes nothing.
//  - a ticket is redeemed once: a single UPDATE ... WHERE used_ms=0 RETURNING.
//  - "Conflict while in use" deletes count, then delete, holding off the
//    writers that would make them wrong: an image's row lock (FOR UPDATE)
//    blocks every foreign key pointing at it; a tenant, which users name
//    without a foreign key, locks the users and pools tables (SHARE).
//  - Transactions that lock several rows take the desktop first, so two
//    cannot deadlock; a deadlock or serialization failure PostgreSQL still
//    reports is a Conflict, like any other concurrent change.
// The methods are split by entity over pg_store.cc and pg_broker.cc.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "oriel/store/store.h"
#include "postgres/pg_pool.h"

namespace oriel::store {

// Column values, by position.
inline std::string pg_text(const pqxx::row& r, int col) { return std::string(r[col].c_str(), r[col].size()); }
inline int64_t pg_int(const pqxx::row& r, int col) { return r[col].as<int64_t>(); }
inline WallTime pg_time(const pqxx::row& r, int col) { return from_unix_ms(r[col].as<int64_t>()); }

// Row readers for the column lists of columns.h.
DesktopRecord read_desktop(const pqxx::row& r);
UserRecord read_user(const pqxx::row& r);

class PgStore final : public Store {
 public:
  explicit PgStore(std::string conninfo) : pool_(std::move(conninfo)) {}

  // Brings the schema up to date, one migration per transaction, under an
  // advisory lock so that controllers starting together take turns.
  Result<void> migrate();
  int schema_version() override { return version_.load(); }
  bool hold_leadership() override;
  void release_leadership() override;

  // Users, tokens, hosts, images and desktops (pg_store.cc).
  Result<void> insert_user(const UserRecord& user) override;
  Result<UserRecord> user_by_name(std::string_view username) override;
  Result<UserRecord> user_by_id(std::string_view id) override;
  Result<std::vector<UserRecord>> users(std::string_view tenant_id) override;
  Result<void> set_password_hash(std::string_view user_id, std::string_view hash) override;
  Result<void> set_login_state(const UserRecord& user) override;
  Result<void> delete_user(std::string_view id) override;
  Result<void> insert_token(const TokenRecord& token) override;
  Result<TokenRecord> token_by_hash(std::string_view token_hash) override;
  Result<void> delete_token(std::string_view token_hash) override;
  Result<void> delete_expired_tokens(WallTime now) override;
  Result<void> upsert_host(const HostRecord& host) override;
  Result<HostRecord> host(std::string_view id) override;
  Result<std::vector<HostRecord>> hosts() override;
  Result<void> insert_image(const ImageRecord& image) override;
  Result<void> update_image(const ImageRecord& image) override;
  Result<ImageRecord> image(std::string_view id) override;
  Result<std::vector<ImageRecord>> images() override;
  Result<void> delete_unused_image(std::string_view id) override;
  Result<void> insert_desktop(const DesktopRecord& desktop) override;
  Result<DesktopRecord> update_desktop(const DesktopRecord& desktop) override;
  Result<DesktopRecord> desktop(std::string_view id) override;
  Result<std::vector<DesktopRecord>> desktops(const DesktopFilter& filter) override;
  Result<void> delete_desktop(std::string_view id, int64_t version) override;
  Result<std::vector<HostAllocation>> host_allocations() override;

  // The broker's entities (pg_broker.cc).
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
  // One migration step: the version reached.
  Result<int> migrate_step(pqxx::work& tx);

  template <typename T, typename Fn>
  Result<T> transaction(Fn&& fn) {
    return pool_.run<T, pqxx::work>(std::forward<Fn>(fn));
  }
  // One statement in a transaction of its own.
  template <typename... Args>
  Result<void> write(const std::string& sql, const Args&... args) {
    return transaction<void>([&](pqxx::work& tx) -> Result<void> {
      pg_exec(tx, sql, args...);
      return Ok();
    });
  }
  // Like write, but NotFound when no row changed.
  template <typename... Args>
  Result<void> write_one(const std::string& sql, std::string_view kind, std::string_view id, const Args&... args) {
    return transaction<void>([&](pqxx::work& tx) -> Result<void> {
      if (pg_exec(tx, sql, args...).affected_rows() == 0) return Error::NotFound(kind, id);
      return Ok();
    });
  }
  // The row a single read finds, with `id` as $1; NotFound if none.
  template <typename T, typename Read, typename... Args>
  Result<T> one(const std::string& sql, Read read, std::string_view kind, std::string_view id, const Args&... args) {
    return pool_.run<T, pqxx::nontransaction>([&](pqxx::nontransaction& tx) -> Result<T> {
      auto rows = pg_exec(tx, sql, id, args...);
      if (rows.empty()) return Error::NotFound(kind, id);
      return read(rows[0]);
    });
  }
  template <typename T, typename Read, typename... Args>
  Result<std::vector<T>> many(const std::string& sql, Read read, const Args&... args) {
    return pool_.run<std::vector<T>, pqxx::nontransaction>([&](pqxx::nontransaction& tx) -> Result<std::vector<T>> {
      std::vector<T> out;
      for (const auto& row : pg_exec(tx, sql, args...)) out.push_back(read(row));
      return out;
    });
  }

  PgPool pool_;
  std::atomic<int> version_ = 0;
  std::mutex leader_mu_;
  std::unique_ptr<pqxx::connection> leader_;  // GUARDED_BY(leader_mu_): holds kLeaderLockKey while set
};

}  // namespace oriel::store
