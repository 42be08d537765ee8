// Copies of a live SQLite store for `orield backup` and `orield restore`.
#include <sqlite3.h>

#include <filesystem>

#include "migrations.h"
#include "oriel/store/store.h"
#include "sqlite/sqlite_db.h"

namespace oriel::store {
namespace {

// The first column of the first row of `sql` (no parameters), as text.
// Whatever SQLite cannot read makes the file not an Oriel database.
Result<std::string> first_value(SqliteDb& db, const std::string& path, std::string_view sql) {
  auto not_ours = [&](const Error& e) {
    return Error::InvalidArgument(fmt::format("{} is not an Oriel database: {}", path, e.message()));
  };
  auto stmt = db.prepare(sql);
  if (!stmt.ok()) return not_ours(stmt.error());
  auto row = stmt->step();
  if (!row.ok()) return not_ours(row.error());
  return *row ? stmt->text(0) : std::string();
}

}  // namespace

int latest_schema_version() { return static_cast<int>(migrations().size()); }

Result<DatabaseCopy> backup_sqlite_database(const std::string& from, const std::string& to) {
  if (!std::filesystem::exists(from)) return Error::NotFound("database", from);
  auto source = TRY(SqliteDb::open_file(from, SQLITE_OPEN_READONLY));
  auto target = TRY(SqliteDb::open_file(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  sqlite3_backup* backup = sqlite3_backup_init(target.handle(), "main", source.handle(), "main");
  if (backup == nullptr) return target.error(fmt::format("backup of {}", from));
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
  auto db = TRY(SqliteDb::open_file(path, SQLITE_OPEN_READONLY));
  std::string check = TRY(first_value(db, path, "PRAGMA quick_check"));
  if (check != "ok") return Error::InvalidArgument(fmt::format("{} is damaged: {}", path, check));
  std::string tables =
      TRY(first_value(db, path, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='desktops'"));
  if (tables != "1") return Error::InvalidArgument(fmt::format("{} is not an Oriel database", path));
  DatabaseCopy copy;
  std::string version = TRY(first_value(db, path, "PRAGMA user_version"));
  copy.schema_version = std::stoi(version);
  copy.bytes = std::filesystem::file_size(path);
  copy.images_json = TRY(first_value(db, path,
                                     "SELECT json_group_array(json_object('id', id, 'name', name, 'path', path, "
                                     "'state', state)) FROM images"));
  return copy;
}

Result<int64_t> rebase_sqlite_image_paths(const std::string& path, const std::string& from_dir,
                                          const std::string& to_dir) {
  auto db = TRY(SqliteDb::open_file(path, SQLITE_OPEN_READWRITE));
  const std::string from = from_dir + "/", to = to_dir + "/";
  auto stmt = TRY(db.prepare("UPDATE images SET path = $1 || substr(path, length($2) + 1) WHERE substr(path, 1, "
                             "length($2)) = $2"));
  stmt.bind(1, to);
  stmt.bind(2, from);
  TRY(stmt.step());
  return db.changes();
}

}  // namespace oriel::store
