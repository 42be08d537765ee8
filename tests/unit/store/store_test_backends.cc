#include "store_test_backends.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

namespace oriel::test_support {
namespace {

namespace fs = std::filesystem;

class SqliteTestDatabase final : public TestDatabase {
 public:
  SqliteTestDatabase() : TestDatabase(Backend::kSqlite) {
    static std::atomic<int> next = 0;
    dir_ = fs::temp_directory_path() / fmt::format("oriel-store-{}-{}", ::getpid(), ++next);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~SqliteTestDatabase() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Result<std::unique_ptr<store::Store>> open() override { return store::open_sqlite_store(path()); }

  Result<Rows> query(const std::string& sql) override {
    sqlite3* db = nullptr;
    int rc = sqlite3_open(path().c_str(), &db);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> owned(db, sqlite3_close);
    if (rc != SQLITE_OK) return Error::Internal(fmt::format("sqlite open: {}", sqlite3_errmsg(db)));
    Rows rows;
    char* message = nullptr;
    rc = sqlite3_exec(
        db, sql.c_str(),
        [](void* out, int n, char** values, char**) {
          auto& row = static_cast<Rows*>(out)->emplace_back();
          for (int i = 0; i < n; ++i) row.emplace_back(values[i] ? values[i] : "");
          return 0;
        },
        &rows, &message);
    if (rc != SQLITE_OK) {
      std::string text = message ? message : "unknown error";
      sqlite3_free(message);
      return Error::Internal(fmt::format("sqlite: {}", text));
    }
    return rows;
  }

  Result<void> set_schema_version(int version) override { return exec(fmt::format("PRAGMA user_version={}", version)); }
  std::string location() const override { return path(); }

 private:
  std::string path() const { return (dir_ / "oriel.db").string(); }
  fs::path dir_;
};

// A schema of its own in the shared test database.
class PgTestDatabase final : public TestDatabase {
 public:
  PgTestDatabase(PgTestServer& server, std::string schema)
      : TestDatabase(Backend::kPostgres), server_(server), schema_(std::move(schema)) {}
  ~PgTestDatabase() override { (void)server_.drop_schema(schema_); }

  Result<std::unique_ptr<store::Store>> open() override { return store::open_postgres_store(location()); }
  Result<Rows> query(const std::string& sql) override { return server_.query(location(), sql); }
  Result<void> set_schema_version(int version) override {
    return exec(fmt::format("UPDATE oriel_schema SET version={}", version));
  }
  std::string location() const override { return server_.conninfo(PgTestServer::kDatabase, schema_); }

 private:
  PgTestServer& server_;
  std::string schema_;
};

}  // namespace

Result<std::unique_ptr<TestDatabase>> TestDatabase::create(Backend backend) {
  if (backend == Backend::kSqlite) return std::unique_ptr<TestDatabase>(new SqliteTestDatabase());
  auto server = PgTestServer::shared();
  if (!server.ok()) return server.error().context("the PostgreSQL test server cannot start");
  auto name = TRY((*server)->create_schema());
  return std::unique_ptr<TestDatabase>(new PgTestDatabase(**server, std::move(name)));
}

}  // namespace oriel::test_support
