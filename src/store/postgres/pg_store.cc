// Users, tokens, hosts, images and desktops on PostgreSQL, the schema
// migrations, and open_postgres_store. Text is ordered COLLATE "C" (byte
// order, as SQLite's BINARY), whatever the database's own collation.
#include "postgres/pg_store.h"

#include "columns.h"
#include "migrations.h"
#include "oriel/common/log.h"

namespace oriel::store {
namespace {

ImageRecord read_image(const pqxx::row& r) {
  ImageRecord i;
  i.id = pg_text(r, 0);
  i.name = pg_text(r, 1);
  i.state = pg_text(r, 2);
  i.progress = r[3].as<double>();
  i.source_path = pg_text(r, 4);
  i.requested_format = pg_text(r, 5);
  i.source_format = pg_text(r, 6);
  i.path = pg_text(r, 7);
  i.virtual_size_bytes = pg_int(r, 8);
  i.size_bytes = pg_int(r, 9);
  i.boot_json = pg_text(r, 10);
  i.error = pg_text(r, 11);
  i.created_at = pg_time(r, 12);
  i.updated_at = pg_time(r, 13);
  return i;
}

HostRecord read_host(const pqxx::row& r) {
  return HostRecord{pg_text(r, 0), pg_text(r, 1), pg_text(r, 2), pg_text(r, 3),
                    pg_int(r, 4),  pg_int(r, 5),  pg_text(r, 6), pg_time(r, 7)};
}

TokenRecord read_token(const pqxx::row& r) {
  return TokenRecord{pg_text(r, 0), pg_text(r, 1), pg_time(r, 2), pg_time(r, 3)};
}

}  // namespace

DesktopRecord read_desktop(const pqxx::row& r) {
  DesktopRecord d;
  d.id = pg_text(r, 0);
  d.name = pg_text(r, 1);
  d.image_id = pg_text(r, 2);
  d.vcpus = pg_int(r, 3);
  d.memory_mb = pg_int(r, 4);
  d.host_id = pg_text(r, 5);
  d.pool_id = pg_text(r, 6);
  d.tenant_id = pg_text(r, 7);
  d.assigned_user = pg_text(r, 8);
  d.state = pg_text(r, 9);
  d.desired = pg_text(r, 10);
  d.pending_op = pg_text(r, 11);
  d.error = pg_text(r, 12);
  d.deadline_ms = pg_int(r, 13);
  d.created_at = pg_time(r, 14);
  d.updated_at = pg_time(r, 15);
  d.version = pg_int(r, 16);
  return d;
}

UserRecord read_user(const pqxx::row& r) {
  return UserRecord{pg_text(r, 0), pg_text(r, 1), pg_text(r, 2), pg_text(r, 3), pg_text(r, 4),
                    pg_time(r, 5), pg_int(r, 6),  pg_time(r, 7), pg_time(r, 8)};
}

bool PgStore::hold_leadership() {
  std::lock_guard lock(leader_mu_);
  try {
    if (leader_) {
      // Still ours while the session lives; a query proves it does.
      pqxx::nontransaction tx(*leader_);
      tx.exec("SELECT 1");
      return true;
    }
    auto c = pool_.connect();
    if (!c.ok()) return false;
    bool got = false;
    {
      pqxx::nontransaction tx(**c);
      got = pg_exec(tx, "SELECT pg_try_advisory_lock($1::bigint)", kLeaderLockKey)[0][0].as<bool>();
    }
    if (got) leader_ = std::move(*c);
    return got;
  } catch (const std::exception& e) {
    // The connection failed: the server ended the session, and the lock with it.
    spdlog::warn("store: the leader lock's connection failed: {}", pg_error(e).message());
    leader_.reset();
    return false;
  }
}

void PgStore::release_leadership() {
  std::lock_guard lock(leader_mu_);
  leader_.reset();  // closing the session releases the lock
}

Result<void> PgStore::migrate() {
  const int latest = static_cast<int>(migrations().size());
  for (;;) {
    int from = version_.load();
    auto reached = transaction<int>([&](pqxx::work& tx) { return migrate_step(tx); });
    if (!reached.ok()) {
      Error error = reached.take_error();
      if (error.code() == ErrorCode::kUnprocessable) return error;  // a newer schema: nothing was tried
      return error.context(fmt::format("schema migration {}", from + 1));
    }
    version_ = *reached;
    if (*reached >= latest) return Ok();
  }
}

Result<int> PgStore::migrate_step(pqxx::work& tx) {
  const auto& all = migrations();
  // Held to the end of this transaction: controllers starting together on
  // one database read the version and migrate one after the other.
  pg_exec(tx, "SELECT pg_advisory_xact_lock($1::bigint)", kMigrationLockKey);
  // The version lives in a table of its own, as SQLite keeps it in PRAGMA user_version.
  if (tx.exec("SELECT to_regclass('oriel_schema') IS NULL")[0][0].as<bool>()) {
    tx.exec("CREATE TABLE oriel_schema (version INTEGER NOT NULL); INSERT INTO oriel_schema VALUES (0)");
  }
  auto rows = tx.exec("SELECT version FROM oriel_schema");
  if (rows.size() != 1) return Error::Internal("oriel_schema must hold exactly one row");
  int version = rows[0][0].as<int>();
  version_ = version;
  if (version > static_cast<int>(all.size())) {
    return Error::Unprocessable(
        fmt::format("database schema version {} is newer than this orield ({}): upgrade orield", version, all.size()));
  }
  if (version == static_cast<int>(all.size())) return version;
  tx.exec(migration_sql(all[static_cast<size_t>(version)], Dialect::kPostgres));
  pg_exec(tx, "UPDATE oriel_schema SET version=$1", version + 1);
  return version + 1;
}

Result<void> PgStore::insert_user(const UserRecord& u) {
  return write(
      "INSERT INTO users (id, username, password_hash, role, tenant_id, created_ms) VALUES ($1,$2,$3,$4,$5,$6)", u.id,
      u.username, u.password_hash, u.role, u.tenant_id, to_unix_ms(u.created_at));
}

Result<UserRecord> PgStore::user_by_name(std::string_view username) {
  static const std::string kSql = fmt::format("SELECT {} FROM users WHERE username=$1", kUserColumns);
  return one<UserRecord>(kSql, read_user, "user", username);
}

Result<UserRecord> PgStore::user_by_id(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM users WHERE id=$1", kUserColumns);
  return one<UserRecord>(kSql, read_user, "user", id);
}

Result<std::vector<UserRecord>> PgStore::users(std::string_view tenant_id) {
  static const std::string kSql = fmt::format(
      "SELECT {} FROM users WHERE ($1::text='' OR tenant_id=$1) ORDER BY username COLLATE \"C\"", kUserColumns);
  return many<UserRecord>(kSql, read_user, tenant_id);
}

Result<void> PgStore::set_password_hash(std::string_view user_id, std::string_view hash) {
  return write_one("UPDATE users SET password_hash=$1 WHERE id=$2", "user", user_id, hash, user_id);
}

Result<void> PgStore::set_login_state(const UserRecord& u) {
  return write_one("UPDATE users SET failed_logins=$1, last_failed_ms=$2, locked_until_ms=$3 WHERE id=$4", "user", u.id,
                   u.failed_logins, to_unix_ms(u.last_failed_at), to_unix_ms(u.locked_until), u.id);
}

Result<void> PgStore::delete_user(std::string_view id) {
  return write_one("DELETE FROM users WHERE id=$1", "user", id, id);  // tokens and entitlements cascade
}

Result<void> PgStore::insert_token(const TokenRecord& t) {
  return write("INSERT INTO tokens (token_hash, user_id, created_ms, expires_ms) VALUES ($1,$2,$3,$4)", t.token_hash,
               t.user_id, to_unix_ms(t.created_at), to_unix_ms(t.expires_at));
}

Result<TokenRecord> PgStore::token_by_hash(std::string_view token_hash) {
  return one<TokenRecord>("SELECT token_hash, user_id, created_ms, expires_ms FROM tokens WHERE token_hash=$1",
                          read_token, "token", token_hash);
}

Result<void> PgStore::delete_token(std::string_view token_hash) {
  return write("DELETE FROM tokens WHERE token_hash=$1", token_hash);
}

Result<void> PgStore::delete_expired_tokens(WallTime now) {
  return write("DELETE FROM tokens WHERE expires_ms<=$1", to_unix_ms(now));
}

Result<void> PgStore::upsert_host(const HostRecord& h) {
  static const std::string kSql = fmt::format(
      "INSERT INTO hosts ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET name=EXCLUDED.name, state=EXCLUDED.state, "
      "accelerator=EXCLUDED.accelerator, cpus=EXCLUDED.cpus, memory_mb=EXCLUDED.memory_mb, "
      "address=EXCLUDED.address, heartbeat_ms=EXCLUDED.heartbeat_ms",
      kHostColumns, pg_placeholders(1, 8));
  return write(kSql, h.id, h.name, h.state, h.accelerator, h.cpus, h.memory_mb, h.address,
               to_unix_ms(h.last_heartbeat_at));
}

Result<HostRecord> PgStore::host(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM hosts WHERE id=$1", kHostColumns);
  return one<HostRecord>(kSql, read_host, "host", id);
}

Result<std::vector<HostRecord>> PgStore::hosts() {
  static const std::string kSql = fmt::format("SELECT {} FROM hosts ORDER BY name COLLATE \"C\"", kHostColumns);
  return many<HostRecord>(kSql, read_host);
}

Result<void> PgStore::insert_image(const ImageRecord& i) {
  static const std::string kSql =
      fmt::format("INSERT INTO images ({}) VALUES ({})", kImageColumns, pg_placeholders(1, 14));
  return write(kSql, i.id, i.name, i.state, i.progress, i.source_path, i.requested_format, i.source_format, i.path,
               i.virtual_size_bytes, i.size_bytes, i.boot_json, i.error, to_unix_ms(i.created_at),
               to_unix_ms(i.updated_at));
}

Result<void> PgStore::update_image(const ImageRecord& i) {
  return write_one(
      "UPDATE images SET name=$1, state=$2, progress=$3, source_format=$4, path=$5, virtual_size_bytes=$6, "
      "size_bytes=$7, boot_json=$8, error=$9, updated_ms=$10 WHERE id=$11",
      "image", i.id, i.name, i.state, i.progress, i.source_format, i.path, i.virtual_size_bytes, i.size_bytes,
      i.boot_json, i.error, to_unix_ms(i.updated_at), i.id);
}

Result<ImageRecord> PgStore::image(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM images WHERE id=$1", kImageColumns);
  return one<ImageRecord>(kSql, read_image, "image", id);
}

Result<std::vector<ImageRecord>> PgStore::images() {
  static const std::string kSql =
      fmt::format("SELECT {} FROM images ORDER BY created_ms, id COLLATE \"C\"", kImageColumns);
  return many<ImageRecord>(kSql, read_image);
}

Result<void> PgStore::delete_unused_image(std::string_view id) {
  return transaction<void>([&](pqxx::work& tx) -> Result<void> {
    // The row lock waits for, then holds off, every writer whose foreign key
    // points at the image (a desktop or pool being made on it): the counts
    // stay true until the delete commits.
    if (pg_exec(tx, "SELECT 1 FROM images WHERE id=$1 FOR UPDATE", id).empty()) return Error::NotFound("image", id);
    auto count = pg_exec(tx,
                         "SELECT (SELECT COUNT(*) FROM desktops WHERE image_id=$1), "
                         "(SELECT COUNT(*) FROM pools WHERE image_id=$1)",
                         id)[0];
    if (int64_t n = pg_int(count, 1); n > 0) {
      return Error::Conflict(fmt::format("image '{}' is used by {} pool{}", id, n, n == 1 ? "" : "s"));
    }
    if (int64_t n = pg_int(count, 0); n > 0) {
      return Error::Conflict(fmt::format("image '{}' is used by {} desktop{}", id, n, n == 1 ? "" : "s"));
    }
    pg_exec(tx, "DELETE FROM images WHERE id=$1", id);
    return Ok();
  });
}

Result<void> PgStore::insert_desktop(const DesktopRecord& d) {
  static const std::string kSql =
      fmt::format("INSERT INTO desktops ({}) VALUES ({})", kDesktopColumns, pg_placeholders(1, 17));
  return write(kSql, d.id, d.name, d.image_id, d.vcpus, d.memory_mb, d.host_id, d.pool_id, d.tenant_id, d.assigned_user,
               d.state, d.desired, d.pending_op, d.error, d.deadline_ms, to_unix_ms(d.created_at),
               to_unix_ms(d.updated_at), d.version);
}

Result<DesktopRecord> PgStore::update_desktop(const DesktopRecord& d) {
  return transaction<DesktopRecord>([&](pqxx::work& tx) -> Result<DesktopRecord> {
    auto r =
        pg_exec(tx,
                "UPDATE desktops SET name=$1, image_id=$2, vcpus=$3, memory_mb=$4, host_id=$5, pool_id=$6, "
                "tenant_id=$7, assigned_user=$8, state=$9, desired=$10, pending_op=$11, error=$12, "
                "deadline_ms=$13, updated_ms=$14, version=version+1 WHERE id=$15 AND version=$16",
                d.name, d.image_id, d.vcpus, d.memory_mb, d.host_id, d.pool_id, d.tenant_id, d.assigned_user, d.state,
                d.desired, d.pending_op, d.error, d.deadline_ms, to_unix_ms(d.updated_at), d.id, d.version);
    if (r.affected_rows() == 0) {
      return Error::Conflict(fmt::format("desktop '{}' changed concurrently or is gone", d.id));
    }
    DesktopRecord updated = d;
    updated.version = d.version + 1;
    return updated;
  });
}

Result<DesktopRecord> PgStore::desktop(std::string_view id) {
  static const std::string kSql = fmt::format("SELECT {} FROM desktops WHERE id=$1", kDesktopColumns);
  return one<DesktopRecord>(kSql, read_desktop, "desktop", id);
}

Result<std::vector<DesktopRecord>> PgStore::desktops(const DesktopFilter& f) {
  // Parameters are planned as the values they are, so an empty filter
  // folds away and the index of a given one is used.
  static const std::string kSql = fmt::format(
      "SELECT {} FROM desktops WHERE ($1::text='' OR pool_id=$1) AND ($2::text='' OR host_id=$2) AND "
      "($3::text='' OR tenant_id=$3) AND ($4::text='' OR assigned_user=$4) ORDER BY created_ms, id COLLATE \"C\"",
      kDesktopColumns);
  return many<DesktopRecord>(kSql, read_desktop, f.pool_id, f.host_id, f.tenant_id, f.assigned_user);
}

Result<void> PgStore::delete_desktop(std::string_view id, int64_t version) {
  return transaction<void>([&](pqxx::work& tx) -> Result<void> {
    if (pg_exec(tx, "DELETE FROM desktops WHERE id=$1 AND version=$2", id, version).affected_rows() == 0) {
      return Error::Conflict(fmt::format("desktop '{}' changed concurrently or is gone", id));
    }
    return Ok();
  });
}

Result<std::vector<HostAllocation>> PgStore::host_allocations() {
  return many<HostAllocation>(
      "SELECT host_id, SUM(vcpus)::bigint, SUM(memory_mb)::bigint FROM desktops WHERE desired='running' "
      "GROUP BY host_id ORDER BY host_id COLLATE \"C\"",
      [](const pqxx::row& r) {
        return HostAllocation{pg_text(r, 0), pg_int(r, 1), pg_int(r, 2)};
      });
}

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& conninfo) {
  auto normalized = TRY(normalize_conninfo(conninfo));
  auto store = std::make_unique<PgStore>(std::move(normalized));
  TRY(store->migrate());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace oriel::store
