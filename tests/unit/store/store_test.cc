// The Store contract, run against every backend (SQLite and PostgreSQL):
// schema, users and tokens, hosts, images, desktops, tickets and the audit
// log. The broker's entities are in store_broker_test.cc; what only a
// database server can get wrong (connections, concurrent writers) in
// store_postgres_test.cc.
#include <algorithm>

#include "store_test_backends.h"

namespace oriel::store {
namespace {

using test_support::BackendName;
using test_support::kAllBackends;

class StoreTest : public test_support::StoreBackendTest {
 protected:
  static ImageRecord image(std::string id) {
    ImageRecord i;
    i.id = std::move(id);
    i.name = "golden";
    i.state = "ready";
    i.source_path = "/tmp/x.vhd";
    i.requested_format = "auto";
    return i;
  }
  static DesktopRecord desktop(const std::string& id, std::string image_id) {
    DesktopRecord d;
    d.id = id;
    d.name = "desk-" + id;
    d.image_id = std::move(image_id);
    d.state = "stopped";
    d.desired = "stopped";
    return d;
  }
  static UserRecord user(std::string id, std::string name, std::string tenant_id = "") {
    return UserRecord{std::move(id), std::move(name), "hash", "user", std::move(tenant_id), from_unix_ms(0)};
  }
};

TEST_P(StoreTest, MigratesToTheLatestVersionAndReopens) {
  int v = store_->schema_version();
  EXPECT_GE(v, 3);
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  reopen();
  EXPECT_EQ(store_->schema_version(), v);
  EXPECT_EQ(store_->image("i-1")->name, "golden");
}

TEST_P(StoreTest, RefusesADatabaseFromANewerVersion) {
  store_.reset();
  ASSERT_TRUE(db_->set_schema_version(999).ok());
  auto reopened = db_->open();
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.error().code(), ErrorCode::kUnprocessable);
  EXPECT_NE(reopened.error().message().find("newer"), std::string::npos) << reopened.error().message();
}

TEST_P(StoreTest, DesktopUpdatesAreCompareAndSwap) {
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
  EXPECT_EQ(store_->update_desktop(*updated).error().code(), ErrorCode::kConflict);  // gone
}

TEST_P(StoreTest, DesktopsKeepEveryField) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  DesktopRecord d{"d-1",
                  "alice-1",
                  "i-1",
                  4,
                  8192,
                  "h-1",
                  "p-1",
                  "t-1",
                  "u-1",
                  "running",
                  "running",
                  "reset",
                  "it broke",
                  9'000'000'000'000,
                  from_unix_ms(1'795'000'000'123),
                  from_unix_ms(1'795'000'000'456),
                  7};
  ASSERT_TRUE(store_->insert_desktop(d).ok());
  auto got = store_->desktop("d-1").value();
  EXPECT_EQ(got.name, d.name);
  EXPECT_EQ(got.vcpus, 4);
  EXPECT_EQ(got.memory_mb, 8192);
  EXPECT_EQ(got.host_id, "h-1");
  EXPECT_EQ(got.pool_id, "p-1");
  EXPECT_EQ(got.tenant_id, "t-1");
  EXPECT_EQ(got.assigned_user, "u-1");
  EXPECT_EQ(got.pending_op, "reset");
  EXPECT_EQ(got.error, "it broke");
  EXPECT_EQ(got.deadline_ms, 9'000'000'000'000);
  EXPECT_EQ(got.created_at, d.created_at);
  EXPECT_EQ(got.updated_at, d.updated_at);
  EXPECT_EQ(got.version, 7);
}

TEST_P(StoreTest, ImageInUseCannotBeDeleted) {
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

TEST_P(StoreTest, ADesktopOnAnUnknownImageIsRefused) {
  EXPECT_EQ(store_->insert_desktop(desktop("d-1", "i-nope")).error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(store_->desktops({})->empty());
}

TEST_P(StoreTest, ImagesKeepEveryFieldAndUpdatesNeedTheImage) {
  auto i = image("i-1");
  i.progress = 100.0 / 3;
  i.virtual_size_bytes = int64_t{1} << 50;
  i.boot_json = R"({"kernel":"vmlinuz","cmdline":"console=ttyS0 quiet"})";
  i.created_at = from_unix_ms(1000);
  ASSERT_TRUE(store_->insert_image(i).ok());
  EXPECT_EQ(store_->insert_image(i).error().code(), ErrorCode::kConflict);
  auto got = store_->image("i-1").value();
  EXPECT_EQ(got.progress, i.progress);  // bit for bit
  EXPECT_EQ(got.virtual_size_bytes, i.virtual_size_bytes);
  EXPECT_EQ(got.boot_json, i.boot_json);
  got.state = "failed";
  got.error = "qemu-img check: corrupt";
  ASSERT_TRUE(store_->update_image(got).ok());
  EXPECT_EQ(store_->image("i-1")->error, got.error);
  EXPECT_EQ(store_->update_image(image("i-2")).error().code(), ErrorCode::kNotFound);
  // The owner is kept; the sharing and the name change only as settings,
  // so the importer's progress never undoes an administrator's change.
  auto own = image("i-3");
  own.tenant_id = "t-1";
  ASSERT_TRUE(store_->insert_image(own).ok());
  EXPECT_EQ(store_->image("i-3")->tenant_id, "t-1");
  auto settings = store_->image("i-1").value();
  settings.name = "renamed";
  settings.shared = true;
  ASSERT_TRUE(store_->update_image_settings(settings).ok());
  got.progress = 50;
  ASSERT_TRUE(store_->update_image(got).ok());  // the importer's older copy
  auto now = store_->image("i-1").value();
  EXPECT_TRUE(now.shared);
  EXPECT_EQ(now.name, "renamed");
  EXPECT_EQ(now.progress, 50);
  EXPECT_FALSE(store_->image("i-3")->shared);
  EXPECT_EQ(store_->update_image_settings(image("i-2")).error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(store_->delete_unused_image("i-3").ok());
  auto older = image("i-0");
  ASSERT_TRUE(store_->insert_image(older).ok());  // created at the epoch: listed first
  auto all = store_->images().value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "i-0");
}

TEST_P(StoreTest, NamesAreStoredVerbatimAndDuplicatesConflict) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  auto d = desktop("d-1", "i-1");
  d.name = "it's \"quoted\"; DROP TABLE desktops; -- ünïcödé 🖥 $1 ?1 \\";
  ASSERT_TRUE(store_->insert_desktop(d).ok());
  EXPECT_EQ(store_->desktop("d-1")->name, d.name);
  auto dup = desktop("d-2", "i-1");
  dup.name = d.name;
  EXPECT_EQ(store_->insert_desktop(dup).error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->desktops({})->size(), 1u);
  dup.tenant_id = "t-other";  // unique per tenant only
  EXPECT_TRUE(store_->insert_desktop(dup).ok());
}

TEST_P(StoreTest, FiltersDesktopsByPoolHostTenantAndUser) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  for (int i = 0; i < 4; ++i) {
    auto d = desktop("d-" + std::to_string(i), "i-1");
    d.pool_id = i % 2 ? "p-odd" : "";
    d.host_id = i < 2 ? "h-a" : "h-b";
    d.tenant_id = i == 3 ? "t-1" : "";
    d.assigned_user = i == 1 ? "u-1" : "";
    d.created_at = from_unix_ms(10 - i);
    ASSERT_TRUE(store_->insert_desktop(d).ok());
  }
  EXPECT_EQ(store_->desktops({.pool_id = "p-odd"})->size(), 2u);
  EXPECT_EQ(store_->desktops({.host_id = "h-b"})->size(), 2u);
  EXPECT_EQ(store_->desktops({.pool_id = "p-odd", .host_id = "h-b"})->size(), 1u);
  EXPECT_EQ(store_->desktops({.tenant_id = "t-1"})->at(0).id, "d-3");
  EXPECT_EQ(store_->desktops({.assigned_user = "u-1"})->at(0).id, "d-1");
  EXPECT_EQ(store_->desktops({})->at(0).id, "d-3");  // oldest first
}

TEST_P(StoreTest, HostAllocationsAddUpTheDesktopsMeantToRun) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  for (int i = 0; i < 5; ++i) {
    auto d = desktop("d-" + std::to_string(i), "i-1");
    d.host_id = i < 3 ? "h-a" : "h-b";
    d.desired = i == 2 ? "stopped" : "running";
    d.vcpus = i + 1;
    d.memory_mb = 1024;
    ASSERT_TRUE(store_->insert_desktop(d).ok());
  }
  auto all = store_->host_allocations().value();
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.host_id < b.host_id; });
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].host_id, "h-a");
  EXPECT_EQ(all[0].vcpus, 3);
  EXPECT_EQ(all[0].memory_mb, 2048);
  EXPECT_EQ(all[1].vcpus, 9);
}

TEST_P(StoreTest, HostsAreUpsertedByIdAndListedByName) {
  HostRecord h{"h-1", "zeta", "ready", "kvm", 8, 32768, "", from_unix_ms(1000)};
  ASSERT_TRUE(store_->upsert_host(h).ok());
  h.state = "maintenance";
  h.last_heartbeat_at = from_unix_ms(2000);
  ASSERT_TRUE(store_->upsert_host(h).ok());
  EXPECT_EQ(store_->host("h-1")->state, "maintenance");
  EXPECT_EQ(store_->host("h-1")->last_heartbeat_at, from_unix_ms(2000));
  ASSERT_TRUE(store_->upsert_host({"h-2", "alpha", "ready", "tcg", 2, 2048, "10.0.0.2:7000", {}}).ok());
  EXPECT_EQ(store_->upsert_host({"h-3", "alpha", "ready", "tcg", 2, 2048, "", {}}).error().code(),
            ErrorCode::kConflict);
  auto all = store_->hosts().value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alpha");
  EXPECT_EQ(all[0].address, "10.0.0.2:7000");
  EXPECT_EQ(store_->host("h-9").error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreTest, TokensExpire) {
  UserRecord u{"u-1", "admin", "hash", "admin", "", from_unix_ms(0)};
  ASSERT_TRUE(store_->insert_user(u).ok());
  EXPECT_EQ(store_->insert_user(u).error().code(), ErrorCode::kConflict);
  ASSERT_TRUE(store_->insert_token({"h1", "u-1", from_unix_ms(0), from_unix_ms(1000)}).ok());
  ASSERT_TRUE(store_->insert_token({"h2", "u-1", from_unix_ms(0), from_unix_ms(5000)}).ok());
  ASSERT_TRUE(store_->delete_expired_tokens(from_unix_ms(2000)).ok());
  EXPECT_FALSE(store_->token_by_hash("h1").ok());
  EXPECT_EQ(store_->token_by_hash("h2")->user_id, "u-1");
  EXPECT_EQ(store_->token_by_hash("h2")->expires_at, from_unix_ms(5000));
  ASSERT_TRUE(store_->delete_token("h2").ok());
  EXPECT_EQ(store_->token_by_hash("h2").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->insert_token({"h3", "u-nobody", {}, {}}).error().code(), ErrorCode::kConflict);
}

TEST_P(StoreTest, UsersAreListedPerTenantInByteOrder) {
  for (auto [id, name] : {std::pair{"u-1", "bob"}, {"u-2", "Alice"}, {"u-3", "émile"}, {"u-4", "ana"}}) {
    ASSERT_TRUE(store_->insert_user(user(id, name, "t-1")).ok());
  }
  ASSERT_TRUE(store_->insert_user(user("u-5", "zed", "t-2")).ok());
  auto users = store_->users("t-1").value();
  std::vector<std::string> names;
  names.reserve(users.size());
  for (const auto& u : users) names.push_back(u.username);
  EXPECT_EQ(names, (std::vector<std::string>{"Alice", "ana", "bob", "émile"}));  // not the locale's order
  EXPECT_EQ(store_->users("").value().size(), 5u);
  EXPECT_EQ(store_->user_by_name("t-1", "émile")->id, "u-3");
  EXPECT_EQ(store_->user_by_name("t-1", "Bob").error().code(), ErrorCode::kNotFound);  // case matters
  EXPECT_EQ(store_->user_by_name("t-2", "ana").error().code(), ErrorCode::kNotFound);
  // Names are unique within a tenant, not across tenants.
  ASSERT_TRUE(store_->insert_user(user("u-6", "ana", "t-2")).ok());
  EXPECT_EQ(store_->insert_user(user("u-7", "ana", "t-2")).error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->user_by_name("t-2", "ana")->id, "u-6");
  auto anas = store_->users_named("ana").value();
  ASSERT_EQ(anas.size(), 2u);
  EXPECT_EQ(anas[0].tenant_id, "t-1");
  EXPECT_EQ(anas[1].tenant_id, "t-2");
}

TEST_P(StoreTest, LoginStateAndPasswordsAreStored) {
  ASSERT_TRUE(store_->insert_user(user("u-1", "ana")).ok());
  auto u = store_->user_by_id("u-1").value();
  u.failed_logins = 4;
  u.last_failed_at = from_unix_ms(5000);
  u.locked_until = from_unix_ms(905'000);
  ASSERT_TRUE(store_->set_login_state(u).ok());
  ASSERT_TRUE(store_->set_password_hash("u-1", "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA").ok());
  auto got = store_->user_by_id("u-1").value();
  EXPECT_EQ(got.failed_logins, 4);
  EXPECT_EQ(got.last_failed_at, from_unix_ms(5000));
  EXPECT_EQ(got.locked_until, from_unix_ms(905'000));
  EXPECT_EQ(got.password_hash, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA");
  EXPECT_EQ(store_->set_password_hash("u-9", "x").error().code(), ErrorCode::kNotFound);
  u.id = "u-9";
  EXPECT_EQ(store_->set_login_state(u).error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreTest, DeletingAUserTakesItsTokensAndEntitlements) {
  ASSERT_TRUE(store_->insert_image(image("i-1")).ok());
  ASSERT_TRUE(store_->insert_tenant({"t-1", "acme", {}}).ok());
  PoolRecord p;
  p.id = "p-1";
  p.name = "office";
  p.tenant_id = "t-1";
  p.image_id = "i-1";
  ASSERT_TRUE(store_->insert_pool(p).ok());
  ASSERT_TRUE(store_->insert_user(user("u-1", "ana", "t-1")).ok());
  ASSERT_TRUE(store_->insert_token({"h1", "u-1", {}, from_unix_ms(1000)}).ok());
  ASSERT_TRUE(store_->add_entitlement("p-1", "u-1").ok());
  ASSERT_TRUE(store_->delete_user("u-1").ok());
  EXPECT_EQ(store_->token_by_hash("h1").error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->entitled_users("p-1")->empty());
  EXPECT_EQ(store_->delete_user("u-1").error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreTest, TicketsAreRedeemedOnceBeforeTheyExpire) {
  ASSERT_TRUE(store_->insert_ticket({"tk", "s-1", "d-1", from_unix_ms(1000), {}}).ok());
  ASSERT_TRUE(store_->insert_ticket({"old", "s-1", "d-1", from_unix_ms(1000), {}}).ok());
  auto redeemed = store_->redeem_ticket("tk", from_unix_ms(500));
  ASSERT_TRUE(redeemed.ok());
  EXPECT_EQ(redeemed->session_id, "s-1");
  EXPECT_EQ(redeemed->desktop_id, "d-1");
  EXPECT_EQ(redeemed->used_at, from_unix_ms(500));
  EXPECT_EQ(store_->redeem_ticket("tk", from_unix_ms(600)).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->redeem_ticket("old", from_unix_ms(1000)).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->redeem_ticket("unknown", from_unix_ms(0)).error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(store_->insert_ticket({"later", "s-1", "d-1", from_unix_ms(5000), {}}).ok());
  ASSERT_TRUE(store_->delete_expired_tickets(from_unix_ms(1000)).ok());
  EXPECT_TRUE(store_->redeem_ticket("later", from_unix_ms(1500)).ok());
}

TEST_P(StoreTest, TheAuditLogIsAppendOnlyAndFilteredByTenantAndTime) {
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
  // Not even the database's owner changes it behind the store.
  store_.reset();
  EXPECT_FALSE(db_->exec("UPDATE audit SET result='forged'").ok());
  EXPECT_FALSE(db_->exec("DELETE FROM audit").ok());
  reopen();
  EXPECT_EQ(store_->audit_events({})->size(), 6u);
}

TEST_P(StoreTest, AuditEventsLeaveOnlyArchivedAndNeverUnderALegalHold) {
  ASSERT_TRUE(store_->insert_tenant({"t-a", "A", from_unix_ms(0), {}, {}}).ok());
  for (int i = 1; i <= 7; ++i) {
    AuditEvent e;
    e.at = from_unix_ms(i * 1000);
    e.tenant_id = i <= 5 ? "t-a" : "";
    e.action = "login";
    ASSERT_TRUE(store_->append_audit(e).ok());
  }
  auto old = store_->oldest_audit_events("t-a", from_unix_ms(4000), 100).value();
  ASSERT_EQ(old.size(), 3u);  // 1, 2 and 3 s, oldest first
  EXPECT_EQ(to_unix_ms(old.front().at), 1000);
  EXPECT_EQ(to_unix_ms(old.back().at), 3000);
  EXPECT_EQ(store_->oldest_audit_events("t-a", from_unix_ms(4000), 2)->size(), 2u);

  // Not archived: the database refuses, whoever asks.
  store_.reset();
  EXPECT_FALSE(db_->exec("DELETE FROM audit WHERE tenant_id='t-a'").ok());
  reopen();
  AuditArchive archive{"t-a", old.front().seq, old.back().seq, 3, "/archive/a.jsonl.gz", "ab12", from_unix_ms(9000)};
  EXPECT_EQ(store_->prune_audit(archive).value(), 3);
  EXPECT_EQ(store_->audit_events({.tenant_id = "t-a"})->size(), 2u);
  auto archives = store_->audit_archives(std::string("t-a")).value();
  ASSERT_EQ(archives.size(), 1u);
  EXPECT_EQ(archives[0].last_seq, old.back().seq);
  EXPECT_EQ(archives[0].file, "/archive/a.jsonl.gz");
  EXPECT_EQ(archives[0].sha256, "ab12");
  EXPECT_EQ(to_unix_ms(archives[0].archived_at), 9000);

  // Under a legal hold nothing goes, archived or not, and the archive's
  // record goes with the refused transaction.
  ASSERT_TRUE(store_->set_tenant_audit_policy("t-a", {30, true}).ok());
  EXPECT_EQ(store_->tenant("t-a")->audit, (AuditPolicy{30, true}));
  auto rest = store_->oldest_audit_events("t-a", from_unix_ms(10000), 100).value();
  ASSERT_EQ(rest.size(), 2u);
  AuditArchive held{"t-a", rest.front().seq, rest.back().seq, 2, "/archive/b.jsonl.gz", "cd34", from_unix_ms(9500)};
  EXPECT_FALSE(store_->prune_audit(held).ok());
  EXPECT_EQ(store_->audit_events({.tenant_id = "t-a"})->size(), 2u);
  EXPECT_EQ(store_->audit_archives(std::string("t-a"))->size(), 1u);
  EXPECT_EQ(store_->set_tenant_audit_policy("t-none", {}).error().code(), ErrorCode::kNotFound);

  // The platform's events have no tenant and no hold.
  auto platform = store_->oldest_audit_events("", from_unix_ms(10000), 100).value();
  ASSERT_EQ(platform.size(), 2u);
  AuditArchive p{"", platform.front().seq, platform.back().seq, 2, "/archive/p.jsonl.gz", "ef56", from_unix_ms(9600)};
  EXPECT_EQ(store_->prune_audit(p).value(), 2);
  EXPECT_EQ(store_->audit_archives(std::nullopt)->size(), 2u);
  // The archives' record itself cannot change.
  store_.reset();
  EXPECT_FALSE(db_->exec("DELETE FROM audit_archives").ok());
  EXPECT_FALSE(db_->exec("UPDATE audit_archives SET sha256='forged'").ok());
  reopen();
  EXPECT_EQ(store_->audit_archives(std::nullopt)->size(), 2u);
}

TEST_P(StoreTest, AuditIsFilteredByUserAndActionAndPaged) {
  for (int i = 0; i < 10; ++i) {
    AuditEvent e{0,
                 from_unix_ms(1000 + i),
                 i < 2 ? "" : "t-1",
                 i % 3 ? "u-1" : "u-2",
                 "ana",
                 i % 2 ? "login" : "pool.create",
                 "p-1",
                 "10.0.0.7",
                 200,
                 "ok",
                 ""};
    ASSERT_TRUE(store_->append_audit(e).ok());
  }
  EXPECT_EQ(store_->audit_events({.user_id = "u-2"})->size(), 4u);
  EXPECT_EQ(store_->audit_events({.action = "login"})->size(), 5u);
  EXPECT_EQ(store_->audit_events({.tenant_id = ""})->size(), 2u);  // the events of no tenant
  EXPECT_EQ(store_->audit_events({.limit = -1})->size(), 10u);
  // Pages of three, newest first, until none is left.
  std::vector<int64_t> seen;
  AuditFilter page{.limit = 3};
  for (;;) {
    auto events = store_->audit_events(page).value();
    if (events.empty()) break;
    for (const auto& e : events) seen.push_back(to_unix_ms(e.at));
    page.before_seq = events.back().seq;
  }
  ASSERT_EQ(seen.size(), 10u);
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
  auto newest = store_->audit_events({.limit = 1})->at(0);
  EXPECT_EQ(newest.address, "10.0.0.7");
  EXPECT_EQ(newest.status, 200);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, kAllBackends, BackendName());

// A restore into another directory moves the golden images under it: only
// the paths that were under the old directory change (SQLite: backups copy
// its file; PostgreSQL has pg_dump).
TEST(SqliteBackupTest, RebasingImagePathsMovesOnlyThoseUnderTheOldDirectory) {
  auto db = test_support::TestDatabase::create(test_support::Backend::kSqlite).value();
  auto image = [](const std::string& id, const std::string& path) {
    ImageRecord i;
    i.id = id;
    i.name = id;
    i.state = "ready";
    i.source_path = "/tmp/x.vhd";
    i.requested_format = "auto";
    i.path = path;
    return i;
  };
  auto moved = image("i-1", "/old/images/i-1/disk.qcow2"), elsewhere = image("i-2", "/srv/golden/i-2/disk.qcow2");
  auto alike = image("i-3", "/old/images-2/i-3/disk.qcow2");  // shares the prefix, not the directory
  {
    auto store = db->open().value();
    for (const auto& i : {moved, elsewhere, alike}) ASSERT_TRUE(store->insert_image(i).ok());
  }
  auto n = rebase_sqlite_image_paths(db->location(), "/old/images", "/new/images");
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 1);
  auto store = db->open().value();
  EXPECT_EQ(store->image("i-1")->path, "/new/images/i-1/disk.qcow2");
  EXPECT_EQ(store->image("i-2")->path, elsewhere.path);
  EXPECT_EQ(store->image("i-3")->path, alike.path);
}

}  // namespace
}  // namespace oriel::store
