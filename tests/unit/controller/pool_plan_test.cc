// A pool's decisions as a table: the pool's rows in, the plan out. Every
// row is one situation the broker's loop meets; the plan is pure, so each is
// exact (pool_plan.h).
#include "pool_plan.h"

#include <gtest/gtest.h>

namespace oriel::controller {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = from_unix_ms(1'800'000'000'000);

HostLoad host(std::string id, int64_t cpus, int64_t used_cpus = 0, std::string state = "ready") {
  store::HostRecord h;
  h.id = h.name = std::move(id);
  h.state = std::move(state);
  h.cpus = cpus;
  h.memory_mb = 64 * 1024;
  return {h, used_cpus, used_cpus * 1024};
}

store::PoolRecord pool(std::string type, int64_t size, int64_t spare, std::string provisioning = "on-demand") {
  store::PoolRecord p;
  p.id = "p-1";
  p.name = "lab";
  p.image_id = "i-1";
  p.type = std::move(type);
  p.size = size;
  p.spare = spare;
  p.vcpus = 1;
  p.memory_mb = 1024;
  p.provisioning = std::move(provisioning);
  p.state = "active";
  return p;
}

// A free desktop of the pool's current definition, on host h1, created `age` ago.
store::DesktopRecord desktop(std::string id, std::string state, std::string desired, std::chrono::seconds age = 600s) {
  store::DesktopRecord d;
  d.id = d.name = std::move(id);
  d.image_id = "i-1";
  d.vcpus = 1;
  d.memory_mb = 1024;
  d.host_id = "h1";
  d.pool_id = "p-1";
  d.state = std::move(state);
  d.desired = std::move(desired);
  d.created_at = d.updated_at = kNow - age;
  return d;
}

store::DesktopRecord assigned(store::DesktopRecord d, std::string user) {
  d.assigned_user = std::move(user);
  return d;
}

store::SessionRecord session_on(std::string desktop_id) {
  store::SessionRecord s;
  s.id = "s-" + desktop_id;
  s.desktop_id = std::move(desktop_id);
  s.state = "connected";
  return s;
}

store::ImageRecord image(std::string state = "ready") {
  store::ImageRecord i;
  i.id = "i-1";
  i.state = std::move(state);
  return i;
}

// The plan as lines a reader can check at a glance.
std::vector<std::string> lines(const PoolPlan& plan) {
  std::vector<std::string> out;
  for (const auto& a : plan.actions) {
    switch (a.kind) {
      case PoolAction::Kind::kRelease: out.push_back("release " + a.desktop_id); break;
      case PoolAction::Kind::kSetDesired: out.push_back(a.desktop_id + " " + a.desired); break;
      case PoolAction::Kind::kCreate:
        out.push_back(std::string("create on ") + a.host_id + (a.run ? " running" : " stopped"));
        break;
      case PoolAction::Kind::kDeletePool: out.push_back("delete pool"); break;
    }
  }
  return out;
}

struct Case {
  std::string name;
  PoolRows rows;
  std::vector<std::string> plan;
  std::string message;  // a substring of the pool's message; "" means none at all
};

// One case a block, its input and expected lines aligned by hand.
// clang-format off
std::vector<Case> cases() {
  auto one_host = std::vector<HostLoad>{host("h1", 8)};
  return {
      {"an empty on-demand pool makes its spares, running",
       {pool("pooled", 5, 2), {}, {}, image(), one_host, kNow},
       {"create on h1 running", "create on h1 running"},
       ""},
      {"an up-front pool makes all of its desktops, only the spares running",
       {pool("pooled", 3, 1, "up-front"), {}, {}, image(), one_host, kNow},
       {"create on h1 running", "create on h1 stopped", "create on h1 stopped"},
       ""},
      {"surplus free desktops go, newest first",
       {pool("pooled", 5, 1),
        {desktop("old", "running", "running", 900s), desktop("mid", "running", "running", 600s),
         desktop("new", "running", "running", 300s)},
        {}, image(), one_host, kNow},
       {"new deleted", "mid deleted"},
       ""},
      {"broken and stopped free desktops go before running ones",
       {pool("pooled", 5, 1),
        {desktop("up", "running", "running", 300s), desktop("off", "stopped", "stopped", 900s),
         desktop("bad", "failed", "running", 900s)},
        {}, image(), one_host, kNow},
       {"bad deleted", "off deleted"},
       ""},
      {"a pooled desktop assigned without a session goes back; one in session stays",
       {pool("pooled", 5, 0),
        {assigned(desktop("orphan", "running", "running"), "u-1"), assigned(desktop("busy", "running", "running"), "u-2")},
        {session_on("busy")}, image(), one_host, kNow},
       {"release orphan"},
       ""},
      {"a persistent desktop stays its user's without a session",
       {pool("persistent", 5, 0), {assigned(desktop("mine", "stopped", "stopped"), "u-1")}, {}, image(), one_host, kNow},
       {},
       ""},
      {"an outdated free desktop is rebuilt from the current definition",
       {pool("pooled", 5, 1), {[] { auto d = desktop("stale", "running", "running"); d.image_id = "i-0"; return d; }()},
        {}, image(), one_host, kNow},
       {"stale deleted", "create on h1 running"},
       ""},
      {"a desktop that failed just now is kept a while, and the pool says why",
       {pool("pooled", 5, 1), {[] { auto d = desktop("bad", "failed", "running", 10s); d.error = "no boot disk"; return d; }()},
        {}, image(), one_host, kNow},
       {},
       "desktop bad failed: no boot disk"},
      {"a desktop that failed long ago is rebuilt",
       {pool("pooled", 5, 1), {desktop("bad", "failed", "running", 60s)}, {}, image(), one_host, kNow},
       {"bad deleted", "create on h1 running"},
       ""},
      {"an image still importing: nothing is made, and the pool says so",
       {pool("pooled", 5, 2), {}, {}, image("importing"), one_host, kNow},
       {},
       "waiting for image 'i-1' to be ready"},
      {"a stopped spare starts",
       {pool("pooled", 5, 1), {desktop("off", "stopped", "stopped")}, {}, image(), one_host, kNow},
       {"off running"},
       ""},
      {"a stopped spare on a full host stays stopped, and the pool says why",
       {pool("pooled", 5, 1), {desktop("off", "stopped", "stopped")}, {}, image(), {host("h1", 2, 2)}, kNow},
       {},
       "no capacity"},
      {"with a smaller spare count, extra running desktops stop",
       {pool("pooled", 2, 1, "up-front"),
        {desktop("a", "running", "running", 900s), desktop("b", "running", "running", 300s)},
        {}, image(), one_host, kNow},
       {"b stopped"},
       ""},
      {"spares beyond the host's room are made stopped, and the pool says why",
       {pool("pooled", 4, 4), {}, {}, image(), {host("h1", 2)}, kNow},
       {"create on h1 running", "create on h1 running", "create on h1 stopped", "create on h1 stopped"},
       "no capacity"},
      {"the room a deletion frees is used in the same pass",
       {pool("pooled", 5, 1), {[] { auto d = desktop("stale", "running", "running"); d.vcpus = 2; return d; }()},
        {}, image(), {host("h1", 2, 2)}, kNow},
       {"stale deleted", "create on h1 running"},
       ""},
      {"new desktops spread over the hosts as the plan spends their room",
       {pool("pooled", 4, 4), {}, {}, image(), {host("h1", 2), host("h2", 2)}, kNow},
       {"create on h1 running", "create on h2 running", "create on h1 running", "create on h2 running"},
       ""},
      {"a desktop no host could ever hold is not made, and the pool says why",
       {[] { auto p = pool("pooled", 2, 1); p.vcpus = 64; return p; }(), {}, {}, image(), one_host, kNow},
       {},
       "cannot fit on any host"},
      {"the tenant's quota: spares stop at its desktops, and the pool says why",
       {pool("pooled", 5, 3), {desktop("a", "running", "running")}, {}, image(), one_host, kNow,
        {.desktops = 3}, {.desktops = 2, .vcpus = 1, .memory_mb = 1024}},
       {"create on h1 running"},
       "the tenant's quota of 3 desktops is reached: 3 in use, 1 more asked for"},
      {"the tenant's quota of vCPUs: a spare is made stopped, one stays stopped",
       {pool("pooled", 5, 3), {desktop("off", "stopped", "stopped")}, {}, image(), one_host, kNow,
        {.vcpus = 2}, {.desktops = 1, .vcpus = 1, .memory_mb = 1024}},
       {"off running", "create on h1 stopped", "create on h1 stopped"},
       "the tenant's quota of 2 vCPUs for running desktops is reached: 2 in use, 1 more asked for"},
      {"the tenant's quota of disk counts the image's virtual size",
       {pool("pooled", 5, 2), {}, {}, [] { auto i = image(); i.virtual_size_bytes = int64_t{3} << 30; return i; }(),
        one_host, kNow, {.disk_gb = 5}, {}},
       {"create on h1 running"},
       "the tenant's quota of 5 GB of disk is reached: 3 in use, 3 more asked for"},
      {"a pool being deleted deletes its live desktops",
       {[] { auto p = pool("pooled", 2, 1); p.state = "deleting"; return p; }(),
        {desktop("a", "running", "running"), desktop("gone", "deleting", "deleted")}, {}, image(), one_host, kNow},
       {"a deleted"},
       ""},
      {"a pool being deleted goes once it has no desktop left",
       {[] { auto p = pool("pooled", 2, 1); p.state = "deleting"; return p; }(), {}, {}, image(), one_host, kNow},
       {"delete pool"},
       ""},
  };
}
// clang-format on

TEST(PoolPlanTest, EachSituationGetsItsPlan) {
  Scheduler scheduler({1.0, 1.0, PlacementPolicy::kSpread});
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    auto plan = plan_pool(c.rows, scheduler);
    EXPECT_EQ(lines(plan), c.plan);
    if (c.message.empty()) {
      EXPECT_EQ(plan.message, "");
    } else {
      EXPECT_NE(plan.message.find(c.message), std::string::npos) << plan.message;
    }
  }
}

}  // namespace
}  // namespace oriel::controller
