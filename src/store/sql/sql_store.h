// The Store over SQL (internal): every statement of the store, written once
// and run by a Backend (sql.h): SQLite's connection or PostgreSQL's pool.
// open_sqlite_store and open_postgres_store make one on their backend; the
// methods are split by entity over sql_store.cc and sql_broker.cc.
//
// How the guarantees of store.h hold when several connections write at once
// (PostgreSQL, at READ COMMITTED; SQLite has one connection behind a mutex
// and its write transactions hold the whole database, so they hold there
// trivially):
//  - compare-and-swap: `UPDATE ... WHERE id=$ AND version=$`; a concurrent
//    update of the row makes this one wait, then re-check its WHERE against
//    the new version: exactly one of them changes the row.
//  - one open session per desktop and per user in a pool: the partial unique
//    indexes; the second of two concurrent inserts waits for the first to
//    commit, then fails (Conflict), and its transaction writes nothing.
//  - a ticket is redeemed once: the UPDATE ... WHERE used_ms=0 decides (the
//    second of two waits for the first, then finds used_ms set), and the
//    SELECT after it in the same transaction reads what it wrote.
//  - "Conflict while in use" deletes count, then delete, holding off the
//    writers that would make them wrong (Tx::lock): an image's row lock (FOR
//    UPDATE) blocks every foreign key pointing at it; a tenant, which users
//    name without a foreign key, locks the users and pools tables (SHARE).
//  - Transactions that lock several rows take the desktop first, so two
//    cannot deadlock; a deadlock or serialization failure PostgreSQL still
//    reports is a Conflict, like any other concurrent change.
// Text is ordered COLLATE "C" (byte order), whatever the database's own
// collation. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <optional>

#include "oriel/store/store.h"
#include "sql/sql.h"

namespace oriel::store {

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<sql::Backend> backend) : backend_(std::move(backend)) {}

  // Brings the schema up to date, one migration per transaction; processes
  // starting together on one database take turns (Backend::schema_version).
  Result<void> migrate();
  int schema_version() override { return version_.load(); }
  bool hold_leadership() override { return backend_->hold_leadership(); }
  void release_leadership() override { backend_->release_leadership(); }

  // Users, tokens, hosts, images and desktops (sql_store.cc).
  Result<void> insert_user(const UserRecord& user) override;
  Result<UserRecord> user_by_name(std::string_view tenant_id, std::string_view username) override;
  Result<std::vector<UserRecord>> users_named(std::string_view username) override;
  Result<UserRecord> user_by_id(std::string_view id) override;
  Result<std::vector<UserRecord>> users(std::string_view tenant_id) override;
  Result<void> set_password_hash(std::string_view user_id, std::string_view hash) override;
  Result<void> set_login_state(const UserRecord& user) override;
  Result<void> delete_user(std::string_view id) override;
  Result<void> insert_token(const TokenRecord& token) override;
  Result<TokenRecord> token_by_hash(std::string_view token_hash) override;
  Result<void> delete_token(std::string_view token_hash) override;
  Result<void> delete_user_tokens(std::string_view user_id, std::string_view except_hash) override;
  Result<void> delete_expired_tokens(WallTime now) override;
  Result<void> upsert_host(const HostRecord& host) override;
  Result<HostRecord> host(std::string_view id) override;
  Result<std::vector<HostRecord>> hosts() override;
  Result<void> delete_host(std::string_view id) override;
  Result<void> insert_image(const ImageRecord& image) override;
  Result<void> update_image(const ImageRecord& image) override;
  Result<void> update_image_settings(const ImageRecord& image) override;
  Result<ImageRecord> image(std::string_view id) override;
  Result<std::vector<ImageRecord>> images() override;
  Result<void> delete_unused_image(std::string_view id) override;
  Result<void> insert_desktop(const DesktopRecord& desktop) override;
  Result<DesktopRecord> update_desktop(const DesktopRecord& desktop) override;
  Result<DesktopRecord> desktop(std::string_view id) override;
  Result<std::vector<DesktopRecord>> desktops(const DesktopFilter& filter) override;
  Result<void> delete_desktop(std::string_view id, int64_t version) override;
  Result<std::vector<HostAllocation>> host_allocations() override;
  Result<TenantAllocation> tenant_allocation(std::string_view tenant_id) override;

  // The broker's entities (sql_broker.cc).
  Result<void> insert_tenant(const TenantRecord& tenant) override;
  Result<TenantRecord> tenant(std::string_view id) override;
  Result<std::vector<TenantRecord>> tenants() override;
  Result<void> delete_tenant(std::string_view id) override;
  Result<void> set_tenant_quota(std::string_view id, const Quota& quota) override;
  Result<void> set_tenant_audit_policy(std::string_view id, const AuditPolicy& policy) override;
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
  Result<std::vector<AuditEvent>> oldest_audit_events(std::string_view tenant_id, WallTime before,
                                                      int64_t limit) override;
  Result<int64_t> prune_audit(const AuditArchive& archive) override;
  Result<std::vector<AuditArchive>> audit_archives(const std::optional<std::string>& tenant_id) override;
  Result<void> open_usage(const UsageInterval& interval) override;
  Result<void> close_usage(std::string_view kind, std::string_view subject_id, WallTime end) override;
  Result<std::vector<UsageInterval>> open_usage(std::string_view kind) override;
  Result<std::vector<UsageInterval>> usage(WallTime from, WallTime to, std::string_view tenant_id) override;

  // The cluster's PKI (sql_cluster.cc).
  Result<ClusterCaRecord> keep_cluster_ca(const ClusterCaRecord& candidate) override;
  Result<void> insert_join_token(const JoinTokenRecord& token) override;
  Result<void> use_join_token(std::string_view token_hash, std::string_view host_name, WallTime now) override;
  Result<void> insert_host_certificate(const HostCertificateRecord& certificate) override;
  Result<HostCertificateRecord> host_certificate(std::string_view fingerprint) override;
  Result<void> revoke_host_certificates(std::string_view host_name, WallTime now) override;

 private:
  // One migration in its transaction: the version reached.
  Result<int> migrate_step(sql::Tx& tx);

  // fn(tx) in a transaction: its value, or the first error.
  template <typename T, typename Fn>
  Result<T> transaction(sql::Access access, Fn&& fn) {
    std::optional<Result<T>> out;
    Result<void> done = backend_->transaction(access, [&](sql::Tx& tx) -> Result<void> {
      out.emplace(fn(tx));
      if (!out->ok()) return out->error();
      return Ok();
    });
    if (!done.ok()) return done.take_error();
    return std::move(*out);
  }
  // One statement that writes (atomic by itself): the rows it changed.
  template <typename... Args>
  Result<int64_t> rows_changed(std::string_view sql, const Args&... args) {
    return transaction<int64_t>(sql::Access::kStatement, [&](sql::Tx& tx) { return tx.exec(sql, args...); });
  }
  template <typename... Args>
  Result<void> write(std::string_view sql, const Args&... args) {
    TRY(rows_changed(sql, args...));
    return Ok();
  }
  // Like write, but NotFound when no row changed.
  template <typename... Args>
  Result<void> write_one(std::string_view sql, std::string_view kind, std::string_view id, const Args&... args) {
    if (TRY(rows_changed(sql, args...)) == 0) return Error::NotFound(kind, id);
    return Ok();
  }
  // The row a single read finds, with `id` as $1; NotFound if none. Read
  // straight into `row`: a record is moved once, not through each Result.
  template <typename T, typename Read, typename... Args>
  Result<T> one(std::string_view sql, Read read, std::string_view kind, std::string_view id, const Args&... args) {
    std::optional<T> row;
    TRY(backend_->transaction(sql::Access::kRead, [&](sql::Tx& tx) -> Result<void> {
      row.reset();  // the backend may run this twice (Backend::transaction)
      auto keep_first = [&](const sql::Row& r) {
        if (!row) row.emplace(read(r));
      };
      TRY(tx.each(sql, keep_first, id, args...));
      return Ok();
    }));
    if (!row) return Error::NotFound(kind, id);
    return std::move(*row);
  }
  template <typename T, typename Read, typename... Args>
  Result<std::vector<T>> many(std::string_view sql, Read read, const Args&... args) {
    return transaction<std::vector<T>>(sql::Access::kRead, [&](sql::Tx& tx) { return tx.rows<T>(sql, read, args...); });
  }

  const std::unique_ptr<sql::Backend> backend_;
  std::atomic<int> version_ = 0;
};

}  // namespace oriel::store
