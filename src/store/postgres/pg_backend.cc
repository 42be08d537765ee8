// The SQL core's backend on PostgreSQL, for installations where several
// controllers share one database, and open_postgres_store. Each transaction
// runs on a pooled connection (pg_pool.h) at READ COMMITTED; a read alone is
// a pqxx::nontransaction, anything that writes a pqxx::work. Row and table
// locks are taken as the core asks (Tx::take_locks). The schema version is
// kept in a table of its own, read under a transaction-level advisory lock;
// leadership is a session-level advisory lock on a connection of its own.
// libpqxx's exceptions end here: every one becomes a Result error.
#include <charconv>

#include "oriel/common/log.h"
#include "oriel/common/mutex.h"
#include "postgres/pg_pool.h"
#include "sql/rows.h"
#include "sql/sql_store.h"

namespace oriel::store {
namespace {

// A row of a pqxx::result. Numbers are parsed without throwing: a column
// that is not one (a broken invariant: the core reads the columns it
// selected) reads as 0 and marks the row bad.
class PgRow final : public sql::Row {
 public:
  explicit PgRow(const pqxx::row& row) : row_(row) {}

  std::string text(int col) const override { return std::string(row_[col].c_str(), row_[col].size()); }
  int64_t int64(int col) const override { return parse<int64_t>(col); }
  double real(int col) const override { return parse<double>(col); }
  bool bad() const { return bad_; }

 private:
  template <typename T>
  T parse(int col) const {
    const pqxx::field field = row_[col];
    T value{};
    auto [end, error] = std::from_chars(field.c_str(), field.c_str() + field.size(), value);
    if (error != std::errc() || end != field.c_str() + field.size()) bad_ = true;
    return value;
  }

  const pqxx::row& row_;
  mutable bool bad_ = false;
};

// Parameters go as text, as libpqxx sends every parameter; PostgreSQL types
// them from the statement. libpqxx passes a string only up to its first NUL
// byte, and PostgreSQL text cannot hold one: such text is refused
// (InvalidArgument) rather than silently cut.
Result<std::vector<std::string>> pg_params(std::span<const sql::Param> params) {
  std::vector<std::string> out;
  out.reserve(params.size());
  for (const auto& p : params) {
    if (const auto* text = std::get_if<std::string_view>(&p.value())) {
      if (text->find('\0') != std::string_view::npos) {
        return Error::InvalidArgument("text with a NUL byte cannot be stored");
      }
      out.emplace_back(*text);
    } else if (const auto* integer = std::get_if<int64_t>(&p.value())) {
      out.push_back(std::to_string(*integer));
    } else {
      out.push_back(pqxx::to_string(std::get<double>(p.value())));
    }
  }
  return out;
}

// Statements on one pqxx transaction. A statement that throws leaves its
// exception here (failure()), for PgBackend to hand it on to the pool, which
// decides what it means (a lost connection: run the call again?) as it does
// for a failed commit.
class PgTx final : public sql::Tx {
 public:
  explicit PgTx(pqxx::transaction_base& tx) : tx_(tx) {}

  Result<int64_t> run(std::string_view sql, std::span<const sql::Param> params, sql::RowFn on_row) override {
    auto text = TRY(pg_params(params));
    try {
      pqxx::result rows = tx_.exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(text));
      for (const auto& row : rows) {
        PgRow read(row);
        on_row(read);
        if (read.bad()) return Error::Internal(fmt::format("PostgreSQL returned a non-number to read as one: {}", sql));
      }
      return static_cast<int64_t>(rows.affected_rows());
    } catch (const std::exception& e) {
      return failed(e);
    }
  }
  Result<void> run_script(std::string_view sql) override {
    try {
      tx_.exec(std::string(sql));
      return Ok();
    } catch (const std::exception& e) {
      return failed(e);
    }
  }
  Result<void> take_locks(std::string_view sql, std::span<const sql::Param> params) override {
    TRY(run(sql, params, [](const sql::Row&) {}));
    return Ok();
  }

  std::exception_ptr failure() const { return failure_; }

 private:
  Error failed(const std::exception& e) {
    if (!failure_) failure_ = std::current_exception();
    return pg_error(e);
  }

  pqxx::transaction_base& tx_;
  std::exception_ptr failure_;  // the first exception a statement threw
};

class PgBackend final : public sql::Backend {
 public:
  explicit PgBackend(std::string conninfo) : pool_(std::move(conninfo)) {}

  Result<void> transaction(sql::Access access, sql::TxFn fn) override {
    auto body = [&](pqxx::transaction_base& tx) -> Result<void> {
      PgTx sql_tx(tx);
      Result<void> r = fn(sql_tx);
      // Thrown on, inside the pool's run: its exception decides, as if the
      // statement had thrown there.
      if (auto failure = sql_tx.failure()) std::rethrow_exception(failure);
      return r;
    };
    if (access == sql::Access::kRead) return pool_.run<void, pqxx::nontransaction>(body);
    return pool_.run<void, pqxx::work>(body);
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  Result<int> schema_version(sql::Tx& tx) override;
  Result<void> set_schema_version(sql::Tx& tx, int version) override {
    TRY(tx.exec("UPDATE oriel_schema SET version=$1", version));
    return Ok();
  }

  bool hold_leadership() override;
  void release_leadership() override {
    MutexLock lock(leader_mu_);
    leader_.reset();  // closing the session releases the lock
  }

 private:
  PgPool pool_;
  Mutex leader_mu_;
  std::unique_ptr<pqxx::connection> leader_ ORIEL_GUARDED_BY(leader_mu_);  // holds kLeaderLockKey while set
};

Result<int> PgBackend::schema_version(sql::Tx& tx) {
  // Held to the end of the migration's transaction: controllers starting
  // together on one database read the version and migrate one after the other.
  TRY(tx.exec("SELECT pg_advisory_xact_lock($1::bigint)", kMigrationLockKey));
  // The version lives in a table of its own, as SQLite keeps it in PRAGMA user_version.
  auto missing = TRY(tx.first<int64_t>("SELECT CAST(to_regclass('oriel_schema') IS NULL AS INTEGER)", read_int));
  if (missing.value_or(0) != 0) {
    TRY(tx.run_script("CREATE TABLE oriel_schema (version INTEGER NOT NULL); INSERT INTO oriel_schema VALUES (0)"));
  }
  auto versions = TRY(tx.rows<int64_t>("SELECT version FROM oriel_schema", read_int));
  if (versions.size() != 1) return Error::Internal("oriel_schema must hold exactly one row");
  return static_cast<int>(versions[0]);
}

bool PgBackend::hold_leadership() {
  MutexLock lock(leader_mu_);
  try {
    if (leader_) {
      // Still ours while the session lives; a query proves it does.
      pqxx::nontransaction tx(*leader_);
      tx.exec("SELECT 1");
      return true;
    }
    auto c = pool_.connect();
    if (!c.ok()) return false;
    bool got = false;
    {
      pqxx::nontransaction tx(**c);
      got = tx.exec_params("SELECT pg_try_advisory_lock($1::bigint)", kLeaderLockKey)[0][0].as<bool>();
    }
    if (got) leader_ = std::move(*c);
    return got;
  } catch (const std::exception& e) {
    // The connection failed: the server ended the session, and the lock with it.
    spdlog::warn("store: the leader lock's connection failed: {}", pg_error(e).message());
    leader_.reset();
    return false;
  }
}

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& conninfo) {
  auto normalized = TRY(normalize_conninfo(conninfo));
  auto store = std::make_unique<SqlStore>(std::make_unique<PgBackend>(std::move(normalized)));
  TRY(store->migrate());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace oriel::store
