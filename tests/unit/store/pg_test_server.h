// A throwaway PostgreSQL server for tests: initdb into a temp dir, listening
// on 127.0.0.1 only, on a free port, and on a unix socket in that dir; fsync
// off; started with pg_ctl; stopped and removed when destroyed. PostgreSQL
// refuses to run as root, so as root (CI, the developers' machines) the
// server runs as the `postgres` user the package made, and the temp dir is
// theirs. Clients log in over TCP with a random password. The server speaks
// TLS too, with a certificate for localhost and 127.0.0.1 from a CA of its
// own (ca_file()); conninfo() connects in clear, tls_conninfo() with
// sslmode=verify-full, as a production controller would.
//
// Each test takes a schema of its own (create_schema) in a database the
// tests of the process share, on the one server they share (shared()): a
// CREATE SCHEMA costs a millisecond, a CREATE DATABASE a hundred or more, an
// initdb a second or two. A test that needs a whole new database (a first
// migration racing itself) makes one with create_database.
//
// Thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "oriel/common/result.h"

namespace oriel::test_support {

using Rows = std::vector<std::vector<std::string>>;  // query results as text; NULL as ""

class PgTestServer {
 public:
  // The server of this test process, started on first use and stopped at
  // exit. When it cannot start (no PostgreSQL installed, initdb failed) every
  // call returns that error, for each PostgreSQL test to fail with it: a
  // missing server is a broken setup, never a reason to skip.
  static Result<PgTestServer*> shared();
  // A server of the caller's own.
  static Result<std::unique_ptr<PgTestServer>> start();
  ~PgTestServer();
  PgTestServer(const PgTestServer&) = delete;

  static constexpr const char* kDatabase = "oriel";  // the database the schemas are made in

  // A libpq connection string for `dbname`, over TCP on loopback. With a
  // schema, unqualified names are that schema's (search_path).
  std::string conninfo(const std::string& dbname, const std::string& schema = "") const;
  // The same over TLS: sslmode=verify-full against ca_file(), the server
  // named `host_name` (its certificate says "localhost").
  std::string tls_conninfo(const std::string& dbname, const std::string& schema = "",
                           const std::string& host_name = "localhost") const;
  // The PEM file of the CA that signed the server's certificate.
  std::filesystem::path ca_file() const { return dir_ / "root.crt"; }
  // A new empty schema in kDatabase; its name.
  Result<std::string> create_schema();
  Result<void> drop_schema(const std::string& name);
  // A new empty database; its name.
  Result<std::string> create_database();
  Result<void> drop_database(const std::string& name);
  // Runs SQL (one or more statements) as the superuser, on a connection
  // kept per conninfo for the next query.
  Result<Rows> query(const std::string& conninfo, const std::string& sql);

  // Fault injection. stop() is a fast shutdown: every client is cut off.
  Result<void> stop();
  Result<void> start_again();  // same port, same data
  bool running() const {
    std::lock_guard lock(mu_);
    return running_;
  }
  Result<void> restart() {
    if (auto stopped = stop(); !stopped.ok()) return stopped;
    return start_again();
  }

 private:
  PgTestServer() = default;
  Result<void> init();
  Result<void> make_certificates();  // server.crt/server.key in data/, root.crt in dir_
  // "HOST port=… dbname=… user=… password=… SSL" (and the schema's search_path).
  std::string conninfo_with(const std::string& host, const std::string& ssl, const std::string& dbname,
                            const std::string& schema) const;
  Result<void> launch();  // pg_ctl start on a free port
  // Stops and removes the servers of test processes that died without
  // cleaning up (killed by a timeout, crashed).
  void remove_stale() const;
  // Runs a PostgreSQL program (in bindir_) as the server's user.
  Result<std::string> run(const std::string& program, std::vector<std::string> args) const;
  std::string log_tail() const;

  std::filesystem::path bindir_;
  std::filesystem::path dir_;         // the socket, the log; data/ holds the cluster
  std::vector<std::string> as_user_;  // the argv prefix that drops root, if root
  unsigned uid_ = 0, gid_ = 0;
  std::string password_;
  int port_ = 0;
  mutable std::mutex mu_;
  bool running_ = false;                                            // GUARDED_BY(mu_)
  int names_ = 0;                                                   // GUARDED_BY(mu_): for schemas and databases
  std::map<std::string, std::unique_ptr<pqxx::connection>> conns_;  // GUARDED_BY(mu_), by conninfo
};

}  // namespace oriel::test_support
