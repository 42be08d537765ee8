// What the store's SQL core (sql_store.h) needs of a database (internal): a
// Backend runs a function in a transaction and lends it a Tx to run
// statements on; each row a statement returns is read through a Row.
// sqlite/ and postgres/ implement them over their driver.
//
// Statements are written once, for every backend: parameters are $1..$N
// (PostgreSQL's spelling; the SQLite backend respells them), text is ordered
// COLLATE "C" (byte order; SQLite gets a collation of that name), and only
// SQL both dialects run alike is used (ON CONFLICT, CAST, CASE).
// What still differs lives in the backends: the locks a transaction takes
// (Tx::take_locks), where the schema version is kept, leadership.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "migrations.h"
#include "oriel/common/clock.h"
#include "oriel/common/result.h"

namespace oriel::store::sql {

// A borrowed callable, valid for the call it is passed to: cheaper than a
// std::function for the callbacks below, which never outlive that call.
template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
      FunctionRef(F&& f)  // NOLINT: implicit by design
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

// A statement parameter: text, an integer or a real. Text is borrowed: the
// string must outlive the statement.
class Param {
 public:
  Param(std::string_view v) : value_(v) {}  // NOLINT: implicit by design, as the ones below
  Param(const std::string& v) : value_(std::string_view(v)) {}
  Param(const char* v) : value_(std::string_view(v)) {}
  Param(int64_t v) : value_(v) {}
  Param(int v) : value_(int64_t{v}) {}
  Param(double v) : value_(v) {}
  const std::variant<std::string_view, int64_t, double>& value() const { return value_; }

 private:
  std::variant<std::string_view, int64_t, double> value_;
};

// One row of a result, its columns by position. Valid only inside the
// callback it is handed to.
class Row {
 public:
  virtual std::string text(int col) const = 0;  // as stored, NUL bytes and all
  virtual int64_t int64(int col) const = 0;
  virtual double real(int col) const = 0;
  WallTime time(int col) const { return from_unix_ms(int64(col)); }  // times are kept as Unix milliseconds

 protected:
  ~Row() = default;
};

using RowFn = FunctionRef<void(const Row&)>;

// Statements inside one transaction, lent by Backend::transaction to its
// function until that returns. After a statement failed, the transaction is
// lost: return its error.
class Tx {
 public:
  // Runs one statement with parameters $1..$N, handing each row it returns
  // to on_row. Returns the rows an INSERT, UPDATE or DELETE changed, or the
  // rows a query returned. Conflict when it breaks a constraint (a unique
  // or foreign key, the audit log's triggers).
  virtual Result<int64_t> run(std::string_view sql, std::span<const Param> params, RowFn on_row) = 0;
  // Runs statements without parameters, one after another (migrations).
  virtual Result<void> run_script(std::string_view sql) = 0;
  // Runs a statement that only takes locks (SELECT ... FOR UPDATE, LOCK
  // TABLE), holding off concurrent writers until the transaction ends, on a
  // database that needs it: PostgreSQL. A SQLite write transaction holds the
  // whole database from its start, so there it does nothing.
  virtual Result<void> take_locks(std::string_view sql, std::span<const Param> params) = 0;

  // The same, with the parameters in order: each row to on_row.
  template <typename OnRow, typename... Args>
  Result<int64_t> each(std::string_view sql, OnRow&& on_row, const Args&... args) {
    const std::array<Param, sizeof...(Args)> params{Param(args)...};
    return run(sql, params, on_row);
  }
  // Rows ignored: the rows changed.
  template <typename... Args>
  Result<int64_t> exec(std::string_view sql, const Args&... args) {
    return each(
        sql, [](const Row&) {}, args...);
  }
  template <typename... Args>
  Result<void> lock(std::string_view sql, const Args&... args) {
    const std::array<Param, sizeof...(Args)> params{Param(args)...};
    return take_locks(sql, params);
  }
  // Every row, as read(row) makes it.
  template <typename T, typename Read, typename... Args>
  Result<std::vector<T>> rows(std::string_view sql, Read read, const Args&... args) {
    std::vector<T> out;
    TRY(each(
        sql, [&](const Row& row) { out.push_back(read(row)); }, args...));
    return out;
  }
  // The first row, if any.
  template <typename T, typename Read, typename... Args>
  Result<std::optional<T>> first(std::string_view sql, Read read, const Args&... args) {
    std::optional<T> out;
    auto keep_first = [&](const Row& row) {
      if (!out) out.emplace(read(row));
    };
    TRY(each(sql, keep_first, args...));
    return out;
  }

 protected:
  ~Tx() = default;
};

enum class Access {
  kRead,       // reads only; each statement sees what was committed when it started
  kStatement,  // one statement that writes, atomic by itself: SQLite runs it as it is, PostgreSQL as
               // kWrite (cut off inside a transaction, it surely did not commit, and may run again)
  kWrite,      // all or nothing: committed when the function succeeds, rolled back when it fails
};

using TxFn = FunctionRef<Result<void>(Tx&)>;

// One database: its connection (SQLite) or pool of them (PostgreSQL), and
// what its dialect does its own way. Thread-safe.
class Backend {
 public:
  virtual ~Backend() = default;

  // Runs fn in a transaction: fn's error, the database's (Unavailable when
  // it cannot be reached, Conflict when a commit loses a race) or Ok. fn may
  // run twice: PostgreSQL runs it again on a new connection when its pooled
  // one turned out dead before anything was committed.
  virtual Result<void> transaction(Access access, TxFn fn) = 0;

  // Where the schema version is kept, read and written inside the
  // migration's own transaction (Access::kWrite). Reading it waits for any
  // other process migrating the same database.
  virtual Dialect dialect() const = 0;  // of the migrations to run (migrations.h)
  virtual Result<int> schema_version(Tx& tx) = 0;
  virtual Result<void> set_schema_version(Tx& tx, int version) = 0;

  // Store::hold_leadership and release_leadership.
  virtual bool hold_leadership() = 0;
  virtual void release_leadership() = 0;
};

// "$1,$2,...,$count": the parameters of an INSERT of `count` columns.
std::string placeholders(int count);

}  // namespace oriel::store::sql
