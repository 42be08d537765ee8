// The SQL core's backend on SQLite, and open_sqlite_store. One connection
// behind a mutex: SQLite serializes writers anyway, and every statement is
// short. A write transaction is BEGIN IMMEDIATE: it holds the database from
// its start, so it needs no row or table locks (Tx::take_locks does nothing).
// A single statement runs as it is, atomic by itself.
// The schema version is the database's PRAGMA user_version. One orield per
// database file, so it always leads.

#include "oriel/common/mutex.h"
#include "sql/rows.h"
#include "sql/sql_store.h"
#include "sqlite/sqlite_db.h"

namespace oriel::store {
namespace {

// Statements on the one connection, while SqliteBackend::transaction holds
// its mutex.
class SqliteTx final : public sql::Tx {
 public:
  explicit SqliteTx(SqliteDb& db) : db_(db) {}

  Result<int64_t> run(std::string_view sql, std::span<const sql::Param> params, sql::RowFn on_row) override {
    auto stmt = TRY(db_.prepare(sql));
    for (size_t i = 0; i < params.size(); ++i) stmt.bind(static_cast<int>(i + 1), params[i]);
    int64_t rows = 0;
    while (TRY(stmt.step())) {
      ++rows;
      on_row(stmt);
    }
    return stmt.readonly() ? rows : db_.changes();
  }
  Result<void> run_script(std::string_view sql) override { return db_.exec(sql); }
  Result<void> take_locks(std::string_view, std::span<const sql::Param>) override { return Ok(); }

 private:
  SqliteDb& db_;
};

class SqliteBackend final : public sql::Backend {
 public:
  explicit SqliteBackend(SqliteDb db) : db_(std::move(db)) {}

  Result<void> transaction(sql::Access access, sql::TxFn fn) override {
    MutexLock lock(mu_);
    SqliteTx tx(db_);
    // One connection: nothing changes under the reads; one statement is
    // atomic by itself, and an explicit transaction would make it slower.
    if (access != sql::Access::kWrite) return fn(tx);
    TRY(tx.exec("BEGIN IMMEDIATE"));
    Result<void> r = fn(tx);
    if (r.ok()) {
      if (auto committed = tx.exec("COMMIT"); !committed.ok()) r = committed.take_error();
    }
    if (!r.ok()) (void)db_.exec("ROLLBACK");
    return r;
  }

  Dialect dialect() const override { return Dialect::kSqlite; }
  Result<int> schema_version(sql::Tx& tx) override {
    auto version = TRY(tx.first<int64_t>("PRAGMA user_version", read_int));
    return static_cast<int>(version.value_or(0));
  }
  Result<void> set_schema_version(sql::Tx& tx, int version) override {
    return tx.run_script(fmt::format("PRAGMA user_version={}", version));
  }

  bool hold_leadership() override { return true; }
  void release_leadership() override {}

 private:
  Mutex mu_;
  SqliteDb db_ ORIEL_GUARDED_BY(mu_);
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  auto db = TRY(SqliteDb::open(path));
  auto store = std::make_unique<SqlStore>(std::make_unique<SqliteBackend>(std::move(db)));
  TRY(store->migrate());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace oriel::store
