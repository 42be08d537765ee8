// The broker's commands (tenant, user, whoami, pool, session, audit, usage)
// in process against a scripted HTTP peer: the request each one sends
// (method, path, escaped ids and query, body), what it prints for people and
// for scripts, and the exit code of each kind of refusal (docs/cli.md).
#include <stdlib.h>

#include <iostream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "app.h"
#include "scripted_peer.h"
#include "temp_dir.h"

namespace oriel::cli {
namespace {

using net::testing::json_error;
using net::testing::Reply;
using net::testing::ScriptedPeer;
using net::testing::SeenRequest;

struct CliRun {
  int code;
  std::string out, err;
};

// Replaces what std::cin reads (the source of --password-stdin) for its lifetime.
class StdinFrom {
 public:
  explicit StdinFrom(const std::string& text) : in_(text), saved_(std::cin.rdbuf(in_.rdbuf())) { std::cin.clear(); }
  ~StdinFrom() {
    std::cin.rdbuf(saved_);
    std::cin.clear();
  }
  StdinFrom(const StdinFrom&) = delete;
  StdinFrom& operator=(const StdinFrom&) = delete;

 private:
  std::istringstream in_;
  std::streambuf* saved_;
};

// Answers "METHOD target" from a fixed table; anything else is a 404, as
// orield answers an unknown route.
ScriptedPeer::Handler routes(std::map<std::string, Reply> table) {
  return [table = std::move(table)](const SeenRequest& r) {
    auto it = table.find(r.method + " " + r.target);
    if (it != table.end()) return it->second;
    return json_error(404, "not_found", "no route " + r.method + " " + r.target);
  };
}

Json body_of(const SeenRequest& r) { return r.body.empty() ? Json() : Json::parse(r.body); }

class BrokerCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ::setenv("XDG_CONFIG_HOME", (dir_.path() / "config").c_str(), 1);
    ::unsetenv("ORIEL_SERVER");
    ::unsetenv("ORIEL_TOKEN");
  }
  void TearDown() override { ::unsetenv("XDG_CONFIG_HOME"); }

  // Runs `oriel --server URL ARGS...` with the clock at kNow.
  CliRun run(const ScriptedPeer& server, std::vector<std::string> args) {
    std::ostringstream out, err;
    Context ctx(out, err);
    ctx.clock = &clock_;
    std::vector<std::string> all = {"oriel", "--server", server.url()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    argv.reserve(all.size());
    for (const auto& a : all) argv.push_back(a.c_str());
    int code = run_cli(static_cast<int>(argv.size()), argv.data(), ctx);
    return {code, out.str(), err.str()};
  }

  ManualClock clock_{*parse_rfc3339("2026-11-22T12:00:00.000Z")};
  testing::TempDir dir_;
};

const char* kTenant = R"({"id":"t-1","name":"Acme Corp","created_at":"2026-11-22T10:00:00.000Z",
  "quota":{"desktops":10,"vcpus":null,"memory_mb":8192,"disk_gb":null},
  "audit":{"retention_days":365,"legal_hold":true},
  "usage":{"desktops":3,"vcpus":4,"memory_mb":4096,"disk_gb":12.5}})";
const char* kUser = R"({"id":"u-1","username":"ana","role":"user","tenant_id":"t-1","locked_until":null,
  "created_at":"2026-11-21T12:00:00.000Z"})";
const char* kPool = R"({"id":"p-1","name":"Office","tenant_id":"t-1","image_id":"i-1","type":"pooled","size":20,
  "spare":2,"vcpus":2,"memory_mb":2048,"idle_timeout_s":1800,"provisioning":"on-demand","state":"active",
  "desktops":5,"assigned":3,"free":2,"running_free":1,"sessions":3,"message":"no host has room for more desktops",
  "created_at":"2026-11-22T09:00:00.000Z","updated_at":"2026-11-22T11:00:00.000Z"})";
const char* kSession = R"({"id":"s-1","pool_id":"p-1","tenant_id":"t-1","user_id":"u-1","username":"ana",
  "desktop_id":"d-7","state":"connecting","client_address":"10.0.0.9","created_at":"2026-11-22T11:59:00.000Z",
  "last_activity_at":"2026-11-22T11:59:00.000Z","ended_at":null,
  "display_url":"ws://127.0.0.1:8080/display/s-1?ticket=abc","ticket_expires_at":"2026-11-22T12:00:00.000Z"})";

TEST_F(BrokerCliTest, TenantCommandsSendTheDocumentedRequests) {
  ScriptedPeer server(routes({{"POST /api/v1/tenants", {201, kTenant}},
                              {"GET /api/v1/tenants", {200, std::string("[") + kTenant + "]"}},
                              {"GET /api/v1/tenants/t%201%2Fx", {200, kTenant}},
                              {"DELETE /api/v1/tenants/t-1", {200, "{}"}}}));
  auto created = run(server, {"tenant", "create", "Acme Corp"});
  EXPECT_EQ(created.code, 0) << created.err;
  EXPECT_EQ(created.out,
            "ID:                t-1\nName:              Acme Corp\nDesktops:          3 of 10\n"
            "vCPUs (running):   4\nMemory (running):  4096 MiB of 8192 MiB\nDisk:              12.5 GB\n"
            "Audit:             kept 365 days, under a legal hold\nCreated:           2026-11-22T10:00:00.000Z\n");
  auto list = run(server, {"tenant", "list"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(list.out, "ID   NAME       AGE\nt-1  Acme Corp  2h\n");
  EXPECT_EQ(run(server, {"tenant", "show", "t 1/x"}).code, 0);  // the id stays one path segment
  auto deleted = run(server, {"tenant", "delete", "t-1"});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "Deleted tenant t-1.\n");

  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(body_of(seen[0]), Json({{"name", "Acme Corp"}}));
  EXPECT_EQ(seen[2].method + " " + seen[2].target, "GET /api/v1/tenants/t%201%2Fx");
  EXPECT_EQ(seen[3].method, "DELETE");
}

TEST_F(BrokerCliTest, TenantQuotaSetsTheLimitsGivenAndNoneForTheRest) {
  ScriptedPeer server(routes({{"PATCH /api/v1/tenants/t-1", {200, kTenant}}}));
  auto r = run(server, {"tenant", "quota", "t-1", "--desktops", "10", "--memory-mb", "8192"});
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(body_of(server.requests()[0]), Json({{"quota", {{"desktops", 10}, {"memory_mb", 8192}}}}));
  EXPECT_EQ(run(server, {"tenant", "quota", "t-1", "--vcpus", "-2"}).code, 2) << "a limit is 0 or more";
}

TEST_F(BrokerCliTest, TenantAuditSendsOnlyWhatIsGiven) {
  ScriptedPeer server(routes({{"PATCH /api/v1/tenants/t-1", {200, kTenant}},
                              {"GET /api/v1/audit/archives?tenant_id=t-1",
                               {200, R"([{"tenant_id":"t-1","first_seq":1,"last_seq":40,"events":40,
                                   "file":"audit-t-1-000000000001-000000000040.jsonl.gz","sha256":"ab12",
                                   "archived_at":"2026-11-22T11:00:00.000Z"}])"}}}));
  auto r = run(server, {"tenant", "audit", "t-1", "--legal-hold", "on"});
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(body_of(server.requests()[0]), Json({{"audit", {{"legal_hold", true}}}}));
  EXPECT_EQ(run(server, {"tenant", "audit", "t-1"}).code, 2) << "nothing to set";
  EXPECT_EQ(run(server, {"tenant", "audit", "t-1", "--legal-hold", "maybe"}).code, 2);
  auto archives = run(server, {"audit", "--archives", "--tenant", "t-1"});
  EXPECT_EQ(archives.code, 0) << archives.err;
  EXPECT_NE(archives.out.find("1-40"), std::string::npos) << archives.out;
  EXPECT_NE(archives.out.find("audit-t-1-000000000001-000000000040.jsonl.gz"), std::string::npos);
}

TEST_F(BrokerCliTest, JsonOutputIsTheServersAnswer) {
  std::string list = std::string("[") + kTenant + "]";
  ScriptedPeer server(routes({{"GET /api/v1/tenants", {200, list}}, {"DELETE /api/v1/tenants/t-1", {200, "{}"}}}));
  auto r = run(server, {"-o", "json", "tenant", "list"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, Json::parse(list).dump(2) + "\n");
  auto deleted = run(server, {"tenant", "delete", "t-1", "-o", "json"});
  EXPECT_EQ(deleted.out, "{}\n");
}

TEST_F(BrokerCliTest, UserCreateSendsThePasswordFromStdinWithRoleAndTenant) {
  ScriptedPeer server(routes({{"POST /api/v1/users", {201, kUser}}}));
  StdinFrom in("correct horse battery\r\n");
  auto r = run(server, {"user", "create", "ana", "--role", "user", "--tenant", "t-1", "--password-stdin"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Username:      ana\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Locked until:  -\n"), std::string::npos) << r.out;
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(body_of(server.requests()[0]),
            Json({{"username", "ana"}, {"password", "correct horse battery"}, {"role", "user"}, {"tenant_id", "t-1"}}));
}

TEST_F(BrokerCliTest, AnAdminIsCreatedWithoutATenant) {
  ScriptedPeer server(routes({{"POST /api/v1/users", {201, kUser}}}));
  StdinFrom in("long-enough-password\n");
  auto r = run(server, {"user", "create", "root2", "--role", "admin", "--password-stdin"});
  EXPECT_EQ(r.code, 0) << r.err;
  Json body = body_of(server.requests().at(0));
  EXPECT_FALSE(body.contains("tenant_id")) << body;
  EXPECT_EQ(body["role"], "admin");
}

TEST_F(BrokerCliTest, UserCreateRefusesBadInputBeforeAskingTheServer) {
  ScriptedPeer server(routes({{"POST /api/v1/users", {201, kUser}}}));
  auto no_terminal = run(server, {"user", "create", "ana", "--role", "user"});
  EXPECT_EQ(no_terminal.code, 2);
  EXPECT_NE(no_terminal.err.find("--password-stdin"), std::string::npos) << no_terminal.err;
  EXPECT_EQ(run(server, {"user", "create", "ana", "--password-stdin"}).code, 2);  // --role is required
  EXPECT_EQ(run(server, {"user", "create", "ana", "--role", "root", "--password-stdin"}).code, 2);
  {
    StdinFrom empty("\n");
    auto r = run(server, {"user", "create", "ana", "--role", "user", "--password-stdin"});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(r.err, "oriel: the password is empty\n");
  }
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(BrokerCliTest, UserListEscapesTheTenantFilterAndShowsATable) {
  std::string locked = R"({"id":"u-2","username":"bo","role":"tenant-admin","tenant_id":"t-1",
    "locked_until":"2026-11-22T12:15:00.000Z","created_at":"2026-11-22T11:00:00.000Z"})";
  ScriptedPeer server(
      routes({{"GET /api/v1/users?tenant_id=t-1%26role%3Dadmin", {200, std::string("[") + kUser + "," + locked + "]"}},
              {"GET /api/v1/users", {200, "[]"}}}));
  auto r = run(server, {"user", "list", "--tenant", "t-1&role=admin"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "ID   USERNAME  ROLE          TENANT  LOCKED UNTIL              AGE\n"
                   "u-1  ana       user          t-1     -                         1d\n"
                   "u-2  bo        tenant-admin  t-1     2026-11-22T12:15:00.000Z  1h\n");
  auto all = run(server, {"user", "list"});
  EXPECT_EQ(all.out, "ID  USERNAME  ROLE  TENANT  LOCKED UNTIL  AGE\n");
  EXPECT_EQ(server.requests().at(1).target, "/api/v1/users");
}

TEST_F(BrokerCliTest, UnlockAndPasswdArePatchesOfTheUser) {
  ScriptedPeer server(routes({{"PATCH /api/v1/users/u-1", {200, kUser}},
                              {"GET /api/v1/auth/me", {200, R"({"id":"u-9","username":"boss"})"}}}));
  auto unlock = run(server, {"user", "unlock", "u-1"});
  EXPECT_EQ(unlock.code, 0) << unlock.err;
  EXPECT_EQ(unlock.out, "Unlocked user 'ana' (u-1).\n");
  StdinFrom in("a-new-password\n");
  auto passwd = run(server, {"user", "passwd", "u-1", "--password-stdin"});
  EXPECT_EQ(passwd.code, 0) << passwd.err;
  EXPECT_EQ(passwd.out, "Changed the password of user 'ana' (u-1).\n");
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "PATCH");
  EXPECT_EQ(body_of(seen[0]), Json({{"unlock", true}}));
  EXPECT_EQ(seen[1].target, "/api/v1/auth/me");
  EXPECT_EQ(body_of(seen[2]), Json({{"password", "a-new-password"}}));
}

TEST_F(BrokerCliTest, YourOwnPasswordNeedsTheCurrentOne) {
  ScriptedPeer server(routes({{"PATCH /api/v1/users/u-1", {200, kUser}}, {"GET /api/v1/auth/me", {200, kUser}}}));
  StdinFrom in("the-current-one\na-new-password\n");
  auto passwd = run(server, {"user", "passwd", "--password-stdin"});  // no id: yourself
  EXPECT_EQ(passwd.code, 0) << passwd.err;
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].target, "/api/v1/users/u-1");
  EXPECT_EQ(body_of(seen[1]), Json({{"current_password", "the-current-one"}, {"password", "a-new-password"}}));
}

TEST_F(BrokerCliTest, WhoamiShowAndDeleteUsers) {
  ScriptedPeer server(routes({{"GET /api/v1/auth/me", {200, kUser}},
                              {"GET /api/v1/users/u-1", {200, kUser}},
                              {"DELETE /api/v1/users/u-1", {200, "{}"}}}));
  auto me = run(server, {"whoami"});
  EXPECT_EQ(me.code, 0) << me.err;
  EXPECT_EQ(me.out, "ID:            u-1\nUsername:      ana\nRole:          user\nTenant:        t-1\n"
                    "Locked until:  -\nCreated:       2026-11-21T12:00:00.000Z\n");
  EXPECT_EQ(run(server, {"user", "show", "u-1"}).out, me.out);
  auto deleted = run(server, {"user", "delete", "u-1"});
  EXPECT_EQ(deleted.out, "Deleted user u-1.\n");
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].target, "/api/v1/auth/me");
  EXPECT_EQ(seen[2].method + " " + seen[2].target, "DELETE /api/v1/users/u-1");
}

TEST_F(BrokerCliTest, PoolCreateSendsEveryFieldAsTheRightType) {
  ScriptedPeer server(routes({{"POST /api/v1/pools", {201, kPool}}}));
  auto r =
      run(server, {"pool",   "create",           "Office", "--tenant",       "t-1",     "--image", "i-1", "--type",
                   "pooled", "--size",           "20",     "--spare",        "2",       "--vcpus", "2",   "--memory-mb",
                   "2048",   "--idle-timeout-s", "1800",   "--provisioning", "up-front"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(body_of(server.requests().at(0)), Json({{"name", "Office"},
                                                    {"tenant_id", "t-1"},
                                                    {"image_id", "i-1"},
                                                    {"type", "pooled"},
                                                    {"size", 20},
                                                    {"spare", 2},
                                                    {"vcpus", 2},
                                                    {"memory_mb", 2048},
                                                    {"idle_timeout_s", 1800},
                                                    {"provisioning", "up-front"}}));
  EXPECT_NE(r.out.find("Memory:        2 GiB\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Idle timeout:  1800 s\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Message:       no host has room for more desktops\n"), std::string::npos) << r.out;
}

TEST_F(BrokerCliTest, PoolCreateNeedsItsShapeAndAKnownType) {
  ScriptedPeer server(routes({{"POST /api/v1/pools", {201, kPool}}}));
  const std::vector<std::string> base = {"pool",   "create", "Office",  "--tenant", "t-1",         "--image", "i-1",
                                         "--size", "20",     "--vcpus", "2",        "--memory-mb", "2048"};
  auto with = [&base](std::vector<std::string> more) {
    auto args = base;
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  EXPECT_EQ(run(server, with({"--type", "pooled"})).code, 2);  // no --spare
  EXPECT_EQ(run(server, with({"--type", "shared", "--spare", "1"})).code, 2);
  EXPECT_EQ(run(server, with({"--type", "pooled", "--spare", "1", "--provisioning", "lazy"})).code, 2);
  EXPECT_EQ(run(server, with({"--type", "pooled", "--spare", "1", "--size", "10001"})).code, 2);
  EXPECT_TRUE(server.requests().empty());
  auto ok = run(server, with({"--type", "persistent", "--spare", "0"}));
  EXPECT_EQ(ok.code, 0) << ok.err;
  Json body = body_of(server.requests().at(0));
  EXPECT_FALSE(body.contains("idle_timeout_s")) << body;  // the server's default applies
  EXPECT_FALSE(body.contains("provisioning")) << body;
}

TEST_F(BrokerCliTest, PoolSetSendsOnlyTheFieldsGiven) {
  ScriptedPeer server(routes({{"PATCH /api/v1/pools/p-1", {200, kPool}}}));
  auto r = run(server, {"pool", "set", "p-1", "--spare", "3", "--provisioning", "up-front", "--idle-timeout-s", "0"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(body_of(server.requests().at(0)),
            Json({{"spare", 3}, {"provisioning", "up-front"}, {"idle_timeout_s", 0}}));
  auto renamed = run(server, {"pool", "set", "p-1", "--name", "Office 2", "--image", "i-2"});
  EXPECT_EQ(renamed.code, 0) << renamed.err;
  EXPECT_EQ(body_of(server.requests().at(1)), Json({{"name", "Office 2"}, {"image_id", "i-2"}}));
  auto nothing = run(server, {"pool", "set", "p-1"});
  EXPECT_EQ(nothing.code, 2);
  EXPECT_NE(nothing.err.find("nothing to change"), std::string::npos) << nothing.err;
  EXPECT_EQ(run(server, {"pool", "set", "p-1", "--type", "persistent"}).code, 2);  // not an option of set
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(BrokerCliTest, PoolListShowAndDelete) {
  ScriptedPeer server(routes({{"GET /api/v1/pools?tenant_id=t-1", {200, std::string("[") + kPool + "]"}},
                              {"GET /api/v1/pools/p-1", {200, kPool}},
                              {"DELETE /api/v1/pools/p-1", {202, kPool}}}));
  auto list = run(server, {"pool", "list", "--tenant", "t-1"});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(list.out,
            "ID   NAME    TENANT  TYPE    IMAGE  DESKTOPS  IN USE  READY  SESSIONS  STATE   MESSAGE\n"
            "p-1  Office  t-1     pooled  i-1    5/20      3       1/2    3         active  no host has room for more "
            "desktops\n");
  auto show = run(server, {"pool", "show", "p-1"});
  EXPECT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("Ready:         1\n"), std::string::npos) << show.out;
  auto deleted = run(server, {"pool", "delete", "p-1"});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "Deleting pool p-1: its desktops go first, then the pool.\n");
  EXPECT_EQ(server.requests().at(2).method, "DELETE");
}

TEST_F(BrokerCliTest, EntitlementsAddRemoveAndList) {
  const char* kEntitlement = R"({"pool_id":"p-1","user_id":"u-1","username":"ana"})";
  ScriptedPeer server(routes({{"POST /api/v1/pools/p-1/entitlements", {201, kEntitlement}},
                              {"DELETE /api/v1/pools/p-1/entitlements/u%2F1", {200, "{}"}},
                              {"GET /api/v1/pools/p-1/entitlements", {200, std::string("[") + kEntitlement + "]"}}}));
  auto entitle = run(server, {"pool", "entitle", "p-1", "u-1"});
  EXPECT_EQ(entitle.code, 0) << entitle.err;
  EXPECT_EQ(entitle.out, "User 'ana' (u-1) may now use pool p-1.\n");
  EXPECT_EQ(body_of(server.requests().at(0)), Json({{"user_id", "u-1"}}));
  auto unentitle = run(server, {"pool", "unentitle", "p-1", "u/1"});
  EXPECT_EQ(unentitle.code, 0) << unentitle.err;
  EXPECT_EQ(unentitle.out, "User u/1 may no longer use pool p-1.\n");
  auto list = run(server, {"pool", "entitlements", "p-1"});
  EXPECT_EQ(list.out, "USER  USERNAME\nu-1   ana\n");
  EXPECT_EQ(server.requests().at(1).method + " " + server.requests().at(1).target,
            "DELETE /api/v1/pools/p-1/entitlements/u%2F1");
}

TEST_F(BrokerCliTest, SessionStartPrintsTheSessionDesktopAndDisplayUrl) {
  ScriptedPeer server(routes({{"POST /api/v1/sessions", {201, kSession}}}));
  auto r = run(server, {"session", "start", "p-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Session:         s-1\n"
                   "Desktop:         d-7\n"
                   "State:           connecting\n"
                   "Display URL:     ws://127.0.0.1:8080/display/s-1?ticket=abc\n"
                   "Ticket expires:  2026-11-22T12:00:00.000Z\n");
  EXPECT_EQ(body_of(server.requests().at(0)), Json({{"pool_id", "p-1"}}));
  auto json = run(server, {"-o", "json", "session", "start", "p-1"});
  EXPECT_EQ(Json::parse(json.out), Json::parse(kSession));
}

TEST_F(BrokerCliTest, SessionListFiltersAndIncludesEndedOnlyWithAll) {
  ScriptedPeer server(routes({{"GET /api/v1/sessions", {200, std::string("[") + kSession + "]"}},
                              {"GET /api/v1/sessions?pool_id=p-1&user_id=u%201&include_ended=true", {200, "[]"}}}));
  auto open = run(server, {"session", "list"});
  EXPECT_EQ(open.code, 0) << open.err;
  EXPECT_EQ(open.out, "ID   USER  POOL  DESKTOP  STATE       FROM      AGE\n"
                      "s-1  ana   p-1   d-7      connecting  10.0.0.9  1m\n");
  auto all = run(server, {"session", "list", "--pool", "p-1", "--user", "u 1", "--all"});
  EXPECT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(server.requests().at(1).target, "/api/v1/sessions?pool_id=p-1&user_id=u%201&include_ended=true");
}

TEST_F(BrokerCliTest, SessionActionsUseTheirRoutes) {
  ScriptedPeer server(routes(
      {{"GET /api/v1/sessions/s-1", {200, kSession}},
       {"POST /api/v1/sessions/s-1/actions/disconnect", {200, kSession}},
       {"POST /api/v1/sessions/s-1/tickets",
        {201, R"({"display_url":"ws://h/display/s-1?ticket=new","ticket_expires_at":"2026-11-22T12:01:00.000Z"})"}},
       {"DELETE /api/v1/sessions/s-1", {202, kSession}}}));
  auto show = run(server, {"session", "show", "s-1"});
  EXPECT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("User:            ana (u-1)\n"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("Ended:           -\n"), std::string::npos) << show.out;
  auto disconnect = run(server, {"session", "disconnect", "s-1"});
  EXPECT_EQ(disconnect.code, 0) << disconnect.err;
  EXPECT_EQ(disconnect.out, "Disconnected session s-1; it and its desktop stay for a reconnect.\n");
  auto ticket = run(server, {"session", "ticket", "s-1"});
  EXPECT_EQ(ticket.code, 0) << ticket.err;
  EXPECT_EQ(ticket.out, "Display URL:     ws://h/display/s-1?ticket=new\nTicket expires:  2026-11-22T12:01:00.000Z\n");
  auto logoff = run(server, {"session", "logoff", "s-1"});
  EXPECT_EQ(logoff.code, 0) << logoff.err;
  EXPECT_EQ(logoff.out, "Logging off session s-1.\n");
  std::vector<std::string> sent;
  for (const auto& r : server.requests()) sent.push_back(r.method + " " + r.target);
  EXPECT_EQ(sent, (std::vector<std::string>{"GET /api/v1/sessions/s-1", "POST /api/v1/sessions/s-1/actions/disconnect",
                                            "POST /api/v1/sessions/s-1/tickets", "DELETE /api/v1/sessions/s-1"}));
}

const char* kAudit = R"({"events":[
  {"seq":9,"at":"2026-11-22T11:00:00.000Z","tenant_id":"t-1","user_id":"u-1","username":"ana",
   "action":"session.logoff","target":"s-1","address":"10.0.0.9","status":202,"result":"ok","detail":null},
  {"seq":8,"at":"2026-11-22T10:00:00.000Z","tenant_id":null,"user_id":null,"username":null,
   "action":"auth.login","target":"bob","address":"10.0.0.8","status":401,"result":"unauthenticated",
   "detail":"wrong username or password"}],"next_before":8})";

TEST_F(BrokerCliTest, AuditEncodesItsQueryAndKeepsNewestFirst) {
  const std::string target =
      "/api/v1/audit?tenant_id=t-1&action=auth.login&since=2026-11-22T10%3A00%3A00%2B01%3A00&limit=2";
  ScriptedPeer server(routes({{"GET " + target, {200, kAudit}}}));
  auto r = run(server, {"audit", "--tenant", "t-1", "--action", "auth.login", "--since", "2026-11-22T10:00:00+01:00",
                        "--limit", "2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "AT                        USER  TENANT  ACTION          TARGET  STATUS  RESULT           FROM      "
                   "DETAIL\n"
                   "2026-11-22T11:00:00.000Z  ana   t-1     session.logoff  s-1     202     ok               10.0.0.9\n"
                   "2026-11-22T10:00:00.000Z  -     -       auth.login      bob     401     unauthenticated  10.0.0.8  "
                   "wrong username or password\n");
  EXPECT_EQ(r.err, "More events are older: add --before 8 for the next page.\n");
  auto json = run(server, {"audit", "--tenant", "t-1", "--action", "auth.login", "--since", "2026-11-22T10:00:00+01:00",
                           "--limit", "2", "-o", "json"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(Json::parse(json.out), Json::parse(kAudit));  // the whole reply, next_before included
  EXPECT_EQ(run(server, {"audit", "--limit", "0"}).code, 2);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(BrokerCliTest, AuditWithoutFiltersSendsNoQuery) {
  ScriptedPeer server(routes({{"GET /api/v1/audit", {200, R"({"events":[],"next_before":null})"}},
                              {"GET /api/v1/audit?before=8", {200, R"({"nothing":true})"}}}));
  auto r = run(server, {"audit"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "AT  USER  TENANT  ACTION  TARGET  STATUS  RESULT  FROM  DETAIL\n");
  EXPECT_EQ(r.err, "");
  auto broken = run(server, {"audit", "--before", "8"});
  EXPECT_EQ(broken.code, 1);
  EXPECT_NE(broken.err.find("no list of events"), std::string::npos) << broken.err;
}

const char* kUsage = R"({"from":"2026-11-01","to":"2026-11-30",
  "desktops":[{"day":"2026-11-22","tenant_id":"t-1","pool_id":"p-1","desktop_hours":12.5}],
  "sessions":[{"day":"2026-11-22","tenant_id":"t-1","user_id":"u-1","username":"ana","session_hours":3.25}]})";

TEST_F(BrokerCliTest, UsageIsTwoTablesOrTheServersJson) {
  ScriptedPeer server(routes({{"GET /api/v1/usage?from=2026-11-01&to=2026-11-30&tenant_id=t-1", {200, kUsage}}}));
  auto r = run(server, {"usage", "--from", "2026-11-01", "--to", "2026-11-30", "--tenant", "t-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Desktop-hours\n"
                   "DAY         TENANT  POOL  HOURS\n"
                   "2026-11-22  t-1     p-1   12.50\n"
                   "\n"
                   "Session-hours\n"
                   "DAY         TENANT  USER  HOURS\n"
                   "2026-11-22  t-1     ana   3.25\n");
  auto json = run(server, {"-o", "json", "usage", "--from", "2026-11-01", "--to", "2026-11-30", "--tenant", "t-1"});
  EXPECT_EQ(Json::parse(json.out), Json::parse(kUsage));
  EXPECT_EQ(run(server, {"usage", "--from", "2026-11-01"}).code, 2);  // --to is required
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(BrokerCliTest, UsageCsvIsPrintedVerbatim) {
  const std::string csv = "kind,day,tenant_id,pool_id,user_id,username,hours\r\n"
                          "desktop,2026-11-22,t-1,p-1,,,12.5000\r\n"
                          "session,2026-11-22,t-1,,u-1,\"a,na\",3.2500\r\n";
  ScriptedPeer server(
      routes({{"GET /api/v1/usage?from=2026-11-01&to=2026-11-30&format=csv", {200, csv, "text/csv; charset=utf-8"}}}));
  auto r = run(server, {"usage", "--from", "2026-11-01", "--to", "2026-11-30", "--csv"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, csv);
  auto json = run(server, {"-o", "json", "usage", "--from", "2026-11-01", "--to", "2026-11-30", "--csv"});
  EXPECT_EQ(json.out, csv);  // --csv wins: the CSV is the answer
}

TEST_F(BrokerCliTest, RefusalsBecomeDocumentedExitCodes) {
  ScriptedPeer server(routes({
      {"GET /api/v1/tenants/t-9", json_error(404, "not_found", "tenant 't-9' not found")},
      {"DELETE /api/v1/tenants/t-1", json_error(409, "conflict", "tenant t-1 still has users or pools")},
      {"GET /api/v1/tenants", json_error(401, "unauthenticated", "a token is required")},
      {"POST /api/v1/pools", json_error(422, "unprocessable", "a desktop of this size fits no host")},
      {"GET /api/v1/pools", json_error(403, "permission_denied", "a user may not list every pool")},
      {"POST /api/v1/sessions", json_error(503, "unavailable", "pool p-1 is full")},
      {"GET /api/v1/usage?from=2026-11-30&to=2026-11-01", json_error(400, "invalid_argument", "from is after to")},
      {"GET /api/v1/sessions", {200, R"({"not":"a list"})"}},
  }));
  auto missing = run(server, {"tenant", "show", "t-9"});
  EXPECT_EQ(missing.code, 4);
  EXPECT_EQ(missing.err, "oriel: tenant 't-9' not found\n");
  EXPECT_EQ(run(server, {"tenant", "delete", "t-1"}).code, 5);
  auto unauth = run(server, {"tenant", "list"});
  EXPECT_EQ(unauth.code, 3);
  EXPECT_EQ(unauth.err, "oriel: a token is required (run 'oriel login')\n");
  EXPECT_EQ(run(server, {"pool", "create", "Big", "--tenant", "t-1", "--image", "i-1", "--type", "pooled", "--size",
                         "1", "--spare", "0", "--vcpus", "512", "--memory-mb", "99999"})
                .code,
            5);
  EXPECT_EQ(run(server, {"pool", "list"}).code, 3);
  auto full = run(server, {"session", "start", "p-1"});
  EXPECT_EQ(full.code, 6);
  EXPECT_EQ(full.err, "oriel: pool p-1 is full\n");
  EXPECT_EQ(run(server, {"usage", "--from", "2026-11-30", "--to", "2026-11-01"}).code, 2);
  EXPECT_EQ(run(server, {"session", "show", "s-404"}).code, 4);
  auto not_a_list = run(server, {"session", "list"});
  EXPECT_EQ(not_a_list.code, 1);
  EXPECT_EQ(not_a_list.err, "oriel: orield's session list is not a JSON array\n");
}

}  // namespace
}  // namespace oriel::cli
