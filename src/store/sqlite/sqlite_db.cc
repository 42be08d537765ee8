#include "sqlite/sqlite_db.h"

namespace oriel::store {

Result<bool> SqliteStatement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if (rc == SQLITE_CONSTRAINT) {
    return Error::Conflict(fmt::format("constraint violated: {}", sqlite3_errmsg(db_)));
  }
  return Error::Internal(fmt::format("sqlite step: {}", sqlite3_errmsg(db_)));
}

Result<void> SqliteStatement::run() {
  while (TRY(step())) {
  }
  return Ok();
}

std::string SqliteStatement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

Result<SqliteDb> SqliteDb::open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDb owned(db);
  if (rc != SQLITE_OK) {
    return Error::Unavailable(fmt::format("cannot open database {}: {}", path, db ? sqlite3_errmsg(db) : "out of memory"));
  }
  sqlite3_busy_timeout(db, 5000);
  TRY(owned.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
  return owned;
}

Result<SqliteStatement> SqliteDb::prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end() && !it->second->in_use) {
    it->second->in_use = true;
    return SqliteStatement(db_, it->second->stmt, &it->second->in_use);
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
      SQLITE_OK) {
    return error("prepare");
  }
  if (it != cache_.end()) return SqliteStatement(db_, stmt);  // the cached one is busy: a one-off
  auto cached = std::make_unique<Cached>();
  cached->stmt = stmt;
  cached->in_use = true;
  bool* in_use = &cached->in_use;
  cache_.emplace(std::string(sql), std::move(cached));
  return SqliteStatement(db_, stmt, in_use);
}

Result<void> SqliteDb::exec(std::string_view sql) {
  std::string owned(sql);
  char* msg = nullptr;
  if (sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return Error::Internal(fmt::format("sqlite: {}", text));
  }
  return Ok();
}

Error SqliteDb::error(std::string_view what) const {
  return Error::Internal(fmt::format("sqlite {}: {}", what, sqlite3_errmsg(db_)));
}

}  // namespace oriel::store
