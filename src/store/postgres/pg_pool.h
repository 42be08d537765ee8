// Connections to PostgreSQL for the store (internal). A libpqxx connection
// serves one thread at a time and the controller calls the store from
// several, so PgPool lends each call a connection of its own: it opens up to
// kMaxConnections and keeps the idle ones for the next call.
//
// A lost connection (the server restarted, the network cut, the backend
// terminated) is never reused: it is closed together with every idle one
// (they most likely went with the same server) and later calls connect
// afresh. A call whose pooled connection turns out dead before anything
// could be committed runs once more on a new connection, so a server restart
// costs the caller nothing; while the server is away, calls fail with
// Unavailable. Exceptions from libpqxx end here: run() turns them into
// Result errors.
//
// Thread-safe. A session-level advisory lock (the controllers' leader lock,
// kLeaderLockKey) belongs to one connection for as long as it is held:
// connect() opens such a connection outside the pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/common/mutex.h"
#include "oriel/common/result.h"

namespace oriel::store {

// Advisory lock keys (pg_advisory_lock) are one bigint space per database:
// Oriel's start with "orie".
inline constexpr int64_t kMigrationLockKey = 0x6f72'6965'0000'0001;
inline constexpr int64_t kLeaderLockKey = 0x6f72'6965'0000'0002;  // the controllers' leader

// A libpq connection string (key=value pairs or a postgresql:// URI) in
// key=value form, with Oriel's defaults where it is silent: a connect
// timeout, TCP keepalives (a dead server is noticed), UTF-8.
Result<std::string> normalize_conninfo(const std::string& conninfo);

// The error a libpqxx exception stands for: Unavailable when the server is
// unreachable or the connection was lost, Conflict for a violated constraint,
// a serialization failure or a deadlock, InvalidArgument for data PostgreSQL
// refuses, Internal otherwise.
Error pg_error(const std::exception& e);

class PgPool {
 public:
  static constexpr size_t kMaxConnections = 8;
  static constexpr std::chrono::seconds kAcquireTimeout{10};

  explicit PgPool(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  PgPool(const PgPool&) = delete;

  // A connection of the caller's own, outside the pool.
  Result<std::unique_ptr<pqxx::connection>> connect() const;

  // Runs fn(tx) in a transaction of type Tx (pqxx::work, or
  // pqxx::nontransaction for a single read) and commits it if fn returns a
  // value; an error or an exception rolls it back. READ COMMITTED: each
  // statement sees what was committed when it started, and an UPDATE that
  // waited for a concurrent one re-checks its WHERE on the new row, which is
  // what makes `WHERE version=$n` a compare-and-swap.
  template <typename T, typename Tx, typename Fn>
  Result<T> run(Fn&& fn) {
    for (int attempt = 0;; ++attempt) {
      Lease lease = TRY(acquire());
      bool again = false;
      try {
        Tx tx(lease.conn());
        Result<T> r = fn(tx);
        if (r.ok()) {
          tx.commit();
        } else {
          tx.abort();
        }
        return r;
      } catch (const std::exception& e) {
        Error error = failed(lease, e, attempt == 0, again);
        if (!again) return error;
      }
    }
  }

 private:
  // A pooled connection lent to one call; back to the pool at the end,
  // unless it broke.
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<pqxx::connection> conn, bool reused)
        : pool_(pool), conn_(std::move(conn)), reused_(reused) {}
    Lease(Lease&& other) noexcept = default;
    Lease(const Lease&) = delete;
    ~Lease() {
      if (conn_) pool_->give_back(std::move(conn_), !broken_);
    }
    pqxx::connection& conn() { return *conn_; }
    bool reused() const { return reused_; }
    void set_broken() { broken_ = true; }

   private:
    PgPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    bool reused_;
    bool broken_ = false;
  };

  Result<Lease> acquire();
  void give_back(std::unique_ptr<pqxx::connection> conn, bool healthy);
  void drop_idle();
  // The error for a call that threw; sets `again` when the call may run once
  // more on a fresh connection (its pooled one was dead, nothing committed).
  Error failed(Lease& lease, const std::exception& e, bool first_attempt, bool& again);

  const std::string conninfo_;
  Mutex mu_;
  CondVar cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ORIEL_GUARDED_BY(mu_);
  size_t open_ ORIEL_GUARDED_BY(mu_) = 0;  // idle and lent
};

}  // namespace oriel::store
