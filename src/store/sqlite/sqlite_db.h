// A thin RAII layer over the SQLite C API: a connection and prepared
// statements. Statements are cached by their SQL text: parsing costs more than
// running most of ours, and a logon runs about ten. Not thread-safe;
// SqliteStore serializes access.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <string_view>

#include "oriel/common/result.h"

namespace oriel::store {

class SqliteStatement {
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

  // Binds parameters 1..N in order.
  template <typename... Args>
  SqliteStatement& bind_all(const Args&... args) {
    int i = 1;
    (bind(i++, args), ...);
    return *this;
  }
  void bind(int i, std::string_view v) { sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
  void bind(int i, const std::string& v) { bind(i, std::string_view(v)); }
  void bind(int i, const char* v) { bind(i, std::string_view(v)); }
  void bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, int v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }

  // Steps once: true if a row is available, false when done.
  Result<bool> step();
  // Runs to completion, ignoring rows.
  Result<void> run();

  std::string text(int col) const;
  int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool* in_use_;
};

class SqliteDb {
 public:
  static Result<SqliteDb> open(const std::string& path);
  SqliteDb(SqliteDb&& other) noexcept : db_(other.db_), cache_(std::move(other.cache_)) { other.db_ = nullptr; }
  SqliteDb(const SqliteDb&) = delete;
  ~SqliteDb() {
    for (auto& [sql, cached] : cache_) sqlite3_finalize(cached->stmt);
    sqlite3_close_v2(db_);
  }

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
  std::unordered_map<std::string, std::unique_ptr<Cached>> cache_;
};

}  // namespace oriel::store
