#include "sqlite/sqlite_db.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace oriel::store {
namespace {

// "$n" outside quotes becomes "?n": SQLite reads "$n" as a parameter named
// "$n", numbered in order of first use, where "?n" is parameter n.
std::string sqlite_parameters(std::string_view sql) {
  std::string out(sql);
  char quote = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '$' && i + 1 < out.size() && std::isdigit(static_cast<unsigned char>(out[i + 1]))) {
      out[i] = '?';
    }
  }
  return out;
}

// The collation "C": bytes compared as unsigned, the shorter first on a tie,
// which is how SQLite's BINARY orders.
int compare_bytes(void*, int a_size, const void* a, int b_size, const void* b) {
  int common = std::min(a_size, b_size);
  if (int r = common > 0 ? std::memcmp(a, b, static_cast<size_t>(common)) : 0; r != 0) return r;
  return (a_size > b_size) - (a_size < b_size);
}

}  // namespace

void SqliteStatement::bind(int i, const sql::Param& p) {
  if (const auto* text = std::get_if<std::string_view>(&p.value())) {
    sqlite3_bind_text(stmt_, i, text->data(), static_cast<int>(text->size()), SQLITE_TRANSIENT);
  } else if (const auto* integer = std::get_if<int64_t>(&p.value())) {
    sqlite3_bind_int64(stmt_, i, *integer);
  } else {
    sqlite3_bind_double(stmt_, i, std::get<double>(p.value()));
  }
}

Result<bool> SqliteStatement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if (rc == SQLITE_CONSTRAINT) {
    return Error::Conflict(fmt::format("constraint violated: {}", sqlite3_errmsg(db_)));
  }
  return Error::Internal(fmt::format("sqlite step: {}", sqlite3_errmsg(db_)));
}

std::string SqliteStatement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

Result<SqliteDb> SqliteDb::open(const std::string& path) {
  auto owned = TRY(open_file(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  TRY(owned.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
  return owned;
}

Result<SqliteDb> SqliteDb::open_file(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDb owned(db);
  if (rc != SQLITE_OK) {
    return Error::Unavailable(
        fmt::format("cannot open database {}: {}", path, db ? sqlite3_errmsg(db) : "out of memory"));
  }
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_create_collation_v2(db, "C", SQLITE_UTF8, nullptr, compare_bytes, nullptr) != SQLITE_OK) {
    return owned.error("collation");
  }
  return owned;
}

Result<SqliteStatement> SqliteDb::prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end() && !it->second->in_use) {
    it->second->in_use = true;
    return SqliteStatement(db_, it->second->stmt, &it->second->in_use);
  }
  const std::string native = sqlite_parameters(sql);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, native.data(), static_cast<int>(native.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK) {
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
