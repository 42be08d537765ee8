// The Store contract for the broker's entities, run against every backend:
// tenants, pools and entitlements, sessions, and the usage meter.
#include "store_test_backends.h"

namespace oriel::store {
namespace {

using test_support::BackendName;
using test_support::kAllBackends;

class StoreBrokerTest : public test_support::StoreBackendTest {
 protected:
  void SetUp() override {
    StoreBackendTest::SetUp();
    if (HasFatalFailure()) return;
    ImageRecord i;
    i.id = "i-1";
    i.name = "golden";
    i.state = "ready";
    i.source_path = "/tmp/x.qcow2";
    i.requested_format = "qcow2";
    ASSERT_TRUE(store_->insert_image(i).ok());
    ASSERT_TRUE(store_->insert_tenant({"t-1", "acme", from_unix_ms(0)}).ok());
    ASSERT_TRUE(store_->insert_pool(pool("p-1", "office")).ok());
    for (const char* id : {"d-1", "d-2"}) {
      DesktopRecord d;
      d.id = id;
      d.name = id;
      d.image_id = "i-1";
      d.pool_id = "p-1";
      d.tenant_id = "t-1";
      d.state = "running";
      d.desired = "running";
      ASSERT_TRUE(store_->insert_desktop(d).ok());
    }
  }
  static PoolRecord pool(std::string id, std::string name, std::string tenant_id = "t-1") {
    PoolRecord p;
    p.id = std::move(id);
    p.name = std::move(name);
    p.tenant_id = std::move(tenant_id);
    p.image_id = "i-1";
    p.type = "pooled";
    p.size = 2;
    p.provisioning = "on-demand";
    p.state = "active";
    return p;
  }
  static SessionRecord session(std::string id, std::string user, std::string desktop, int64_t at_ms = 0) {
    return SessionRecord{std::move(id),
                         "p-1",
                         "t-1",
                         std::move(user),
                         std::move(desktop),
                         "connecting",
                         "10.0.0.7",
                         from_unix_ms(at_ms),
                         from_unix_ms(at_ms),
                         {}};
  }
  static TicketRecord ticket(std::string hash, const SessionRecord& s) {
    return TicketRecord{std::move(hash), s.id, s.desktop_id, from_unix_ms(60'000), {}};
  }
  // Opens `s` on its desktop, assigned to its user.
  Result<DesktopRecord> open(const SessionRecord& s, const std::string& ticket_hash) {
    auto d = TRY(store_->desktop(s.desktop_id));
    d.assigned_user = s.user_id;
    return store_->open_session(s, d, ticket(ticket_hash, s));
  }
};

TEST_P(StoreBrokerTest, TenantsAreUniqueByNameAndDeletedOnlyWhenEmpty) {
  EXPECT_EQ(store_->insert_tenant({"t-2", "acme", {}}).error().code(), ErrorCode::kConflict);
  ASSERT_TRUE(store_->insert_tenant({"t-2", "Acme", {}}).ok());
  auto all = store_->tenants().value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "Acme");
  auto busy = store_->delete_tenant("t-1");  // it has a pool
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(busy.error().message(), "tenant 't-1' still has 0 users and 1 pools");
  ASSERT_TRUE(store_->insert_user({"u-1", "ana", "x", "user", "t-2", {}}).ok());
  EXPECT_EQ(store_->delete_tenant("t-2").error().code(), ErrorCode::kConflict);
  ASSERT_TRUE(store_->delete_user("u-1").ok());
  ImageRecord own;  // a tenant's own image keeps its tenant too
  own.id = "i-own";
  own.name = "acme's";
  own.state = "ready";
  own.tenant_id = "t-2";
  ASSERT_TRUE(store_->insert_image(own).ok());
  auto with_image = store_->delete_tenant("t-2");
  ASSERT_FALSE(with_image.ok());
  EXPECT_EQ(with_image.error().message(), "tenant 't-2' still has 1 images");
  ASSERT_TRUE(store_->delete_unused_image("i-own").ok());
  EXPECT_TRUE(store_->delete_tenant("t-2").ok());
  EXPECT_EQ(store_->tenant("t-2").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->delete_tenant("t-2").error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreBrokerTest, ATenantsQuotaAndWhatItsDesktopsHold) {
  EXPECT_EQ(store_->tenant("t-1")->quota, Quota{});
  ASSERT_TRUE(store_->set_tenant_quota("t-1", {3, 4, 4096, 100}).ok());
  EXPECT_EQ(store_->tenant("t-1")->quota, (Quota{3, 4, 4096, 100}));
  EXPECT_EQ(store_->set_tenant_quota("t-none", {1, 1, 1, 1}).error().code(), ErrorCode::kNotFound);

  auto image = store_->image("i-1").value();
  image.virtual_size_bytes = int64_t{10} << 30;
  ASSERT_TRUE(store_->update_image(image).ok());
  auto d2 = store_->desktop("d-2").value();
  d2.desired = "stopped";  // still a desktop and its disk; no vCPUs or memory
  d2.vcpus = 3;
  ASSERT_TRUE(store_->update_desktop(d2).ok());
  auto d1 = store_->desktop("d-1").value();
  auto held = store_->tenant_allocation("t-1").value();
  EXPECT_EQ(held.desktops, 2);
  EXPECT_EQ(held.vcpus, d1.vcpus);
  EXPECT_EQ(held.memory_mb, d1.memory_mb);
  EXPECT_EQ(held.disk_bytes, int64_t{20} << 30);
  d1.desired = "deleted";  // on its way out: no longer held
  ASSERT_TRUE(store_->update_desktop(d1).ok());
  EXPECT_EQ(store_->tenant_allocation("t-1")->desktops, 1);
  EXPECT_EQ(store_->tenant_allocation("t-other")->desktops, 0);
}

TEST_P(StoreBrokerTest, PoolUpdatesAreCompareAndSwapAndNamesUniquePerTenant) {
  EXPECT_EQ(store_->insert_pool(pool("p-2", "office")).error().code(), ErrorCode::kConflict);
  ASSERT_TRUE(store_->insert_tenant({"t-2", "globex", {}}).ok());
  ASSERT_TRUE(store_->insert_pool(pool("p-2", "office", "t-2")).ok());
  EXPECT_EQ(store_->insert_pool(pool("p-3", "x", "t-none")).error().code(), ErrorCode::kConflict);
  auto p = store_->pool("p-1").value();
  auto stale = p;
  p.size = 10;
  p.clipboard = "to-client";
  p.message = "no room on any host";
  auto updated = store_->update_pool(p);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->version, 1);
  EXPECT_EQ(store_->update_pool(stale).error().code(), ErrorCode::kConflict);
  auto got = store_->pool("p-1").value();
  EXPECT_EQ(got.size, 10);
  EXPECT_EQ(got.clipboard, "to-client");
  EXPECT_EQ(got.message, "no room on any host");
  EXPECT_EQ(store_->pools("t-2")->size(), 1u);
  EXPECT_EQ(store_->pools("")->size(), 2u);
}

TEST_P(StoreBrokerTest, EntitlementsAreIdempotentAndGoWithTheirPool) {
  ASSERT_TRUE(store_->insert_user({"u-1", "bob", "x", "user", "t-1", {}}).ok());
  ASSERT_TRUE(store_->insert_user({"u-2", "Ana", "x", "user", "t-1", {}}).ok());
  ASSERT_TRUE(store_->insert_pool(pool("p-2", "lab")).ok());
  ASSERT_TRUE(store_->add_entitlement("p-1", "u-1").ok());
  ASSERT_TRUE(store_->add_entitlement("p-1", "u-1").ok());  // again: no change, no error
  ASSERT_TRUE(store_->add_entitlement("p-1", "u-2").ok());
  ASSERT_TRUE(store_->add_entitlement("p-2", "u-1").ok());
  EXPECT_EQ(store_->add_entitlement("p-1", "u-nobody").error().code(), ErrorCode::kConflict);
  auto users = store_->entitled_users("p-1").value();
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].username, "Ana");
  EXPECT_EQ(store_->entitled_pool_ids("u-1").value(), (std::vector<std::string>{"p-1", "p-2"}));
  ASSERT_TRUE(store_->remove_entitlement("p-1", "u-1").ok());
  EXPECT_EQ(store_->remove_entitlement("p-1", "u-1").error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(store_->delete_pool("p-2").ok());
  EXPECT_TRUE(store_->entitled_pool_ids("u-1")->empty());
  EXPECT_EQ(store_->delete_pool("p-2").error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreBrokerTest, ADesktopHasAtMostOneOpenSession) {
  auto d = store_->desktop("d-1").value();
  d.assigned_user = "u-1";
  auto s1 = session("s-1", "u-1", "d-1");
  auto assigned = store_->open_session(s1, d, ticket("tk-1", s1));
  ASSERT_TRUE(assigned.ok());
  EXPECT_EQ(assigned->version, 1);
  // Even with the desktop's current version, a second open session is refused
  // by the database, and nothing of the attempt is kept.
  auto d2 = assigned.value();
  d2.assigned_user = "u-2";
  auto s2 = session("s-2", "u-2", "d-1");
  auto twice = store_->open_session(s2, d2, ticket("tk-2", s2));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->desktop("d-1")->assigned_user, "u-1");
  EXPECT_EQ(store_->desktop("d-1")->version, 1);
  EXPECT_FALSE(store_->session("s-2").ok());
  EXPECT_FALSE(store_->redeem_ticket("tk-2", from_unix_ms(1)).ok());
  // Once ended, the desktop can be assigned again.
  ASSERT_TRUE(store_->end_session("s-1", from_unix_ms(3'600'000), nullptr).ok());
  EXPECT_EQ(store_->end_session("s-1", from_unix_ms(3'600'000), nullptr).error().code(), ErrorCode::kConflict);
  d2 = store_->desktop("d-1").value();
  d2.assigned_user = "u-2";
  EXPECT_TRUE(store_->open_session(s2, d2, ticket("tk-2", s2)).ok());
  auto usage = store_->usage(from_unix_ms(0), from_unix_ms(86'400'000), "t-1").value();
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].subject_id, "s-1");
  EXPECT_EQ(to_unix_ms(usage[0].end), 3'600'000);
}

TEST_P(StoreBrokerTest, AUserHasAtMostOneOpenSessionPerPool) {
  ASSERT_TRUE(open(session("s-1", "u-1", "d-1"), "tk-1").ok());
  auto again = open(session("s-2", "u-1", "d-2"), "tk-2");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->desktop("d-2")->assigned_user, "");
  EXPECT_EQ(store_->desktop("d-2")->version, 0);
  EXPECT_EQ(store_->open_usage("session")->size(), 1u);
  EXPECT_TRUE(open(session("s-3", "u-2", "d-2"), "tk-3").ok());  // another user may
}

TEST_P(StoreBrokerTest, EndingASessionWithAStaleDesktopChangesNothing) {
  auto opened = open(session("s-1", "u-1", "d-1"), "tk-1").value();
  auto stale = opened;
  stale.version = 0;
  stale.assigned_user = "";
  auto ended = store_->end_session("s-1", from_unix_ms(5000), &stale);
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(ended.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(store_->session("s-1")->state, "connecting");
  EXPECT_EQ(store_->open_usage("session")->size(), 1u);
  EXPECT_TRUE(store_->redeem_ticket("tk-1", from_unix_ms(1)).ok());  // not deleted either
}

TEST_P(StoreBrokerTest, EndingASessionReleasesTheDesktopAndClosesItsUsage) {
  auto opened = open(session("s-1", "u-1", "d-1", 1000), "tk-1").value();
  ASSERT_TRUE(store_->insert_ticket({"tk-2", "s-1", "d-1", from_unix_ms(60'000), {}}).ok());
  ImageRecord v2 = store_->image("i-1").value();
  v2.id = "i-2";
  ASSERT_TRUE(store_->insert_image(v2).ok());
  auto released = opened;
  released.assigned_user = "";
  released.pending_op = "reset";
  released.image_id = "i-2";
  released.vcpus = 2;
  ASSERT_TRUE(store_->end_session("s-1", from_unix_ms(500), &released).ok());  // before its start: clamped
  auto d = store_->desktop("d-1").value();
  EXPECT_EQ(d.assigned_user, "");
  EXPECT_EQ(d.pending_op, "reset");
  EXPECT_EQ(d.image_id, "i-2");
  EXPECT_EQ(d.vcpus, 2);
  EXPECT_EQ(d.version, opened.version + 1);
  auto s = store_->session("s-1").value();
  EXPECT_EQ(s.state, "ended");
  EXPECT_EQ(s.ended_at, from_unix_ms(500));
  EXPECT_FALSE(store_->redeem_ticket("tk-2", from_unix_ms(1)).ok());  // its tickets went with it
  auto usage = store_->usage(from_unix_ms(0), from_unix_ms(10'000), "").value();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].start, from_unix_ms(1000));
  EXPECT_EQ(usage[0].end, from_unix_ms(1000));
  EXPECT_EQ(usage[0].user_id, "u-1");
}

TEST_P(StoreBrokerTest, OnlyOpenSessionsAreUpdatedAndListedByDefault) {
  ASSERT_TRUE(open(session("s-1", "u-1", "d-1", 1), "tk-1").ok());
  ASSERT_TRUE(open(session("s-2", "u-2", "d-2", 2), "tk-2").ok());
  auto s = store_->session("s-1").value();
  s.state = "connected";
  s.last_activity_at = from_unix_ms(7000);
  ASSERT_TRUE(store_->update_session(s).ok());
  EXPECT_EQ(store_->session("s-1")->last_activity_at, from_unix_ms(7000));
  ASSERT_TRUE(store_->end_session("s-1", from_unix_ms(8000), nullptr).ok());
  EXPECT_EQ(store_->update_session(s).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->session("s-1")->state, "ended");
  EXPECT_EQ(store_->sessions({.tenant_id = "t-1"})->size(), 1u);
  auto all = store_->sessions({.tenant_id = "t-1", .include_ended = true}).value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "s-1");  // oldest first
  EXPECT_EQ(all[0].client_address, "10.0.0.7");
  EXPECT_EQ(store_->sessions({.user_id = "u-2"})->at(0).id, "s-2");
  EXPECT_EQ(store_->sessions({.desktop_id = "d-1", .include_ended = true})->size(), 1u);
  EXPECT_TRUE(store_->sessions({.pool_id = "p-9"})->empty());
}

TEST_P(StoreBrokerTest, UsageIntervalsOpenOnceCloseAndOverlap) {
  UsageInterval run{"desktop", "d-1", "t-1", "p-1", "", from_unix_ms(1000), {}};
  ASSERT_TRUE(store_->open_usage(run).ok());
  run.start = from_unix_ms(1500);
  ASSERT_TRUE(store_->open_usage(run).ok());  // one is open already: kept as it is
  auto open = store_->open_usage("desktop").value();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].start, from_unix_ms(1000));
  ASSERT_TRUE(store_->close_usage("desktop", "d-1", from_unix_ms(4000)).ok());
  EXPECT_TRUE(store_->open_usage("desktop")->empty());
  ASSERT_TRUE(store_->open_usage({"desktop", "d-1", "t-1", "p-1", "", from_unix_ms(9000), {}}).ok());
  ASSERT_TRUE(store_->open_usage({"desktop", "d-9", "t-2", "p-9", "", from_unix_ms(2000), {}}).ok());
  // [1000, 4000) and the open [9000, ...) and [2000, ...) against windows:
  EXPECT_EQ(store_->usage(from_unix_ms(0), from_unix_ms(1000), "")->size(), 0u);
  EXPECT_EQ(store_->usage(from_unix_ms(0), from_unix_ms(1001), "")->size(), 1u);
  EXPECT_EQ(store_->usage(from_unix_ms(4000), from_unix_ms(9000), "")->size(), 1u);  // only the open d-9
  EXPECT_EQ(store_->usage(from_unix_ms(0), from_unix_ms(10'000), "")->size(), 3u);
  EXPECT_EQ(store_->usage(from_unix_ms(0), from_unix_ms(10'000), "t-1")->size(), 2u);
  auto all = store_->usage(from_unix_ms(0), from_unix_ms(10'000), "").value();
  EXPECT_EQ(all[0].start, from_unix_ms(1000));
  EXPECT_EQ(all[0].end, from_unix_ms(4000));
  EXPECT_EQ(all[1].subject_id, "d-9");
  EXPECT_EQ(all[2].end, WallTime{});
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreBrokerTest, kAllBackends, BackendName());

}  // namespace
}  // namespace oriel::store
