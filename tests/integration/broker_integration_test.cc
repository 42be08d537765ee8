// The broker through its REST API (docs/api.md, "Roles and tenants" to
// "Usage"): users log on to pools of real test-guest desktops and off again,
// tokens and tickets, hostile names, and the audit log and usage report that
// all this leaves behind. One orield serves the whole suite; each test works
// in a tenant of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "harness.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::string ticket_of(const Json& session) {
  std::string url = session.value("display_url", "");
  size_t at = url.find("ticket=");
  return at == std::string::npos ? std::string() : url.substr(at + 7);
}

class BrokerApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orield_ = new Orield({"--cpu-overcommit", "16"});
    orield_->start();
    admin_ = new net::ApiClient(orield_->admin());
    image_ = import_test_guest(*admin_, "broker-guest");
  }
  static void TearDownTestSuite() {
    delete admin_;
    delete orield_;
  }

  // A user of `tenant` entitled to `pool`, logged in.
  static TestUser user(const std::string& tenant, const std::string& name, const std::string& pool) {
    TestUser u = create_user(*orield_, *admin_, tenant, name);
    entitle(*admin_, pool, u.id);
    return u;
  }
  static Json pool(const std::string& id) { return admin_->get("/api/v1/pools/" + id).value(); }
  static Json desktop(const std::string& id) { return admin_->get("/api/v1/desktops/" + id).value(); }
  static Reply logon(TestUser& u, const std::string& pool) {
    return call(u.client, "POST", "/api/v1/sessions", {{"pool_id", pool}});
  }
  // Waits until the desktop runs and its guest has written its disk marker.
  static void wait_marker_written(const std::string& desktop_id) {
    Json d = wait_for_state(*admin_, "/api/v1/desktops/" + desktop_id, {"running", "failed"}, 60s);
    ASSERT_EQ(d["state"], "running") << d.dump();
    std::string log = orield_->serial_log(desktop_id);
    ASSERT_TRUE(wait_for_text(log, "ORIEL-MARKER-WRITTEN", 60s)) << read_file(log);
  }

  static Orield* orield_;
  static net::ApiClient* admin_;
  static std::string image_;
};

Orield* BrokerApiTest::orield_;
net::ApiClient* BrokerApiTest::admin_;
std::string BrokerApiTest::image_;

TEST_F(BrokerApiTest, PooledLogonTakesTheSpareAndLogoffResetsTheDesktopBackIntoThePool) {
  std::string tenant = create_tenant(*admin_, "Pooled Inc");
  std::string p = create_pool(*admin_, tenant, image_, "Office", "pooled", 2, 1, {{"memory_mb", 192}});
  TestUser ana = user(tenant, "ana", p);
  TestUser bob = user(tenant, "bob", p);

  // One started spare waits, so the first logon needs no boot.
  ASSERT_TRUE(wait_until([&] { return pool(p)["running_free"] == 1; }, 60s)) << pool(p).dump();
  Json before = admin_->get("/api/v1/desktops?pool_id=" + p).value();
  ASSERT_EQ(before.size(), 1u) << before.dump();
  std::string spare = before[0]["id"];

  Reply s = logon(ana, p);
  ASSERT_EQ(s.status, 201) << s.body;
  std::string sid = s.json["id"], d = s.json["desktop_id"];
  EXPECT_EQ(d, spare) << "the logon did not take the running spare";
  EXPECT_EQ(s.json["pool_id"], p);
  EXPECT_EQ(s.json["user_id"], ana.id);
  EXPECT_EQ(s.json["tenant_id"], tenant);
  EXPECT_NE(s.json["state"], "ended");
  EXPECT_NE(s.json["display_url"].get<std::string>().find("/display/" + sid + "?ticket="), std::string::npos) << s.body;
  EXPECT_FALSE(ticket_of(s.json).empty());
  Json mine = desktop(d);
  EXPECT_EQ(mine["assigned_user"], ana.id) << mine.dump();
  EXPECT_EQ(mine["pool_id"], p);
  EXPECT_EQ(call(ana.client, "GET", "/api/v1/desktops/" + d).json["id"], d) << "a user sees their own desktop";
  wait_marker_written(d);
  std::string log = orield_->serial_log(d);
  std::string previous_log = read_file(log + ".1");

  // The spare went to ana: the pool makes and starts another.
  ASSERT_TRUE(wait_until(
      [&] {
        Json j = pool(p);
        return j["running_free"] == 1 && j["assigned"] == 1;
      },
      60s))
      << pool(p).dump();
  // Bob takes it; the pool is then at its size and has no room for a spare.
  Reply b = logon(bob, p);
  ASSERT_EQ(b.status, 201) << b.body;
  EXPECT_NE(b.json["desktop_id"], d);

  Reply off = call(ana.client, "DELETE", "/api/v1/sessions/" + sid);
  EXPECT_EQ(off.status, 202) << off.body;
  // Reset to the image and booted again as the pool's spare: the new boot's
  // log (the previous one is kept as .1) finds no marker.
  ASSERT_TRUE(wait_until(
      [&] {
        std::string old = read_file(log + ".1");
        return old != previous_log && old.find("ORIEL-MARKER-WRITTEN") != std::string::npos &&
               read_file(log).find("ORIEL-MARKER-ABSENT") != std::string::npos;
      },
      90s))
      << "serial.log.1:\n"
      << read_file(log + ".1") << "\nserial.log:\n"
      << read_file(log);
  EXPECT_EQ(read_file(log).find("ORIEL-MARKER-PRESENT"), std::string::npos) << read_file(log);
  ASSERT_TRUE(wait_until([&] { return desktop(d)["state"] == "running"; }, 60s)) << desktop(d).dump();
  Json back = desktop(d);
  EXPECT_TRUE(back["assigned_user"].is_null()) << back.dump();
  EXPECT_EQ(back["pool_id"], p);
  Json after = pool(p);
  EXPECT_EQ(after["running_free"], 1) << after.dump();
  EXPECT_EQ(after["assigned"], 1) << after.dump();
  EXPECT_EQ(after["sessions"], 1) << after.dump();

  // Ana's session has ended, and the desktop is no longer hers.
  EXPECT_TRUE(ana.client.get("/api/v1/sessions").value().empty());
  Json ended = ana.client.get("/api/v1/sessions/" + sid).value();
  EXPECT_EQ(ended["state"], "ended") << ended.dump();
  EXPECT_FALSE(ended["ended_at"].is_null()) << ended.dump();
  EXPECT_EQ(call(ana.client, "GET", "/api/v1/desktops/" + d).status, 404);
  Reply twice = call(ana.client, "DELETE", "/api/v1/sessions/" + sid);
  EXPECT_EQ(twice.status, 409) << twice.body;
}

TEST_F(BrokerApiTest, PersistentLogoffKeepsTheDiskAndTheNextLogonGetsTheSameDesktop) {
  std::string tenant = create_tenant(*admin_, "Persistent Ltd");
  std::string p = create_pool(*admin_, tenant, image_, "Personal", "persistent", 2, 0);
  TestUser ana = user(tenant, "ana2", p);
  Reply s = logon(ana, p);
  ASSERT_EQ(s.status, 201) << s.body;
  std::string d = s.json["desktop_id"];
  wait_marker_written(d);
  std::string log = orield_->serial_log(d);
  pid_t qemu = orield_->qemu_pid(d);
  ASSERT_GT(qemu, 0);

  Reply off = call(ana.client, "DELETE", "/api/v1/sessions/" + s.json["id"].get<std::string>());
  ASSERT_EQ(off.status, 202) << off.body;
  EXPECT_EQ(desktop(d)["assigned_user"], ana.id) << "a persistent desktop stays its user's";

  Reply again = logon(ana, p);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_NE(again.json["id"], s.json["id"]);
  EXPECT_EQ(again.json["desktop_id"], d);

  // The same QEMU still runs it, and a reboot finds what the guest wrote
  // before the logoff.
  EXPECT_EQ(orield_->qemu_pid(d), qemu) << "the desktop was restarted by the logoff";
  size_t offset = read_file(log).size();
  ASSERT_TRUE(admin_->post("/api/v1/desktops/" + d + "/actions/reboot").ok());
  EXPECT_TRUE(wait_for_text(log, "ORIEL-MARKER-PRESENT", 60s, offset)) << read_file(log);
  EXPECT_EQ(count_of(read_file(log), "ORIEL-MARKER-ABSENT"), 1u) << read_file(log);
  EXPECT_FALSE(fs::exists(log + ".1")) << "the desktop was started again: " << read_file(log + ".1");

  // Another user of the pool gets a desktop of their own.
  TestUser bea = user(tenant, "bea2", p);
  Reply other = logon(bea, p);
  ASSERT_EQ(other.status, 201) << other.body;
  EXPECT_NE(other.json["desktop_id"], d);
  Json j = pool(p);
  EXPECT_EQ(j["assigned"], 2) << j.dump();
  EXPECT_EQ(j["sessions"], 2) << j.dump();
}

TEST_F(BrokerApiTest, ASecondLogonReturnsTheOpenSessionWithANewTicket) {
  std::string tenant = create_tenant(*admin_, "Twice GmbH");
  std::string p = create_pool(*admin_, tenant, image_, "Office", "pooled", 1, 0);
  TestUser ana = user(tenant, "ana3", p);
  Reply first = logon(ana, p);
  ASSERT_EQ(first.status, 201) << first.body;
  Reply second = logon(ana, p);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.json["id"], first.json["id"]);
  EXPECT_EQ(second.json["desktop_id"], first.json["desktop_id"]);
  EXPECT_FALSE(ticket_of(second.json).empty()) << second.body;
  EXPECT_NE(ticket_of(second.json), ticket_of(first.json));
  EXPECT_EQ(ana.client.get("/api/v1/sessions").value().size(), 1u);

  Reply fresh = call(ana.client, "POST", "/api/v1/sessions/" + first.json["id"].get<std::string>() + "/tickets");
  ASSERT_EQ(fresh.status, 201) << fresh.body;
  std::set<std::string> tickets = {ticket_of(first.json), ticket_of(second.json), ticket_of(fresh.json)};
  EXPECT_EQ(tickets.size(), 3u) << fresh.body;
  EXPECT_FALSE(fresh.json.value("ticket_expires_at", "").empty()) << fresh.body;
  // The pool is full (size 1), and the second logon did not take a second desktop.
  EXPECT_EQ(pool(p)["desktops"], 1);
  EXPECT_EQ(first.json["display_url"].get<std::string>().rfind("wss://127.0.0.1:", 0), 0u) << first.body;

  // Security probe #10: a Host header that is more than a host and a port
  // makes no display URL (and no ticket), and changes nothing.
  SystemProcessRunner runner;
  auto forged =
      runner
          .run({"curl", "-sS", "--cacert", orield_->ca_file(), "-H", "Authorization: Bearer " + ana.client.token(),
                "-H", "Content-Type: application/json", "-H", "Host: evil.example/steal?x=", "--data",
                Json{{"pool_id", p}}.dump(), "-w", "\n%{http_code}", orield_->url() + "/api/v1/sessions"},
               {.timeout = 30s})
          .value();
  EXPECT_EQ(forged.out.substr(forged.out.rfind('\n') + 1), "400") << forged.out << forged.err;
  EXPECT_EQ(forged.out.find("evil.example"), std::string::npos) << forged.out;
  EXPECT_EQ(ana.client.get("/api/v1/sessions").value().size(), 1u);
}

TEST_F(BrokerApiTest, RevokedTokensAndTokensOfDeletedUsersAre401) {
  std::string tenant = create_tenant(*admin_, "Tokens SA");
  std::string p = create_pool(*admin_, tenant, image_, "Office", "pooled", 1, 0);
  TestUser ana = user(tenant, "ana4", p);
  auto second = orield_->client();
  ASSERT_TRUE(second.login(ana.username, ana.password).ok());
  ASSERT_EQ(call(ana.client, "GET", "/api/v1/auth/me").json["id"], ana.id);

  // Logout revokes the token it was called with, and only that one.
  Reply out = call(ana.client, "POST", "/api/v1/auth/logout");
  ASSERT_LT(out.status, 300) << out.body;
  for (const char* path : {"/api/v1/pools", "/api/v1/sessions", "/api/v1/auth/me"}) {
    Reply r = call(ana.client, "GET", path);
    EXPECT_EQ(r.status, 401) << path << ": " << r.body;
    EXPECT_EQ(r.json["error"]["code"], "unauthenticated") << r.body;
  }
  Reply refused = logon(ana, p);
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(call(second, "GET", "/api/v1/auth/me").status, 200);

  // Deleting the user revokes every token they had.
  ASSERT_TRUE(admin_->del("/api/v1/users/" + ana.id).ok());
  Reply gone = call(second, "GET", "/api/v1/pools");
  EXPECT_EQ(gone.status, 401) << gone.body;
  second.set_token("forged-" + std::string(40, 'a'));
  EXPECT_EQ(call(second, "GET", "/api/v1/pools").status, 401);
  EXPECT_EQ(pool(p)["sessions"], 0) << "no logon got through";
}

// Names an attacker or an unlucky admin might type. Names of tenants and
// pools are any 1–200 bytes of UTF-8 but NUL; usernames 1–100 bytes without
// spaces or control characters (docs/api.md).
const std::vector<std::string> kVerbatimNames = {"Robert \"Bobby\" O'Brien",
                                                 "'); DROP TABLE pools;--",
                                                 "\" OR \"1\"=\"1",
                                                 "Zoë 東京 🚀 مرحبا",
                                                 "back\\slash %s %n {{name}} <b>bold</b>",
                                                 std::string(200, 'x')};

TEST_F(BrokerApiTest, HostileTenantAndPoolNamesAreStoredVerbatimOrRefusedWith400) {
  std::vector<std::string> names = kVerbatimNames;
  std::string e200;
  for (int i = 0; i < 100; ++i) e200 += "é";  // 200 bytes, 100 characters
  names.push_back(e200);
  std::string tenant_for_pools = create_tenant(*admin_, "Names AG");
  std::set<std::string> pool_ids;
  for (const auto& name : names) {
    Reply t = call(*admin_, "POST", "/api/v1/tenants", {{"name", name}});
    ASSERT_EQ(t.status, 201) << name << ": " << t.body;
    Json back = admin_->get("/api/v1/tenants/" + t.json["id"].get<std::string>()).value();
    EXPECT_EQ(back["name"], name);
    Reply p = call(*admin_, "POST", "/api/v1/pools",
                   {{"name", name},
                    {"tenant_id", tenant_for_pools},
                    {"image_id", image_},
                    {"type", "pooled"},
                    {"size", 1},
                    {"spare", 0},
                    {"vcpus", 1},
                    {"memory_mb", 128}});
    ASSERT_EQ(p.status, 201) << name << ": " << p.body;
    EXPECT_EQ(pool(p.json["id"])["name"], name);
    pool_ids.insert(p.json["id"]);
  }
  // Listed verbatim too.
  Json tenants = admin_->get("/api/v1/tenants").value();
  for (const auto& name : names) {
    EXPECT_TRUE(std::any_of(tenants.begin(), tenants.end(), [&](const Json& t) { return t["name"] == name; })) << name;
  }
  Json pools = admin_->get("/api/v1/pools?tenant_id=" + tenant_for_pools).value();
  EXPECT_EQ(pools.size(), names.size()) << pools.dump();

  // Too long, empty, NUL, not UTF-8: 400, and nothing made.
  size_t tenant_count = tenants.size();
  std::vector<std::string> bad_bodies = {Json{{"name", std::string(201, 'x')}}.dump(),
                                         Json{{"name", std::string(10 * 1024, 'y')}}.dump(), Json{{"name", ""}}.dump(),
                                         R"({"name": "nul\u0000inside"})", "{\"name\": \"bad \xff\xfe utf8\"}"};
  for (const auto& body : bad_bodies) {
    auto r = admin_->request("POST", "/api/v1/tenants", body);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << body.substr(0, 60) << ": " << r->body;
    EXPECT_NE(r->body.find("\"invalid_argument\""), std::string::npos) << r->body;
    std::string pool_body = body;
    pool_body.insert(1, fmt::format("\"tenant_id\":\"{}\",\"image_id\":\"{}\",\"type\":\"pooled\",\"size\":1,"
                                    "\"spare\":0,\"vcpus\":1,\"memory_mb\":128,",
                                    tenant_for_pools, image_));
    auto q = admin_->request("POST", "/api/v1/pools", pool_body);
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->status, 400) << pool_body.substr(0, 200) << ": " << q->body;
  }
  EXPECT_EQ(admin_->get("/api/v1/tenants").value().size(), tenant_count);
  EXPECT_EQ(admin_->get("/api/v1/pools?tenant_id=" + tenant_for_pools).value().size(), names.size());

  // A filter value that looks like SQL matches nothing.
  for (const char* path : {"/api/v1/pools?tenant_id=", "/api/v1/users?tenant_id=", "/api/v1/sessions?pool_id="}) {
    Reply r = call(*admin_, "GET", path + net::escape_path_segment("' OR '1'='1"));
    EXPECT_TRUE(r.status == 200 ? r.json.is_array() && r.json.empty() : r.status == 400 || r.status == 404)
        << path << ": " << r.status << " " << r.body.substr(0, 300);
  }
  EXPECT_EQ(call(*admin_, "GET", "/healthz").status, 200);
}

TEST_F(BrokerApiTest, APoolWithAHostileNameStillMakesAndBootsItsDesktops) {
  // Desktops are named after their pool: the name reaches the store, the
  // run directory and QEMU's command line.
  std::string tenant = create_tenant(*admin_, "Boots Ltd");
  std::string name = "Ops, \"QA\" & 'Dev' 東京 🚀; DROP TABLE desktops;-- $(reboot) `id` name=x,y";
  std::string p = create_pool(*admin_, tenant, image_, name, "pooled", 1, 1);
  ASSERT_TRUE(wait_until([&] { return pool(p)["running_free"] == 1; }, 60s))
      << pool(p).dump() << "\n"
      << admin_->get("/api/v1/desktops?pool_id=" + p).value().dump(1);
  Json desktops = admin_->get("/api/v1/desktops?pool_id=" + p).value();
  ASSERT_EQ(desktops.size(), 1u);
  std::string d = desktops[0]["id"];
  EXPECT_TRUE(wait_for_text(orield_->serial_log(d), "ORIEL-GUEST-READY", 60s));
  // The longest allowed name still leaves room for the desktops' names.
  std::string longest =
      create_pool(*admin_, tenant, image_, std::string(200, 'L'), "pooled", 1, 0, {{"provisioning", "up-front"}});
  ASSERT_TRUE(wait_until([&] { return pool(longest)["desktops"] == 1; }, 30s)) << pool(longest).dump();
  EXPECT_TRUE(pool(longest)["message"].is_null()) << pool(longest).dump();
}

TEST_F(BrokerApiTest, HostileUsernamesAreStoredVerbatimAndCanLogIn) {
  std::string tenant = create_tenant(*admin_, "Users Oy");
  for (const std::string& name : {std::string("o'brien\"bobby\""), std::string("');DROP_TABLE_users;--"),
                                  std::string("zoë.東京🚀"), std::string(100, 'u')}) {
    TestUser u = create_user(*orield_, *admin_, tenant, name);  // throws if created but cannot log in
    EXPECT_EQ(admin_->get("/api/v1/users/" + u.id).value()["username"], name);
    EXPECT_EQ(u.client.get("/api/v1/auth/me").value()["username"], name);
  }
  for (const std::string& name : {std::string("'); DROP TABLE pools;--"), std::string("tab\there"),
                                  std::string(101, 'u'), std::string(10 * 1024, 'v'), std::string()}) {
    Reply r = call(*admin_, "POST", "/api/v1/users",
                   {{"username", name}, {"password", "long-enough-pw"}, {"role", "user"}, {"tenant_id", tenant}});
    EXPECT_EQ(r.status, 400) << name.substr(0, 40) << ": " << r.body;
  }
  Json users = admin_->get("/api/v1/users?tenant_id=" + tenant).value();
  EXPECT_EQ(users.size(), 4u) << users.dump();
  // Still working: the tables the names talk about are there.
  EXPECT_TRUE(admin_->get("/api/v1/pools").ok());
  EXPECT_TRUE(orield_->admin().get("/api/v1/users").ok());
}

TEST_F(BrokerApiTest, TheAuditLogShowsATenantsActionsAndUsageCountsToday) {
  std::string today = utc_day();
  std::string tenant = create_tenant(*admin_, "Audited BV");
  std::string other = create_tenant(*admin_, "Elsewhere BV");
  std::string p = create_pool(*admin_, tenant, image_, "Office", "pooled", 1, 0);
  std::string q = create_pool(*admin_, other, image_, "Elsewhere", "pooled", 1, 0);
  TestUser boss = create_user(*orield_, *admin_, tenant, "audit-boss", "tenant-admin");
  TestUser ana = create_user(*orield_, boss.client, tenant, "audit-ana");
  entitle(boss.client, p, ana.id);
  Reply s = logon(ana, p);
  ASSERT_EQ(s.status, 201) << s.body;
  std::string sid = s.json["id"], d = s.json["desktop_id"];
  EXPECT_EQ(logon(ana, q).status, 404) << "a pool of another tenant";
  ASSERT_TRUE(wait_for_text(orield_->serial_log(d), "ORIEL-GUEST-READY", 60s));
  ASSERT_EQ(call(ana.client, "DELETE", "/api/v1/sessions/" + sid).status, 202);

  Json log = admin_->get("/api/v1/audit?tenant_id=" + tenant + "&limit=1000").value();
  Json events = log["events"];
  ASSERT_FALSE(events.empty()) << log.dump();
  std::map<std::string, std::vector<Json>> by_action;
  int64_t last_seq = INT64_MAX;
  for (const auto& e : events) {
    for (const char* field : {"seq", "at", "tenant_id", "user_id", "username", "action", "target", "address", "status",
                              "result", "detail"}) {
      EXPECT_TRUE(e.contains(field)) << field << " missing: " << e.dump();
    }
    EXPECT_EQ(e["tenant_id"], tenant) << e.dump();
    EXPECT_LT(e["seq"].get<int64_t>(), last_seq) << "not newest first";
    last_seq = e["seq"].get<int64_t>();
    by_action[e["action"]].push_back(e);
  }
  auto has = [&](const std::string& action, auto pred) {
    auto& list = by_action[action];
    return std::any_of(list.begin(), list.end(), pred);
  };
  EXPECT_TRUE(has("pool.create", [&](const Json& e) { return e["target"] == p && e["status"] == 201; }))
      << events.dump(1);
  // The tenant is its own; an entitlement is the pool's, in the user's tenant.
  EXPECT_TRUE(has("tenant.create", [&](const Json& e) { return e["target"] == tenant && e["status"] == 201; }))
      << events.dump(1);
  EXPECT_TRUE(has("pool.entitle", [&](const Json& e) { return e["target"] == p && e["username"] == "audit-boss"; }))
      << events.dump(1);
  EXPECT_TRUE(has("session.logoff", [&](const Json& e) {
    return e["target"] == sid && e["username"] == "audit-ana" && e["status"] == 202 && e["result"] == "ok";
  })) << events.dump(1);
  bool logon_ok = false, logon_refused = false;
  for (const auto& e : events) {
    if (e["action"] == "session.logoff" || e["username"] != "audit-ana") continue;
    std::string action = e["action"];
    if (action.rfind("session.", 0) != 0) continue;
    logon_ok |= e["target"] == sid && e["status"] == 201 && e["result"] == "ok";
    logon_refused |= e["status"] == 404 && e["result"] == "not_found";
  }
  EXPECT_TRUE(logon_ok) << "no event for the logon: " << events.dump(1);
  EXPECT_TRUE(logon_refused) << "no event for the refused logon: " << events.dump(1);
  EXPECT_TRUE(std::none_of(events.begin(), events.end(), [&](const Json& e) { return e["target"] == q; }));

  // The tenant-admin sees their tenant's events only; a user none.
  Json theirs = boss.client.get("/api/v1/audit?limit=1000").value()["events"];
  EXPECT_FALSE(theirs.empty());
  for (const auto& e : theirs) EXPECT_EQ(e["tenant_id"], tenant) << e.dump();
  EXPECT_EQ(call(ana.client, "GET", "/api/v1/audit").status, 403);

  // Usage: the desktop ran and ana had a session today.
  std::string range = "/api/v1/usage?from=" + today + "&to=" + today + "&tenant_id=" + tenant;
  Json usage = admin_->get(range).value();
  EXPECT_EQ(usage["from"], today);
  EXPECT_EQ(usage["to"], today);
  bool desktop_row = false, session_row = false;
  for (const auto& r : usage["desktops"]) {
    EXPECT_EQ(r["day"], today);
    EXPECT_EQ(r["tenant_id"], tenant);
    EXPECT_GE(r["desktop_hours"].get<double>(), 0.0) << r.dump();
    desktop_row |= r["pool_id"] == p;
  }
  for (const auto& r : usage["sessions"]) {
    EXPECT_EQ(r["day"], today);
    EXPECT_EQ(r["tenant_id"], tenant);
    EXPECT_GE(r["session_hours"].get<double>(), 0.0) << r.dump();
    session_row |= r["user_id"] == ana.id && r["username"] == "audit-ana";
  }
  EXPECT_TRUE(desktop_row) << usage.dump();
  EXPECT_TRUE(session_row) << usage.dump();
  Reply boss_usage = call(boss.client, "GET", range);
  ASSERT_EQ(boss_usage.status, 200) << boss_usage.body;
  EXPECT_EQ(boss_usage.json["desktops"].size(), usage["desktops"].size()) << boss_usage.body;
  EXPECT_EQ(boss_usage.json["sessions"].size(), usage["sessions"].size()) << boss_usage.body;

  Reply csv = call(*admin_, "GET", range + "&format=csv");
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.content_type.rfind("text/csv", 0), 0u) << csv.content_type;
  std::istringstream lines(csv.body);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  EXPECT_EQ(line, "kind,day,tenant_id,pool_id,user_id,username,hours");
  size_t rows = 0;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    ++rows;
    std::vector<std::string> f;
    std::stringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    ASSERT_EQ(f.size(), 7u) << line;
    EXPECT_TRUE(f[0] == "desktop" || f[0] == "session") << line;
    EXPECT_EQ(f[1], today) << line;
    EXPECT_EQ(f[2], tenant) << line;
    EXPECT_GE(std::stod(f[6]), 0.0) << line;
  }
  EXPECT_EQ(rows, usage["desktops"].size() + usage["sessions"].size()) << csv.body;
}

}  // namespace
}  // namespace oriel::testing
