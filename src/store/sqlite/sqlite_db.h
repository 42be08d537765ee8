// A thin RAII layer over the SQLite C API: a connection and prepared
// statements. Statements are cached by their SQL text: parsing costs more than
// running most of ours, and a logon runs about ten. Not thread-safe; the
// SQLite backend serializes access.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "oriel/common/result.h"
#include "sql/sql.h"

namespace oriel::store {

// A prepared statement, and the row it stands on after step() returned true.
class SqliteStatement final : public sql::Row {
 public:
  // `in_use` is the cache's flag for this statement, or null for one the
  // statement owns (finalized at the end instead of reset for reuse).
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, bool* in_use = nullptr) : db_(db), stmt_(stmt), in_use_(in_use) {}
  SqliteStatement(SqliteStatement&& other) noexcept : db_(other.db_), stmt_(other.stmt_), in_use_(other.in_use_) {
    other.stmt_ = nullptr;
  }
  SqliteStatement(const SqliteStatement&) = delete;
  ~SqliteStatement() {
    if (!stmt_) return;
    if (!in_use_) {
      sqlite3_finalize(stmt_);
      return;
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
  }

  // Binds parameter i (1-based).
  void bind(int i, const sql::Param& p);

  // Steps once: true if a row is available, false when done.
  Result<bool> step();
  // True for a statement that writes nothing (a query).
  bool readonly() const { return sqlite3_stmt_readonly(stmt_) != 0; }

  std::string text(int col) const override;
  int64_t int64(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const override { return sqlite3_column_double(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool* in_use_;
};

class SqliteDb {
 public:
  // Opens (creating) the database: WAL journal, foreign keys on, and the
  // collation "C" the store's statements order text by: byte order, as
  // SQLite's own BINARY.
  static Result<SqliteDb> open(const std::string& path);
  // Opens the file as it is, with `flags` (SQLITE_OPEN_READONLY, or
  // READWRITE with or without CREATE) and no journal mode or pragma set:
  // for copies of a store (sqlite_backup.cc).
  static Result<SqliteDb> open_file(const std::string& path, int flags);
  sqlite3* handle() const { return db_; }
  SqliteDb(SqliteDb&& other) noexcept : db_(other.db_), cache_(std::move(other.cache_)) { other.db_ = nullptr; }
  SqliteDb(const SqliteDb&) = delete;
  ~SqliteDb() {
    for (auto& [sql, cached] : cache_) sqlite3_finalize(cached->stmt);
    sqlite3_close_v2(db_);
  }

  // A statement with parameters $1..$N (PostgreSQL's spelling, as the store
  // writes them): SQLite's ?1..?N.
  Result<SqliteStatement> prepare(std::string_view sql);
  Result<void> exec(std::string_view sql);  // one or more statements, no parameters
  int changes() const { return sqlite3_changes(db_); }
  Error error(std::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;  // a statement still alive holds it: the next gets its own
  };
  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<Cached>> cache_;  // by the text given to prepare()
};

}  // namespace oriel::store
