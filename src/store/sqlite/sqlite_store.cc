// SQLite implementation of the Store. One connection behind a mutex: SQLite
// serializes writers anyway, and every statement here is short.
#include <mutex>

#include "migrations.h"
#include "oriel/store/store.h"
#include "sqlite/sqlite_db.h"

namespace oriel::store {
namespace {

constexpr std::string_view kDesktopColumns =
    "id, name, image_id, vcpus, memory_mb, host_id, pool_id, assigned_user, state, desired, pending_op, error, "
    "deadline_ms, created_ms, updated_ms, version";
constexpr std::string_view kImageColumns =
    "id, name, state, progress, source_path, requested_format, source_format, path, virtual_size_bytes, size_bytes, "
    "boot_json, error, created_ms, updated_ms";

DesktopRecord read_desktop(const SqliteStatement& s) {
  DesktopRecord d;
  d.id = s.text(0);
  d.name = s.text(1);
  d.image_id = s.text(2);
  d.vcpus = s.int64(3);
  d.memory_mb = s.int64(4);
  d.host_id = s.text(5);
  d.pool_id = s.text(6);
  d.assigned_user = s.text(7);
  d.state = s.text(8);
  d.desired = s.text(9);
  d.pending_op = s.text(10);
  d.error = s.text(11);
  d.deadline_ms = s.int64(12);
  d.created_at = from_unix_ms(s.int64(13));
  d.updated_at = from_unix_ms(s.int64(14));
  d.version = s.int64(15);
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
  return UserRecord{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), from_unix_ms(s.int64(5))};
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteDb db) : db_(std::move(db)) {}

  Result<void> migrate();
  int schema_version() override {
    std::lock_guard lock(mu_);
    return version_;
  }

  Result<void> insert_user(const UserRecord& u) override {
    return write("INSERT INTO users (id, username, password_hash, role, tenant_id, created_ms) VALUES (?,?,?,?,?,?)",
                 u.id, u.username, u.password_hash, u.role, u.tenant_id, to_unix_ms(u.created_at));
  }
  Result<UserRecord> user_by_name(std::string_view username) override {
    return one<UserRecord>("SELECT id, username, password_hash, role, tenant_id, created_ms FROM users WHERE username=?",
                           read_user, "user", username);
  }
  Result<UserRecord> user_by_id(std::string_view id) override {
    return one<UserRecord>("SELECT id, username, password_hash, role, tenant_id, created_ms FROM users WHERE id=?",
                           read_user, "user", id);
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
    return write(fmt::format("INSERT INTO desktops ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", kDesktopColumns),
                 d.id, d.name, d.image_id, d.vcpus, d.memory_mb, d.host_id, d.pool_id, d.assigned_user, d.state,
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
                                           "(?2='' OR host_id=?2) ORDER BY created_ms, id",
                                           kDesktopColumns),
                               read_desktop, f.pool_id, f.host_id);
  }
  Result<void> delete_desktop(std::string_view id, int64_t version) override;

 private:
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

Result<void> SqliteStore::migrate() {
  std::lock_guard lock(mu_);
  auto stmt = TRY(db_.prepare("PRAGMA user_version"));
  TRY(stmt.step());
  version_ = static_cast<int>(stmt.int64(0));
  const auto& all = migrations();
  if (version_ > static_cast<int>(all.size())) {
    return Error::Unprocessable(fmt::format("database schema version {} is newer than this orield ({}): upgrade orield",
                                            version_, all.size()));
  }
  for (size_t v = static_cast<size_t>(version_); v < all.size(); ++v) {
    // Each migration and its version bump commit together or not at all.
    auto applied = db_.exec(fmt::format("BEGIN IMMEDIATE; {} PRAGMA user_version={}; COMMIT;", all[v], v + 1));
    if (!applied.ok()) {
      (void)db_.exec("ROLLBACK");
      return applied.take_error().context(fmt::format("schema migration {}", v + 1));
    }
    version_ = static_cast<int>(v + 1);
  }
  return Ok();
}

Result<void> SqliteStore::delete_unused_image(std::string_view id) {
  std::lock_guard lock(mu_);
  auto count = TRY(db_.prepare("SELECT COUNT(*) FROM desktops WHERE image_id=?"));
  count.bind_all(id);
  TRY(count.step());
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
      "UPDATE desktops SET name=?, image_id=?, vcpus=?, memory_mb=?, host_id=?, pool_id=?, assigned_user=?, state=?, "
      "desired=?, pending_op=?, error=?, deadline_ms=?, updated_ms=?, version=version+1 WHERE id=? AND version=?"));
  stmt.bind_all(d.name, d.image_id, d.vcpus, d.memory_mb, d.host_id, d.pool_id, d.assigned_user, d.state, d.desired,
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

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  auto db = TRY(SqliteDb::open(path));
  auto store = std::make_unique<SqliteStore>(std::move(db));
  TRY(store->migrate());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace oriel::store
