// Users, tokens, hosts, images and desktops, and the schema migrations.
#include "sql/sql_store.h"

#include "migrations.h"
#include "sql/rows.h"

namespace oriel::store {

std::string sql::placeholders(int count) {
  std::string out;
  for (int i = 1; i <= count; ++i) out += fmt::format("{}${}", i > 1 ? "," : "", i);
  return out;
}

Result<void> SqlStore::migrate() {
  const int latest = static_cast<int>(migrations().size());
  for (;;) {
    int from = version_.load();
    auto reached = transaction<int>(sql::Access::kWrite, [&](sql::Tx& tx) { return migrate_step(tx); });
    if (!reached.ok()) {
      Error error = reached.take_error();
      if (error.code() == ErrorCode::kUnprocessable) return error;  // a newer schema: nothing was tried
      return error.context(fmt::format("schema migration {}", from + 1));
    }
    version_ = *reached;
    if (*reached >= latest) return Ok();
  }
}

Result<int> SqlStore::migrate_step(sql::Tx& tx) {
  const auto& all = migrations();
  int version = TRY(backend_->schema_version(tx));
  version_ = version;
  if (version > static_cast<int>(all.size())) {
    return Error::Unprocessable(
        fmt::format("database schema version {} is newer than this orield ({}): upgrade orield", version, all.size()));
  }
  if (version == static_cast<int>(all.size())) return version;
  // The migration and its version bump commit together or not at all.
  TRY(tx.run_script(migration_sql(all[static_cast<size_t>(version)], backend_->dialect())));
  TRY(backend_->set_schema_version(tx, version + 1));
  return version + 1;
}

namespace {

// The key that keeps a name unique within its tenant (migration 9): tenant
// ids hold no '/', so no two (tenant, name) pairs make the same key.
std::string tenant_username(std::string_view tenant_id, std::string_view username) {
  return fmt::format("{}/{}", tenant_id, username);
}

}  // namespace

Result<void> SqlStore::insert_user(const UserRecord& u) {
  return write("INSERT INTO users (id, username, tenant_username, password_hash, role, tenant_id, created_ms) "
               "VALUES ($1,$2,$3,$4,$5,$6,$7)",
               u.id, u.username, tenant_username(u.tenant_id, u.username), u.password_hash, u.role, u.tenant_id,
               to_unix_ms(u.created_at));
}

Result<UserRecord> SqlStore::user_by_name(std::string_view tenant_id, std::string_view username) {
  static const std::string kSql = fmt::format("SELECT {} FROM users WHERE tenant_username=$1", kUserColumns);
  return one<UserRecord>(kSql, read_user, "user", tenant_username(tenant_id, username));
}

Result<std::vector<UserRecord>> SqlStore::users_named(std::string_view username) {
  static const std::string kSql =
      fmt::format("SELECT {} FROM users WHERE username=$1 ORDER BY tenant_id COLLATE \"C\"", kUserColumns);
  return many<UserRecord>(kSql, read_user, username);
}

Result<UserRecord> SqlStore::user_by_id(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM users WHERE id=$1", kUserColumns);
  return one<UserRecord>(kSql, read_user, "user", id);
}

Result<std::vector<UserRecord>> SqlStore::users(std::string_view tenant_id) {
  static const std::string kSql = fmt::format(
      "SELECT {} FROM users WHERE (CAST($1 AS TEXT)='' OR tenant_id=$1) ORDER BY username COLLATE \"C\"", kUserColumns);
  return many<UserRecord>(kSql, read_user, tenant_id);
}

Result<void> SqlStore::set_password_hash(std::string_view user_id, std::string_view hash) {
  return write_one("UPDATE users SET password_hash=$1 WHERE id=$2", "user", user_id, hash, user_id);
}

Result<void> SqlStore::set_login_state(const UserRecord& u) {
  return write_one("UPDATE users SET failed_logins=$1, last_failed_ms=$2, locked_until_ms=$3 WHERE id=$4", "user", u.id,
                   u.failed_logins, to_unix_ms(u.last_failed_at), to_unix_ms(u.locked_until), u.id);
}

Result<void> SqlStore::delete_user(std::string_view id) {
  return write_one("DELETE FROM users WHERE id=$1", "user", id, id);  // tokens and entitlements cascade
}

Result<void> SqlStore::insert_token(const TokenRecord& t) {
  static const std::string kSql = fmt::format("INSERT INTO tokens ({}) VALUES ($1,$2,$3,$4)", kTokenColumns);
  return write(kSql, t.token_hash, t.user_id, to_unix_ms(t.created_at), to_unix_ms(t.expires_at));
}

Result<TokenRecord> SqlStore::token_by_hash(std::string_view token_hash) {
  static const std::string kSql = fmt::format("SELECT {} FROM tokens WHERE token_hash=$1", kTokenColumns);
  return one<TokenRecord>(kSql, read_token, "token", token_hash);
}

Result<void> SqlStore::delete_token(std::string_view token_hash) {
  return write("DELETE FROM tokens WHERE token_hash=$1", token_hash);
}

Result<void> SqlStore::delete_user_tokens(std::string_view user_id, std::string_view except_hash) {
  return write("DELETE FROM tokens WHERE user_id=$1 AND token_hash<>$2", user_id, except_hash);
}

Result<void> SqlStore::delete_expired_tokens(WallTime now) {
  return write("DELETE FROM tokens WHERE expires_ms<=$1", to_unix_ms(now));
}

Result<void> SqlStore::upsert_host(const HostRecord& h) {
  static const std::string kSql = fmt::format(
      "INSERT INTO hosts ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET name=excluded.name, state=excluded.state, "
      "accelerator=excluded.accelerator, cpus=excluded.cpus, memory_mb=excluded.memory_mb, "
      "address=excluded.address, heartbeat_ms=excluded.heartbeat_ms",
      kHostColumns, sql::placeholders(8));
  return write(kSql, h.id, h.name, h.state, h.accelerator, h.cpus, h.memory_mb, h.address,
               to_unix_ms(h.last_heartbeat_at));
}

Result<HostRecord> SqlStore::host(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM hosts WHERE id=$1", kHostColumns);
  return one<HostRecord>(kSql, read_host, "host", id);
}

Result<std::vector<HostRecord>> SqlStore::hosts() {
  static const std::string kSql = fmt::format("SELECT {} FROM hosts ORDER BY name COLLATE \"C\"", kHostColumns);
  return many<HostRecord>(kSql, read_host);
}

Result<void> SqlStore::delete_host(std::string_view id) {
  return transaction<void>(sql::Access::kWrite, [&](sql::Tx& tx) -> Result<void> {
    // Desktops name their host without a foreign key: hold off placements
    // while counting, so none lands on the host as it goes.
    TRY(tx.lock("LOCK TABLE desktops IN SHARE MODE"));
    int64_t n =
        TRY(tx.first<int64_t>(
                "SELECT COUNT(*) FROM desktops WHERE host_id=$1", [](const sql::Row& r) { return r.int64(0); }, id))
            .value_or(0);
    if (n > 0) {
      return Error::Conflict(
          fmt::format("host '{}' still has {} desktop{}: move or delete them first", id, n, n == 1 ? "" : "s"));
    }
    if (TRY(tx.exec("DELETE FROM hosts WHERE id=$1", id)) == 0) return Error::NotFound("host", id);
    return Ok();
  });
}

Result<void> SqlStore::insert_image(const ImageRecord& i) {
  static const std::string kSql =
      fmt::format("INSERT INTO images ({}) VALUES ({})", kImageColumns, sql::placeholders(16));
  return write(kSql, i.id, i.name, i.state, i.progress, i.source_path, i.requested_format, i.source_format, i.path,
               i.virtual_size_bytes, i.size_bytes, i.boot_json, i.error, to_unix_ms(i.created_at),
               to_unix_ms(i.updated_at), i.tenant_id, int64_t{i.shared});
}

Result<void> SqlStore::update_image(const ImageRecord& i) {
  return write_one("UPDATE images SET state=$1, progress=$2, source_format=$3, path=$4, virtual_size_bytes=$5, "
                   "size_bytes=$6, boot_json=$7, error=$8, updated_ms=$9 WHERE id=$10",
                   "image", i.id, i.state, i.progress, i.source_format, i.path, i.virtual_size_bytes, i.size_bytes,
                   i.boot_json, i.error, to_unix_ms(i.updated_at), i.id);
}

Result<void> SqlStore::update_image_settings(const ImageRecord& i) {
  return write_one("UPDATE images SET name=$1, shared=$2, updated_ms=$3 WHERE id=$4", "image", i.id, i.name,
                   int64_t{i.shared}, to_unix_ms(i.updated_at), i.id);
}

Result<ImageRecord> SqlStore::image(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM images WHERE id=$1", kImageColumns);
  return one<ImageRecord>(kSql, read_image, "image", id);
}

Result<std::vector<ImageRecord>> SqlStore::images() {
  static const std::string kSql =
      fmt::format("SELECT {} FROM images ORDER BY created_ms, id COLLATE \"C\"", kImageColumns);
  return many<ImageRecord>(kSql, read_image);
}

Result<void> SqlStore::delete_unused_image(std::string_view id) {
  return transaction<void>(sql::Access::kWrite, [&](sql::Tx& tx) -> Result<void> {
    // The row lock waits for, then holds off, every writer whose foreign key
    // points at the image (a desktop or pool being made on it): the counts
    // stay true until the delete commits.
    TRY(tx.lock("SELECT 1 FROM images WHERE id=$1 FOR UPDATE", id));
    Counts uses = TRY(tx.first<Counts>("SELECT (SELECT COUNT(*) FROM desktops WHERE image_id=$1), "
                                       "(SELECT COUNT(*) FROM pools WHERE image_id=$1)",
                                       read_counts, id))
                      .value_or(Counts{});
    if (int64_t n = uses.second; n > 0) {
      return Error::Conflict(fmt::format("image '{}' is used by {} pool{}", id, n, n == 1 ? "" : "s"));
    }
    if (int64_t n = uses.first; n > 0) {
      return Error::Conflict(fmt::format("image '{}' is used by {} desktop{}", id, n, n == 1 ? "" : "s"));
    }
    if (TRY(tx.exec("DELETE FROM images WHERE id=$1", id)) == 0) return Error::NotFound("image", id);
    return Ok();
  });
}

Result<void> SqlStore::insert_desktop(const DesktopRecord& d) {
  static const std::string kSql =
      fmt::format("INSERT INTO desktops ({}) VALUES ({})", kDesktopColumns, sql::placeholders(17));
  return write(kSql, d.id, d.name, d.image_id, d.vcpus, d.memory_mb, d.host_id, d.pool_id, d.tenant_id, d.assigned_user,
               d.state, d.desired, d.pending_op, d.error, d.deadline_ms, to_unix_ms(d.created_at),
               to_unix_ms(d.updated_at), d.version);
}

Result<DesktopRecord> SqlStore::update_desktop(const DesktopRecord& d) {
  auto changed = TRY(rows_changed(
      "UPDATE desktops SET name=$1, image_id=$2, vcpus=$3, memory_mb=$4, host_id=$5, pool_id=$6, tenant_id=$7, "
      "assigned_user=$8, state=$9, desired=$10, pending_op=$11, error=$12, deadline_ms=$13, updated_ms=$14, "
      "version=version+1 WHERE id=$15 AND version=$16",
      d.name, d.image_id, d.vcpus, d.memory_mb, d.host_id, d.pool_id, d.tenant_id, d.assigned_user, d.state, d.desired,
      d.pending_op, d.error, d.deadline_ms, to_unix_ms(d.updated_at), d.id, d.version));
  if (changed == 0) return Error::Conflict(fmt::format("desktop '{}' changed concurrently or is gone", d.id));
  DesktopRecord updated = d;
  updated.version = d.version + 1;
  return updated;
}

Result<DesktopRecord> SqlStore::desktop(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM desktops WHERE id=$1", kDesktopColumns);
  return one<DesktopRecord>(kSql, read_desktop, "desktop", id);
}

Result<std::vector<DesktopRecord>> SqlStore::desktops(const DesktopFilter& f) {
  // PostgreSQL plans parameters as the values they are, so an empty filter
  // folds away and the index of a given one is used.
  static const std::string kSql = fmt::format(
      "SELECT {} FROM desktops WHERE (CAST($1 AS TEXT)='' OR pool_id=$1) AND (CAST($2 AS TEXT)='' OR host_id=$2) AND "
      "(CAST($3 AS TEXT)='' OR tenant_id=$3) AND (CAST($4 AS TEXT)='' OR assigned_user=$4) "
      "ORDER BY created_ms, id COLLATE \"C\"",
      kDesktopColumns);
  return many<DesktopRecord>(kSql, read_desktop, f.pool_id, f.host_id, f.tenant_id, f.assigned_user);
}

Result<void> SqlStore::delete_desktop(std::string_view id, int64_t version) {
  if (TRY(rows_changed("DELETE FROM desktops WHERE id=$1 AND version=$2", id, version)) == 0) {
    return Error::Conflict(fmt::format("desktop '{}' changed concurrently or is gone", id));
  }
  return Ok();
}

Result<std::vector<HostAllocation>> SqlStore::host_allocations() {
  return many<HostAllocation>(
      "SELECT host_id, CAST(SUM(vcpus) AS BIGINT), CAST(SUM(memory_mb) AS BIGINT) FROM desktops "
      "WHERE desired='running' GROUP BY host_id ORDER BY host_id COLLATE \"C\"",
      read_host_allocation);
}

Result<TenantAllocation> SqlStore::tenant_allocation(std::string_view tenant_id) {
  // An aggregate: one row, zeros for a tenant without desktops.
  return one<TenantAllocation>(
      "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN d.desired='running' THEN d.vcpus ELSE 0 END), 0) AS BIGINT), "
      "CAST(COALESCE(SUM(CASE WHEN d.desired='running' THEN d.memory_mb ELSE 0 END), 0) AS BIGINT), "
      "CAST(COALESCE(SUM(i.virtual_size_bytes), 0) AS BIGINT) "
      "FROM desktops d LEFT JOIN images i ON i.id = d.image_id WHERE d.tenant_id=$1 AND d.desired <> 'deleted'",
      read_tenant_allocation, "tenant", tenant_id);
}

}  // namespace oriel::store
