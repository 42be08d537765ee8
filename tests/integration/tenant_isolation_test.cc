// Tenant isolation (docs/api.md, "Roles and tenants"): tenant A's user and
// tenant-admin walk every broker route against tenant B's objects. Another
// tenant's object is a 404 exactly as if it did not exist, a route the role may
// never use a 403; lists never show B's ids, and B's objects are unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "harness.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// One request against another tenant's objects, and the statuses allowed.
struct Probe {
  std::string method, path;
  Json body;
  std::vector<int> want;
};

const std::vector<int> kHidden = {404};
const std::vector<int> kHiddenOrDenied = {403, 404};  // routes the role may never use
const std::vector<int> kDenied = {403};

// A small pool's body; without a tenant, the caller's own.
Json pool_body(const std::string& name, const std::string& image_id, const std::string& tenant_id = "") {
  Json body = {{"name", name}, {"image_id", image_id}, {"type", "pooled"}, {"size", 1},
               {"spare", 0},   {"vcpus", 1},           {"memory_mb", 128}};
  if (!tenant_id.empty()) body["tenant_id"] = tenant_id;
  return body;
}

bool allowed(const std::vector<int>& want, int status) {
  return std::find(want.begin(), want.end(), status) != want.end();
}

struct Tenant {
  std::string id, name, pool, pool_name, session, desktop, image;  // image: the tenant's own
  std::unique_ptr<TestUser> boss, user;                            // tenant-admin and user
};

class TenantIsolationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orield_ = new Orield({"--cpu-overcommit", "16"});
    orield_->start();
    admin_ = new net::ApiClient(orield_->admin());
    image_ = import_test_guest(*admin_, "isolation-guest");
    a_ = make_tenant("alpha");
    b_ = make_tenant("bravo");
    b_->image = import_test_guest(*admin_, "bravo-own-image", {{"tenant_id", b_->id}});
    // B's desktop runs, so that its state is settled before the snapshot.
    Json d = wait_for_state(*admin_, "/api/v1/desktops/" + b_->desktop, {"running", "failed"}, 60s);
    if (d["state"] != "running") throw std::runtime_error("B's desktop did not start: " + d.dump());
    b_qemu_ = orield_->qemu_pid(b_->desktop);
    b_snapshot_ = new Json(snapshot_of_b());
  }
  static void TearDownTestSuite() {
    delete b_snapshot_;
    delete a_;
    delete b_;
    delete admin_;
    delete orield_;
  }

  // A tenant with a tenant-admin, a user entitled to a pool (spare 0), and
  // that user's open session.
  static Tenant* make_tenant(const std::string& tag) {
    auto* t = new Tenant;
    t->name = tag + "-tenant";
    t->id = create_tenant(*admin_, t->name);
    t->boss = std::make_unique<TestUser>(create_user(*orield_, *admin_, t->id, tag + "-boss", "tenant-admin"));
    t->user = std::make_unique<TestUser>(create_user(*orield_, t->boss->client, t->id, tag + "-user"));
    t->pool_name = tag + "-pool";
    t->pool = create_pool(t->boss->client, t->id, image_, t->pool_name, "pooled", 2, 0);
    entitle(t->boss->client, t->pool, t->user->id);
    auto s = t->user->client.post("/api/v1/sessions", {{"pool_id", t->pool}});
    if (!s.ok()) throw std::runtime_error("logon in " + tag + ": " + s.error().message());
    t->session = (*s)["id"];
    t->desktop = (*s)["desktop_id"];
    return t;
  }

  // What B has, as the admin sees it, without the fields that move on their own.
  static Json snapshot_of_b() {
    auto keep = [](const Json& obj, std::initializer_list<const char*> fields) {
      Json out = Json::object();
      for (const char* f : fields) out[f] = obj.value(f, Json());
      return out;
    };
    auto keep_all = [&](const Json& list, std::initializer_list<const char*> fields) {
      Json out = Json::array();
      for (const auto& o : list) out.push_back(keep(o, fields));
      return out;
    };
    Json s;
    s["tenant"] = admin_->get("/api/v1/tenants/" + b_->id).value();
    s["users"] = keep_all(admin_->get("/api/v1/users?tenant_id=" + b_->id).value(),
                          {"id", "username", "role", "tenant_id", "locked_until"});
    s["pool"] = keep(admin_->get("/api/v1/pools/" + b_->pool).value(),
                     {"id", "name", "tenant_id", "image_id", "type", "size", "spare", "vcpus", "memory_mb",
                      "idle_timeout_s", "provisioning", "state"});
    s["entitlements"] = admin_->get("/api/v1/pools/" + b_->pool + "/entitlements").value();
    s["sessions"] = keep_all(admin_->get("/api/v1/sessions?include_ended=true&pool_id=" + b_->pool).value(),
                             {"id", "pool_id", "user_id", "desktop_id", "state", "ended_at"});
    s["desktops"] = keep_all(admin_->get("/api/v1/desktops?pool_id=" + b_->pool).value(),
                             {"id", "state", "desired_state", "pending_action", "assigned_user", "image_id"});
    return s;
  }

  // B is as it was: same records, the same QEMU, and its user's password.
  static void expect_b_unchanged() {
    EXPECT_EQ(snapshot_of_b(), *b_snapshot_);
    EXPECT_EQ(orield_->qemu_pid(b_->desktop), b_qemu_) << "B's desktop was restarted or stopped";
    auto again = orield_->client();
    EXPECT_TRUE(again.login(b_->user->username, b_->user->password).ok()) << "B's user lost their password";
  }

  std::vector<std::string> b_ids() const {
    return {b_->id, b_->pool, b_->session, b_->desktop, b_->boss->id, b_->user->id, b_->image};
  }
  std::vector<std::string> b_names() const {
    return {b_->name, b_->pool_name, b_->boss->username, b_->user->username, "bravo-own-image"};
  }

  // Every route against B's objects, for A's user or A's tenant-admin.
  std::vector<Probe> probes(const TestUser& actor, bool tenant_admin) const {
    // What a tenant-admin may do in their own tenant is hidden for B; what a
    // user may never do may also be refused outright.
    const auto& managed = tenant_admin ? kHidden : kHiddenOrDenied;
    const Tenant& b = *b_;
    std::vector<Probe> p = {
        {"GET", "/api/v1/tenants/" + b.id, nullptr, kHidden},
        {"DELETE", "/api/v1/tenants/" + b.id, nullptr, kHiddenOrDenied},
        {"PATCH", "/api/v1/tenants/" + b.id, {{"quota", {{"desktops", 1}}}}, kHiddenOrDenied},
        {"GET", "/api/v1/users/" + b.user->id, nullptr, kHidden},
        {"GET", "/api/v1/users/" + b.boss->id, nullptr, kHidden},
        {"PATCH", "/api/v1/users/" + b.user->id, {{"password", "taken-over-password"}}, kHidden},
        {"PATCH", "/api/v1/users/" + b.boss->id, {{"unlock", true}}, managed},
        {"DELETE", "/api/v1/users/" + b.user->id, nullptr, managed},
        {"POST",
         "/api/v1/users",
         {{"username", "intruder"}, {"password", "intruder-password"}, {"role", "user"}, {"tenant_id", b.id}},
         kHiddenOrDenied},
        {"GET", "/api/v1/pools/" + b.pool, nullptr, kHidden},
        {"PATCH", "/api/v1/pools/" + b.pool, {{"size", 5}}, managed},
        {"PATCH", "/api/v1/pools/" + b.pool, {{"name", "taken-over"}, {"spare", 1}}, managed},
        {"DELETE", "/api/v1/pools/" + b.pool, nullptr, managed},
        {"POST", "/api/v1/pools", pool_body("intruder-pool", image_, b.id), kHiddenOrDenied},
        {"GET", "/api/v1/pools/" + b.pool + "/entitlements", nullptr, managed},
        {"POST", "/api/v1/pools/" + b.pool + "/entitlements", {{"user_id", actor.id}}, managed},
        {"POST", "/api/v1/pools/" + b.pool + "/entitlements", {{"user_id", b.user->id}}, managed},
        {"DELETE", "/api/v1/pools/" + b.pool + "/entitlements/" + b.user->id, nullptr, managed},
        // B's user into A's own pool.
        {"POST", "/api/v1/pools/" + a_->pool + "/entitlements", {{"user_id", b.user->id}}, managed},
        {"POST", "/api/v1/sessions", {{"pool_id", b.pool}}, kHidden},
        {"GET", "/api/v1/sessions/" + b.session, nullptr, kHidden},
        {"POST", "/api/v1/sessions/" + b.session + "/tickets", nullptr, kHidden},
        {"POST", "/api/v1/sessions/" + b.session + "/actions/disconnect", nullptr, kHidden},
        {"DELETE", "/api/v1/sessions/" + b.session, nullptr, kHidden},
        {"GET", "/api/v1/images/" + b.image, nullptr, kHiddenOrDenied},
        // B's own image for a pool in A's own tenant.
        {"POST", "/api/v1/pools", pool_body("borrowed-image", b.image), kHiddenOrDenied},
        {"PATCH", "/api/v1/pools/" + a_->pool, {{"image_id", b.image}}, kHiddenOrDenied},
        {"GET", "/api/v1/desktops/" + b.desktop, nullptr, kHidden},
        {"GET", "/api/v1/desktops/" + b.desktop + "/screenshot", nullptr, kHidden},
        {"DELETE", "/api/v1/desktops/" + b.desktop, nullptr, managed},
    };
    for (const char* action : {"stop", "reboot", "reset", "start", "migrate"}) {
      p.push_back({"POST", "/api/v1/desktops/" + b.desktop + "/actions/" + action, Json::object(), managed});
    }
    return p;
  }

  // Runs each probe against B's ids and against ids that do not exist: the
  // status is one of those allowed, and the two answers are the same but for
  // the id (nothing tells B's objects from missing ones).
  void walk(TestUser& actor, bool tenant_admin) {
    for (const auto& probe : probes(actor, tenant_admin)) {
      std::string what = probe.method + " " + probe.path + " " + (probe.body.is_null() ? "" : probe.body.dump());
      Reply real = call(actor.client, probe.method, probe.path, probe.body);
      EXPECT_TRUE(allowed(probe.want, real.status))
          << actor.username << ": " << what << " → " << real.status << " " << real.body;
      EXPECT_TRUE(real.json.is_object() && real.json["error"].is_object() && real.json["error"]["code"].is_string())
          << what << " → " << real.body;
      for (const auto& name : b_names()) {
        EXPECT_EQ(real.body.find(name), std::string::npos) << what << " names B's '" << name << "': " << real.body;
      }
      std::string path = probe.path, body = probe.body.is_null() ? "" : probe.body.dump();
      for (const auto& id : b_ids()) {
        const std::string missing = id + "0";
        path = replace_all(path, id, missing);
        body = replace_all(body, id, missing);
      }
      auto fake = actor.client.request(probe.method, path, body);
      ASSERT_TRUE(fake.ok()) << fake.error().message();
      std::string fake_body = fake->body;
      for (const auto& id : b_ids()) {
        const std::string missing = id + "0";
        fake_body = replace_all(fake_body, missing, id);
      }
      EXPECT_EQ(real.status, fake->status) << what << ": B's object answers unlike a missing one";
      EXPECT_EQ(real.body, fake_body) << what << ": B's object answers unlike a missing one";
    }
  }

  // Lists as `actor`: 2xx ones hold none of B's ids or names.
  void expect_lists_clean(TestUser& actor, bool tenant_admin) {
    const Tenant& b = *b_;
    std::string days = "from=" + utc_day(-1) + "&to=" + utc_day();
    std::vector<std::string> paths = {
        "/api/v1/tenants",
        "/api/v1/tenants?tenant_id=" + b.id,
        "/api/v1/users",
        "/api/v1/users?tenant_id=" + b.id,
        "/api/v1/pools",
        "/api/v1/pools?tenant_id=" + b.id,
        "/api/v1/sessions",
        "/api/v1/sessions?include_ended=true",
        "/api/v1/sessions?pool_id=" + b.pool,
        "/api/v1/sessions?user_id=" + b.user->id + "&include_ended=true",
        "/api/v1/sessions?tenant_id=" + b.id + "&include_ended=true",
        "/api/v1/desktops",
        "/api/v1/desktops?pool_id=" + b.pool,
        "/api/v1/images",
        "/api/v1/pools/" + a_->pool + "/entitlements",
        "/api/v1/usage?" + days,
        "/api/v1/usage?" + days + "&tenant_id=" + b.id,
        "/api/v1/usage?" + days + "&format=csv",
        "/api/v1/usage?" + days + "&tenant_id=" + b.id + "&format=csv",
    };
    for (const auto& path : paths) {
      Reply r = call(actor.client, "GET", path);
      EXPECT_TRUE(r.status == 200 || r.status == 403 || r.status == 404) << path << " → " << r.status << r.body;
      if (r.status != 200) continue;
      for (const auto& id : b_ids()) EXPECT_EQ(r.body.find(id), std::string::npos) << path << " shows " << id;
      for (const auto& name : b_names()) EXPECT_EQ(r.body.find(name), std::string::npos) << path << " shows " << name;
    }
    // The audit log names B's ids where A's own refused requests did; it
    // holds no event of B's tenant.
    for (const std::string& path :
         {std::string("/api/v1/audit?limit=1000"), "/api/v1/audit?limit=1000&tenant_id=" + b.id,
          "/api/v1/audit?limit=1000&user_id=" + b.user->id}) {
      Reply r = call(actor.client, "GET", path);
      if (!tenant_admin) {
        EXPECT_EQ(r.status, 403) << path << " → " << r.body;
        continue;
      }
      EXPECT_TRUE(r.status == 200 || r.status == 404) << path << " → " << r.status << r.body;
      if (r.status != 200) continue;
      for (const auto& e : r.json["events"]) {
        EXPECT_EQ(e["tenant_id"], a_->id) << path << ": " << e.dump();
        EXPECT_NE(e["user_id"], b.user->id) << e.dump();
        EXPECT_NE(e["user_id"], b.boss->id) << e.dump();
      }
    }
  }

  static Orield* orield_;
  static net::ApiClient* admin_;
  static std::string image_;
  static Tenant *a_, *b_;
  static pid_t b_qemu_;
  static Json* b_snapshot_;
};

Orield* TenantIsolationTest::orield_;
net::ApiClient* TenantIsolationTest::admin_;
std::string TenantIsolationTest::image_;
Tenant* TenantIsolationTest::a_;
Tenant* TenantIsolationTest::b_;
pid_t TenantIsolationTest::b_qemu_;
Json* TenantIsolationTest::b_snapshot_;

TEST_F(TenantIsolationTest, TheAdminSeesBothTenants) {
  // The control: B's objects exist, so the 404s below come from isolation.
  for (const auto& path : {"/api/v1/tenants/" + b_->id, "/api/v1/pools/" + b_->pool, "/api/v1/sessions/" + b_->session,
                           "/api/v1/desktops/" + b_->desktop, "/api/v1/users/" + b_->user->id}) {
    EXPECT_EQ(call(*admin_, "GET", path).status, 200) << path;
  }
  EXPECT_EQ(call(*admin_, "GET", "/api/v1/images/" + b_->image).status, 200);
  // And A's people do see A's objects.
  EXPECT_EQ(call(a_->user->client, "GET", "/api/v1/pools/" + a_->pool).status, 200);
  EXPECT_EQ(call(a_->user->client, "GET", "/api/v1/sessions/" + a_->session).status, 200);
  EXPECT_EQ(call(a_->boss->client, "GET", "/api/v1/desktops/" + a_->desktop).status, 200);
  EXPECT_EQ(call(a_->boss->client, "GET", "/api/v1/users/" + a_->user->id).status, 200);
  EXPECT_EQ(call(a_->boss->client, "GET", "/api/v1/tenants/" + a_->id).status, 200);
  Json pools = a_->user->client.get("/api/v1/pools").value();
  ASSERT_EQ(pools.size(), 1u) << pools.dump();
  EXPECT_EQ(pools[0]["id"], a_->pool);
  Json sessions = a_->boss->client.get("/api/v1/sessions").value();
  ASSERT_EQ(sessions.size(), 1u) << sessions.dump();
  EXPECT_EQ(sessions[0]["id"], a_->session);
}

// Security probe #7: images belong to a tenant or to the platform, and a
// platform image reaches the tenants only once the admin shares it. Tenant
// roles never see a path on the server.
TEST_F(TenantIsolationTest, PlatformImagesReachTenantsOnlyOnceSharedAndShowNoServerPaths) {
  std::string image = import_test_guest(*admin_, "platform-only", Json::object());
  Json as_admin = admin_->get("/api/v1/images/" + image).value();
  EXPECT_EQ(as_admin["shared"], false);
  EXPECT_TRUE(as_admin["tenant_id"].is_null());
  EXPECT_EQ(as_admin["source_path"].get<std::string>().front(), '/') << "the admin sees where it came from";

  auto& boss = a_->boss->client;
  EXPECT_EQ(call(boss, "GET", "/api/v1/images/" + image).status, 404);
  EXPECT_EQ(boss.get("/api/v1/images").value().dump().find(image), std::string::npos);
  Json pool = pool_body("on-platform", image);
  EXPECT_EQ(call(boss, "POST", "/api/v1/pools", pool).status, 404);
  pool["tenant_id"] = a_->id;
  Reply by_admin = call(*admin_, "POST", "/api/v1/pools", pool);
  EXPECT_EQ(by_admin.status, 400) << by_admin.body;
  EXPECT_NE(by_admin.body.find("not shared with the tenants"), std::string::npos) << by_admin.body;
  // Only the platform's images are shared.
  EXPECT_EQ(call(*admin_, "PATCH", "/api/v1/images/" + b_->image, {{"shared", true}}).status, 400);

  ASSERT_EQ(call(*admin_, "PATCH", "/api/v1/images/" + image, {{"shared", true}}).status, 200);
  Reply seen = call(boss, "GET", "/api/v1/images/" + image);
  ASSERT_EQ(seen.status, 200) << seen.body;
  EXPECT_TRUE(seen.json["source_path"].is_null()) << seen.body;
  EXPECT_EQ(seen.json["boot"]["kernel"], "vmlinuz") << seen.body;
  EXPECT_EQ(seen.body.find(TestGuest::locate().disk), std::string::npos) << seen.body;
  EXPECT_EQ(seen.body.find(orield_->data_dir()), std::string::npos) << seen.body;
  Reply made = call(boss, "POST", "/api/v1/pools", pool);
  ASSERT_EQ(made.status, 201) << made.body;

  // Taken back while A's pool uses it: refused, then allowed once the pool is gone.
  Reply unshare = call(*admin_, "PATCH", "/api/v1/images/" + image, {{"shared", false}});
  EXPECT_EQ(unshare.status, 409) << unshare.body;
  ASSERT_EQ(call(boss, "DELETE", "/api/v1/pools/" + made.json["id"].get<std::string>()).status, 202);
  ASSERT_TRUE(wait_until(
      [&] {
        return call(*admin_, "PATCH", "/api/v1/images/" + image, {{"shared", false}}).status == 200;
      },
      30s));
  EXPECT_EQ(call(boss, "GET", "/api/v1/images/" + image).status, 404);
  expect_b_unchanged();
}

TEST_F(TenantIsolationTest, AUserOfAnotherTenantGets404ForEachOfBsObjects) {
  walk(*a_->user, false);
  expect_b_unchanged();
}

TEST_F(TenantIsolationTest, ATenantAdminOfAnotherTenantGets404ForEachOfBsObjects) {
  walk(*a_->boss, true);
  expect_b_unchanged();
}

TEST_F(TenantIsolationTest, ListsNeverShowAnotherTenantsObjects) {
  expect_lists_clean(*a_->user, false);
  expect_lists_clean(*a_->boss, true);
  // The lists are not just empty: A's own objects are there.
  Json users = a_->boss->client.get("/api/v1/users?tenant_id=" + b_->id).value();
  for (const auto& u : users) EXPECT_EQ(u["tenant_id"], a_->id) << u.dump();
  Json mine = a_->boss->client.get("/api/v1/users").value();
  EXPECT_EQ(mine.size(), 2u) << mine.dump();
  Json desktops = a_->boss->client.get("/api/v1/desktops").value();
  ASSERT_EQ(desktops.size(), 1u) << desktops.dump();
  EXPECT_EQ(desktops[0]["id"], a_->desktop);
  expect_b_unchanged();
}

TEST_F(TenantIsolationTest, TenantRolesMayNotUseTheAdminRoutes) {
  auto guest = TestGuest::locate();
  for (TestUser* actor : {a_->user.get(), a_->boss.get()}) {
    std::vector<Probe> denied = {
        {"POST", "/api/v1/tenants", {{"name", "rogue"}}, kDenied},
        {"POST", "/api/v1/images", {{"name", "rogue"}, {"source_path", guest.disk}, {"format", "raw"}}, kDenied},
        {"DELETE", "/api/v1/images/" + image_, nullptr, kDenied},
        {"GET", "/api/v1/hosts", nullptr, kDenied},
        {"POST", "/api/v1/cluster/join-tokens", {{"ttl_s", 600}}, kDenied},
        {"DELETE", "/api/v1/hosts/" + admin_->get("/api/v1/hosts").value()[0]["id"].get<std::string>(), nullptr,
         kDenied},
        {"POST",
         "/api/v1/desktops",
         {{"name", "rogue"}, {"image_id", image_}, {"vcpus", 1}, {"memory_mb", 128}},
         kDenied},
        {"DELETE", "/api/v1/tenants/" + a_->id, nullptr, kDenied},
        {"POST",
         "/api/v1/users",
         {{"username", "rogue-admin"}, {"password", "rogue-password"}, {"role", "admin"}},
         kDenied},
        {"POST",
         "/api/v1/users",
         {{"username", "rogue-admin2"}, {"password", "rogue-password"}, {"role", "admin"}, {"tenant_id", a_->id}},
         {400, 403}},
    };
    if (actor == a_->user.get()) {
      denied.push_back({"POST",
                        "/api/v1/users",
                        {{"username", "rogue-boss"},
                         {"password", "rogue-password"},
                         {"role", "tenant-admin"},
                         {"tenant_id", a_->id}},
                        kDenied});
      denied.push_back({"GET", "/api/v1/audit", nullptr, kDenied});
      denied.push_back({"GET", "/api/v1/usage?from=" + utc_day() + "&to=" + utc_day(), nullptr, kDenied});
    }
    for (const auto& probe : denied) {
      Reply r = call(actor->client, probe.method, probe.path, probe.body);
      EXPECT_TRUE(allowed(probe.want, r.status))
          << actor->username << ": " << probe.method << " " << probe.path << " → " << r.status << " " << r.body;
    }
  }
  // Nothing was made: no tenant, image, desktop or user beyond the setup's.
  EXPECT_EQ(admin_->get("/api/v1/tenants").value().size(), 2u);
  Json images = admin_->get("/api/v1/images").value();
  for (const auto& image : images) EXPECT_NE(image["name"], "rogue");
  EXPECT_EQ(admin_->get("/api/v1/desktops").value().size(), 2u);
  EXPECT_EQ(admin_->get("/api/v1/users").value().size(), 5u);  // admin + 2 per tenant
  EXPECT_EQ(admin_->get("/api/v1/hosts").value()[0]["state"], "ready");
  expect_b_unchanged();
}

}  // namespace
}  // namespace oriel::testing
