// Running one test against every Store backend: a GoogleTest value
// parameter (Backend) and, per test, a fresh empty database of that backend
// (TestDatabase): a SQLite file in a temp dir, or a new database on the
// process's PostgreSQL test server (pg_test_server.h).
//
//   class MyTest : public oriel::test_support::StoreBackendTest {};
//   TEST_P(MyTest, Works) { store_->... }
//   INSTANTIATE_TEST_SUITE_P(Backends, MyTest, oriel::test_support::kAllBackends, oriel::test_support::BackendName());
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>

#include "oriel/store/store.h"
#include "pg_test_server.h"

namespace oriel::test_support {

enum class Backend { kSqlite, kPostgres };

inline const auto kAllBackends = ::testing::Values(Backend::kSqlite, Backend::kPostgres);

inline std::string backend_name(Backend b) { return b == Backend::kSqlite ? "SQLite" : "PostgreSQL"; }
inline void PrintTo(Backend b, std::ostream* os) { *os << backend_name(b); }  // for GoogleTest's messages

struct BackendName {
  std::string operator()(const ::testing::TestParamInfo<Backend>& info) const { return backend_name(info.param); }
};

// One fresh database for one test; removed on destruction (after the stores
// opened on it are gone).
class TestDatabase {
 public:
  static Result<std::unique_ptr<TestDatabase>> create(Backend backend);
  virtual ~TestDatabase() = default;

  Backend backend() const { return backend_; }
  // Opens a store on the database (again: a reopen sees what was stored).
  virtual Result<std::unique_ptr<store::Store>> open() = 0;
  // Runs SQL beside the store, as its owner: to look under the store or to
  // break it (forge, tamper, fake a newer schema).
  virtual Result<Rows> query(const std::string& sql) = 0;
  Result<void> exec(const std::string& sql) {
    auto rows = query(sql);
    if (!rows.ok()) return rows.take_error();
    return Ok();
  }
  // Marks the schema as written by a newer Oriel.
  virtual Result<void> set_schema_version(int version) = 0;
  // The SQLite file, or the PostgreSQL connection string.
  virtual std::string location() const = 0;

 protected:
  explicit TestDatabase(Backend backend) : backend_(backend) {}

 private:
  Backend backend_;
};

// A test with a fresh database and a store open on it, for each backend.
class StoreBackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto db = TestDatabase::create(GetParam());
    ASSERT_TRUE(db.ok()) << db.error().message();
    db_ = std::move(db).value();
    auto store = db_->open();
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
  }
  void reopen() {
    store_.reset();
    auto store = db_->open();
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(store).value();
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace oriel::test_support
