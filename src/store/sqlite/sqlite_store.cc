#include "sqlite/sqlite_store.h"

#include "migrations.h"

namespace oriel::store {

DesktopRecord read_desktop(const SqliteStatement& s) {
  DesktopRecord d;
  d.id = s.text(0);
  d.name = s.text(1);
  d.image_id = s.text(2);
  d.vcpus = s.int64(3);
  d.memory_mb = s.int64(4);
  d.host_id = s.text(5);
  d.pool_id = s.text(6);
  d.tenant_id = s.text(7);
  d.assigned_user = s.text(8);
  d.state = s.text(9);
  d.desired = s.text(10);
  d.pending_op = s.text(11);
  d.error = s.text(12);
  d.deadline_ms = s.int64(13);
  d.created_at = from_unix_ms(s.int64(14));
  d.updated_at = from_unix_ms(s.int64(15));
  d.version = s.int64(16);
  return d;
}

ImageRecord read_image(const SqliteStatement& s) {
  ImageRecord i;
  i.id = s.text(0);
  i.name = s.text(1);
  i.state = s.text(2);
  i.progress = s.real(3);
  i.source_path = s.text(4);
  i.requested_format = s.text(5);
  i.source_format = s.text(6);
  i.path = s.text(7);
  i.virtual_size_bytes = s.int64(8);
  i.size_bytes = s.int64(9);
  i.boot_json = s.text(10);
  i.error = s.text(11);
  i.created_at = from_unix_ms(s.int64(12));
  i.updated_at = from_unix_ms(s.int64(13));
  return i;
}

HostRecord read_host(const SqliteStatement& s) {
  return HostRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.int64(4), s.int64(5), s.text(6),
                    from_unix_ms(s.int64(7))};
}

UserRecord read_user(const SqliteStatement& s) {
  return UserRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), from_unix_ms(s.int64(5)),
                    s.int64(6), from_unix_ms(s.int64(7)), from_unix_ms(s.int64(8))};
}

Result<void> SqliteStore::migrate() {
  std::lock_guard lock(mu_);
  {
    // Finalized before migrating: an open statement makes DROP TABLE fail as "locked".
    auto stmt = TRY(db_.prepare("PRAGMA user_version"));
    TRY(stmt.step());
    version_ = static_cast<int>(stmt.int64(0));
  }
  const auto& all = migrations();
  if (version_ > static_cast<int>(all.size())) {
    return Error::Unprocessable(fmt::format("database schema version {} is newer than this orield ({}): upgrade orield",
                                            version_, all.size()));
  }
  for (size_t v = static_cast<size_t>(version_); v < all.size(); ++v) {
    // Each migration and its version bump commit together or not at all.
    auto applied = db_.exec(fmt::format("BEGIN IMMEDIATE; {} PRAGMA user_version={}; COMMIT;",
                                        migration_sql(all[v], Dialect::kSqlite), v + 1));
    if (!applied.ok()) {
      (void)db_.exec("ROLLBACK");
      return applied.take_error().context(fmt::format("schema migration {}", v + 1));
    }
    version_ = static_cast<int>(v + 1);
  }
  return Ok();
}

Result<std::vector<UserRecord>> SqliteStore::users(std::string_view tenant_id) {
  return many<UserRecord>(
      fmt::format("SELECT {} FROM users WHERE (?1='' OR tenant_id=?1) ORDER BY username", kUserColumns), read_user,
      tenant_id);
}

Result<void> SqliteStore::set_login_state(const UserRecord& u) {
  return write_one("UPDATE users SET failed_logins=?, last_failed_ms=?, locked_until_ms=? WHERE id=?", "user", u.id,
                   u.failed_logins, to_unix_ms(u.last_failed_at), to_unix_ms(u.locked_until), u.id);
}

Result<void> SqliteStore::delete_user(std::string_view id) {
  return write_one("DELETE FROM users WHERE id=?", "user", id, id);  // tokens and entitlements cascade
}

Result<void> SqliteStore::delete_unused_image(std::string_view id) {
  std::lock_guard lock(mu_);
  auto count = TRY(db_.prepare(
      "SELECT (SELECT COUNT(*) FROM desktops WHERE image_id=?1), (SELECT COUNT(*) FROM pools WHERE image_id=?1)"));
  count.bind_all(id);
  TRY(count.step());
  if (int64_t n = count.int64(1); n > 0) {
    return Error::Conflict(fmt::format("image '{}' is used by {} pool{}", id, n, n == 1 ? "" : "s"));
  }
  if (int64_t n = count.int64(0); n > 0) {
    return Error::Conflict(fmt::format("image '{}' is used by {} desktop{}", id, n, n == 1 ? "" : "s"));
  }
  auto del = TRY(db_.prepare("DELETE FROM images WHERE id=?"));
  del.bind_all(id);
  TRY(del.run());
  if (db_.changes() == 0) return Error::NotFound("image", id);
  return Ok();
}

Result<DesktopRecord> SqliteStore::update_desktop(const DesktopRecord& d) {
  std::lock_guard lock(mu_);
  auto stmt = TRY(db_.prepare(
      "UPDATE desktops SET name=?, image_id=?, vcpus=?, memory_mb=?, host_id=?, pool_id=?, tenant_id=?, "
      "assigned_user=?, state=?, desired=?, pending_op=?, error=?, deadline_ms=?, updated_ms=?, version=version+1 "
      "WHERE id=? AND version=?"));
  stmt.bind_all(d.name, d.image_id, d.vcpus, d.memory_mb, d.host_id, d.pool_id, d.tenant_id, d.assigned_user,
                d.state, d.desired,
                d.pending_op, d.error, d.deadline_ms, to_unix_ms(d.updated_at), d.id, d.version);
  TRY(stmt.run());
  if (db_.changes() == 0) {
    return Error::Conflict(fmt::format("desktop '{}' changed concurrently or is gone", d.id));
  }
  DesktopRecord updated = d;
  updated.version = d.version + 1;
  return updated;
}

Result<void> SqliteStore::delete_desktop(std::string_view id, int64_t version) {
  std::lock_guard lock(mu_);
  auto stmt = TRY(db_.prepare("DELETE FROM desktops WHERE id=? AND version=?"));
  stmt.bind_all(id, version);
  TRY(stmt.run());
  if (db_.changes() == 0) return Error::Conflict(fmt::format("desktop '{}' changed concurrently or is gone", id));
  return Ok();
}

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  auto db = TRY(SqliteDb::open(path));
  auto store = std::make_unique<SqliteStore>(std::move(db));
  TRY(store->migrate());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace oriel::store
