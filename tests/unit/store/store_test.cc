// The Store contract, run against SQLite (PostgreSQL joins with the fleet issue).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "oriel/store/store.h"

namespace oriel::store {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("oriel-store-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::move(open_sqlite_store((dir_ / "oriel.db").string()).value());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  ImageRecord image(std::string id) {
    ImageRecord i;
    i.id = std::move(id);
    i.name = "golden";
    i.state = "ready";
    i.source_path = "/tmp/x.vhd";
    i.requested_format = "auto";
    return i;
  }
  DesktopRecord desktop(std::string id, std::string image_id) {
    DesktopRecord d;
    d.id = id;
    d.name = "desk-" + id;
    d.image_id = std::move(image_id);
    d.state = "stopped";
    d.desired = "stopped";
    return d;
  }
  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, MigratesToTheLatestVersionAndReopens) {
  int v = store_->schema_version();
  EXPECT_GE(v, 1);
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  store_.reset();
  store_ = std::move(open_sqlite_store((dir_ / "oriel.db").string()).value());
  EXPECT_EQ(store_->schema_version(), v);
  EXPECT_EQ(store_->image("i-1")->name, "golden");
}

TEST_F(StoreTest, RefusesADatabaseFromANewerVersion) {
  store_.reset();
  sqlite3* db = nullptr;
  sqlite3_open((dir_ / "oriel.db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version=999", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto reopened = open_sqlite_store((dir_ / "oriel.db").string());
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.error().message().find("newer"), std::string::npos);
}

TEST_F(StoreTest, DesktopUpdatesAreCompareAndSwap) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  ASSERT_TRUE(store_->insert_desktop(desktop("d-1", "i-1")).ok());
  auto a = store_->desktop("d-1").value();
  auto b = a;
  a.desired = "running";
  auto updated = store_->update_desktop(a);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->version, 1);
  b.desired = "deleted";
  auto stale = store_->update_desktop(b);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->desktop("d-1")->desired, "running");
  EXPECT_EQ(store_->delete_desktop("d-1", 0).error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(store_->delete_desktop("d-1", 1).ok());
  EXPECT_EQ(store_->desktop("d-1").error().code(), ErrorCode::kNotFound);
}

TEST_F(StoreTest, ImageInUseCannotBeDeleted) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  ASSERT_TRUE(store_->insert_desktop(desktop("d-1", "i-1")).ok());
  auto r = store_->delete_unused_image("i-1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(r.error().message(), "image 'i-1' is used by 1 desktop");
  ASSERT_TRUE(store_->delete_desktop("d-1", 0).ok());
  EXPECT_TRUE(store_->delete_unused_image("i-1").ok());
  EXPECT_EQ(store_->delete_unused_image("i-1").error().code(), ErrorCode::kNotFound);
}

TEST_F(StoreTest, NamesAreStoredVerbatimAndDuplicatesConflict) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  auto d = desktop("d-1", "i-1");
  d.name = "it's \"quoted\"; DROP TABLE desktops; -- ünïcödé 🖥";
  ASSERT_TRUE(store_->insert_desktop(d).ok());
  EXPECT_EQ(store_->desktop("d-1")->name, d.name);
  auto dup = desktop("d-2", "i-1");
  dup.name = d.name;
  EXPECT_EQ(store_->insert_desktop(dup).error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->desktops({})->size(), 1u);
}

TEST_F(StoreTest, FiltersDesktopsByPoolAndHost) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  for (int i = 0; i < 4; ++i) {
    auto d = desktop("d-" + std::to_string(i), "i-1");
    d.pool_id = i % 2 ? "p-odd" : "";
    d.host_id = i < 2 ? "h-a" : "h-b";
    ASSERT_TRUE(store_->insert_desktop(d).ok());
  }
  EXPECT_EQ(store_->desktops({.pool_id = "p-odd"})->size(), 2u);
  EXPECT_EQ(store_->desktops({.host_id = "h-b"})->size(), 2u);
  EXPECT_EQ(store_->desktops({.pool_id = "p-odd", .host_id = "h-b"})->size(), 1u);
}

TEST_F(StoreTest, TokensExpire) {
  UserRecord u{"u-1", "admin", "hash", "admin", "", from_unix_ms(0)};
  ASSERT_TRUE(store_->insert_user(u).ok());
  EXPECT_EQ(store_->insert_user(u).error().code(), ErrorCode::kConflict);
  ASSERT_TRUE(store_->insert_token({"h1", "u-1", from_unix_ms(0), from_unix_ms(1000)}).ok());
  ASSERT_TRUE(store_->insert_token({"h2", "u-1", from_unix_ms(0), from_unix_ms(5000)}).ok());
  ASSERT_TRUE(store_->delete_expired_tokens(from_unix_ms(2000)).ok());
  EXPECT_FALSE(store_->token_by_hash("h1").ok());
  EXPECT_EQ(store_->token_by_hash("h2")->user_id, "u-1");
}

TEST_F(StoreTest, ADesktopHasAtMostOneOpenSession) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  ASSERT_TRUE(store_->insert_desktop(desktop("d-1", "i-1")).ok());
  auto d = store_->desktop("d-1").value();
  d.assigned_user = "u-1";
  SessionRecord s1{"s-1", "p-1", "t-1", "u-1", "d-1", "connecting", "", from_unix_ms(0), from_unix_ms(0), {}};
  auto assigned = store_->open_session(s1, d, {"tk-1", "s-1", "d-1", from_unix_ms(60000), {}});
  ASSERT_TRUE(assigned.ok());
  // Even with the desktop's current version, a second open session is refused
  // by the database, and nothing of the attempt is kept.
  auto d2 = assigned.value();
  d2.assigned_user = "u-2";
  SessionRecord s2{"s-2", "p-1", "t-1", "u-2", "d-1", "connecting", "", from_unix_ms(0), from_unix_ms(0), {}};
  auto twice = store_->open_session(s2, d2, {"tk-2", "s-2", "d-1", from_unix_ms(60000), {}});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->desktop("d-1")->assigned_user, "u-1");
  EXPECT_FALSE(store_->session("s-2").ok());
  EXPECT_FALSE(store_->redeem_ticket("tk-2", from_unix_ms(1)).ok());
  // Once ended, the desktop can be assigned again.
  ASSERT_TRUE(store_->end_session("s-1", from_unix_ms(3'600'000), nullptr).ok());
  EXPECT_EQ(store_->end_session("s-1", from_unix_ms(3'600'000), nullptr).error().code(), ErrorCode::kConflict);
  d2 = store_->desktop("d-1").value();
  d2.assigned_user = "u-2";
  EXPECT_TRUE(store_->open_session(s2, d2, {"tk-2", "s-2", "d-1", from_unix_ms(60000), {}}).ok());
  auto usage = store_->usage(from_unix_ms(0), from_unix_ms(86'400'000), "t-1").value();
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(to_unix_ms(usage[0].end), 3'600'000);
}

TEST_F(StoreTest, TicketsAreRedeemedOnceBeforeTheyExpire) {
  ASSERT_TRUE(store_->insert_ticket({"tk", "s-1", "d-1", from_unix_ms(1000), {}}).ok());
  ASSERT_TRUE(store_->insert_ticket({"old", "s-1", "d-1", from_unix_ms(1000), {}}).ok());
  EXPECT_EQ(store_->redeem_ticket("tk", from_unix_ms(500))->session_id, "s-1");
  EXPECT_EQ(store_->redeem_ticket("tk", from_unix_ms(600)).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->redeem_ticket("old", from_unix_ms(1000)).error().code(), ErrorCode::kNotFound);
}

TEST_F(StoreTest, TheAuditLogIsAppendOnlyAndFilteredByTenantAndTime) {
  for (int i = 0; i < 6; ++i) {
    AuditEvent e;
    e.at = from_unix_ms(i * 1000);
    e.tenant_id = i % 2 ? "t-a" : "t-b";
    e.action = "pool.create";
    e.status = 201;
    e.result = "ok";
    ASSERT_TRUE(store_->append_audit(e).ok());
  }
  AuditFilter f;
  f.tenant_id = "t-a";
  f.since = from_unix_ms(1000);
  f.until = from_unix_ms(5000);
  auto events = store_->audit_events(f).value();
  ASSERT_EQ(events.size(), 2u);  // at 3 s and 1 s, newest first
  EXPECT_EQ(to_unix_ms(events[0].at), 3000);
  EXPECT_EQ(to_unix_ms(events[1].at), 1000);
  f.before_seq = events[0].seq;
  EXPECT_EQ(store_->audit_events(f)->size(), 1u);
  store_.reset();
  sqlite3* db = nullptr;
  sqlite3_open((dir_ / "oriel.db").c_str(), &db);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit SET result='forged'", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM audit", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  store_ = std::move(open_sqlite_store((dir_ / "oriel.db").string()).value());
  EXPECT_EQ(store_->audit_events({})->size(), 6u);
}

}  // namespace
}  // namespace oriel::store
