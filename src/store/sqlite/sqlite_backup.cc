// Copies of a live SQLite store for `orield backup` and `orield restore`.
#include <sqlite3.h>

#include <filesystem>

#include "migrations.h"
#include "oriel/store/store.h"

namespace oriel::store {
namespace {

// A connection that closes itself.
class Connection {
 public:
  static Result<Connection> open(const std::string& path, int flags) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    Connection owned(db);
    if (rc != SQLITE_OK) {
      return Error::Unavailable(fmt::format("cannot open {}: {}", path, db ? sqlite3_errmsg(db) : "out of memory"));
    }
    sqlite3_busy_timeout(db, 10000);  // a writer's checkpoint may hold it briefly
    return owned;
  }
  Connection(Connection&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Connection(const Connection&) = delete;
  ~Connection() { sqlite3_close_v2(db_); }
  sqlite3* get() const { return db_; }

  Result<void> exec(const std::string& sql) const {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string text = msg ? msg : sqlite3_errmsg(db_);
      sqlite3_free(msg);
      return Error::Internal(fmt::format("sqlite: {}", text));
    }
    return Ok();
  }
  // The first column of the first row of `sql`, as text.
  Result<std::string> value(const std::string& sql) const {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      return Error::InvalidArgument(fmt::format("not an Oriel database: {}", sqlite3_errmsg(db_)));
    }
    std::string out;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return Error::InvalidArgument(fmt::format("not an Oriel database: {}", sqlite3_errmsg(db_)));
    }
    return out;
  }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

std::string sql_literal(const std::string& text) {
  char* q = sqlite3_mprintf("%Q", text.c_str());
  std::string out = q ? q : "''";
  sqlite3_free(q);
  return out;
}

}  // namespace

int latest_schema_version() { return static_cast<int>(migrations().size()); }

Result<DatabaseCopy> backup_sqlite_database(const std::string& from, const std::string& to) {
  if (!std::filesystem::exists(from)) return Error::NotFound("database", from);
  auto source = TRY(Connection::open(from, SQLITE_OPEN_READONLY));
  auto target = TRY(Connection::open(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  sqlite3_backup* backup = sqlite3_backup_init(target.get(), "main", source.get(), "main");
  if (backup == nullptr) return Error::Internal(fmt::format("backup of {}: {}", from, sqlite3_errmsg(target.get())));
  // All pages in one step: one read transaction, so the copy is one moment
  // of the database while orield goes on writing (WAL: readers and the
  // writer do not wait for each other).
  int rc = sqlite3_backup_step(backup, -1);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) {
    return Error::Unavailable(fmt::format("backup of {}: {}", from, sqlite3_errstr(rc)));
  }
  // The copy is one self-contained file.
  TRY(target.exec("PRAGMA journal_mode=DELETE"));
  return inspect_sqlite_database(to);
}

Result<DatabaseCopy> inspect_sqlite_database(const std::string& path) {
  auto db = TRY(Connection::open(path, SQLITE_OPEN_READONLY));
  std::string check = TRY(db.value("PRAGMA quick_check"));
  if (check != "ok") return Error::InvalidArgument(fmt::format("{} is damaged: {}", path, check));
  std::string tables = TRY(db.value("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='desktops'"));
  if (tables != "1") return Error::InvalidArgument(fmt::format("{} is not an Oriel database", path));
  DatabaseCopy copy;
  std::string version = TRY(db.value("PRAGMA user_version"));
  copy.schema_version = std::stoi(version);
  copy.bytes = std::filesystem::file_size(path);
  copy.images_json = TRY(db.value("SELECT json_group_array(json_object('id', id, 'name', name, 'path', path, "
                                  "'state', state)) FROM images"));
  return copy;
}

Result<int64_t> rebase_sqlite_image_paths(const std::string& path, const std::string& from_dir,
                                          const std::string& to_dir) {
  auto db = TRY(Connection::open(path, SQLITE_OPEN_READWRITE));
  std::string prefix = from_dir + "/";
  TRY(db.exec(fmt::format("UPDATE images SET path = {} || substr(path, {}) WHERE substr(path, 1, {}) = {}",
                          sql_literal(to_dir + "/"), prefix.size() + 1, prefix.size(), sql_literal(prefix))));
  return sqlite3_changes64(db.get());
}

}  // namespace oriel::store
