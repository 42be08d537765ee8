// Versioned schema migrations: one list for every backend. Migration N
// (1-based) brings the schema from version N-1 to N on SQLite and on
// PostgreSQL alike, so schema_version() means the same on both. Most of the
// SQL is portable; where the dialects differ (an auto-increment key,
// triggers) a migration carries one part per backend, run after its portable
// part in the same transaction. Never edit a released migration; add a new one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace oriel::store {

enum class Dialect { kSqlite, kPostgres };

struct Migration {
  std::string_view portable;  // runs on every backend, first
  std::string_view sqlite;    // then this, on SQLite only
  std::string_view postgres;  // or this, on PostgreSQL only
};

const std::vector<Migration>& migrations();

// The whole of migration `m` for `dialect`: one or more statements.
std::string migration_sql(const Migration& m, Dialect dialect);

}  // namespace oriel::store
