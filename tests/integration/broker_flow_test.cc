// The broker end to end: a real orield, the real test guest, users logging
// on and off over HTTP, and a logon storm (with orield killed in the middle).
#include <gtest/gtest.h>

#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "harness.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

class BrokerFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    orield_.start();
    admin_ = std::make_unique<cli::ApiClient>(orield_.admin());
    image_ = import_test_guest(*admin_, "guest");
    tenant_ = admin_->post("/api/v1/tenants", {{"name", "Acme"}}).value()["id"];
  }

  // Creates a user of the tenant, entitled to `pool`, and a client logged in
  // as them. `admin` is the caller's admin client (one per thread).
  cli::ApiClient user(const std::string& name, const std::string& pool, cli::ApiClient* admin = nullptr) {
    if (!admin) admin = admin_.get();
    Json u = admin->post("/api/v1/users", {{"username", name}, {"password", "password-" + name}, {"role", "user"},
                                            {"tenant_id", tenant_}})
                 .value();
    EXPECT_TRUE(admin->post("/api/v1/pools/" + pool + "/entitlements", {{"user_id", u["id"]}}).ok());
    auto client = cli::ApiClient::create(orield_.url()).value();
    EXPECT_TRUE(client.login(name, "password-" + name).ok());
    return client;
  }
  std::string pool(const std::string& name, const std::string& type, int size, int spare) {
    Json p = admin_->post("/api/v1/pools", {{"name", name}, {"tenant_id", tenant_}, {"image_id", image_},
                                            {"type", type}, {"size", size}, {"spare", spare}, {"vcpus", 1},
                                            {"memory_mb", 192}})
                 .value();
    return p["id"];
  }
  Json pool_state(const std::string& id) { return admin_->get("/api/v1/pools/" + id).value(); }
  std::string wait_running(const std::string& desktop) {
    Json d = wait_for_state(*admin_, "/api/v1/desktops/" + desktop, {"running", "failed"}, 90s);
    EXPECT_EQ(d["state"], "running") << d.dump();
    std::string log = orield_.serial_log(desktop);
    EXPECT_TRUE(wait_for_text(log, "ORIEL-GUEST-READY", 60s)) << read_file(log);
    return log;
  }

  Orield orield_{{"--cpu-overcommit", "16", "--memory-overcommit", "2"}};
  std::unique_ptr<cli::ApiClient> admin_;
  std::string image_, tenant_;
};

TEST_F(BrokerFlowTest, PooledLogoffResetsTheDesktopAndRefillsTheSpare) {
  std::string p = pool("Office \"1\"", "pooled", 2, 1);
  ASSERT_TRUE(wait_until([&] { return pool_state(p)["running_free"] == 1; }, 90s)) << pool_state(p).dump();
  auto ana = user("ana", p);
  Json s = ana.post("/api/v1/sessions", {{"pool_id", p}}).value();
  std::string desktop = s["desktop_id"];
  EXPECT_EQ(s["state"], "connecting");
  EXPECT_NE(std::string(s["display_url"]).find("ticket="), std::string::npos);
  std::string log = wait_running(desktop);
  ASSERT_TRUE(wait_for_text(log, "ORIEL-MARKER-WRITTEN", 60s)) << read_file(log);
  EXPECT_EQ(ana.get("/api/v1/desktops/" + desktop).value()["assigned_user"], s["user_id"]);
  // The spare went to ana: the pool makes another one and starts it.
  EXPECT_TRUE(wait_until([&] { return pool_state(p)["running_free"] == 1; }, 90s)) << pool_state(p).dump();

  ASSERT_TRUE(ana.del("/api/v1/sessions/" + std::string(s["id"])).ok());
  // Reset to the image: the next boot finds no marker, and it is free again.
  ASSERT_TRUE(wait_until([&] { return read_file(orield_.serial_log(desktop)).find("ORIEL-MARKER-ABSENT") !=
                                      std::string::npos; },
                         90s))
      << read_file(orield_.serial_log(desktop));
  Json d = admin_->get("/api/v1/desktops/" + desktop).value();
  EXPECT_TRUE(d["assigned_user"].is_null()) << d.dump();
  EXPECT_TRUE(ana.get("/api/v1/sessions").value().empty());
  EXPECT_EQ(ana.get("/api/v1/desktops/" + desktop).error().code(), ErrorCode::kNotFound);
}

TEST_F(BrokerFlowTest, PersistentDesktopKeepsItsDiskAcrossLogoff) {
  std::string p = pool("Personal", "persistent", 2, 0);
  auto ana = user("ana", p);
  Json s = ana.post("/api/v1/sessions", {{"pool_id", p}}).value();
  std::string desktop = s["desktop_id"];
  std::string log = wait_running(desktop);
  ASSERT_TRUE(wait_for_text(log, "ORIEL-MARKER-WRITTEN", 60s)) << read_file(log);
  ASSERT_TRUE(ana.del("/api/v1/sessions/" + std::string(s["id"])).ok());
  Json again = ana.post("/api/v1/sessions", {{"pool_id", p}}).value();
  EXPECT_EQ(again["desktop_id"], desktop);
  EXPECT_NE(again["id"], s["id"]);
  // The user reboots their desktop: the marker written before logoff is there.
  size_t before = read_file(log).size();
  ASSERT_TRUE(ana.post("/api/v1/desktops/" + desktop + "/actions/reboot").ok());
  EXPECT_TRUE(wait_for_text(log, "ORIEL-MARKER-PRESENT", 60s, before)) << read_file(log);
}

TEST_F(BrokerFlowTest, RevokedAndExpiredTokensAreRefused) {
  std::string p = pool("Office", "pooled", 1, 0);
  auto ana = user("ana", p);
  ASSERT_TRUE(ana.get("/api/v1/pools").ok());
  ASSERT_TRUE(ana.post("/api/v1/auth/logout").ok());
  auto refused = ana.get("/api/v1/pools");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated);
  ana.set_token("not-a-token");
  EXPECT_EQ(ana.post("/api/v1/sessions", {{"pool_id", p}}).error().code(), ErrorCode::kUnauthenticated);
  // The refused logon is in the audit log, with its result.
  Json events = admin_->get("/api/v1/audit?action=session.logon").value()["events"];
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["result"], "unauthenticated");
  EXPECT_EQ(events[0]["status"], 401);
}

// Users for a storm, each with a logged-in client. argon2id makes each
// creation and login cost about 0.1 s, so 4 threads make them, each with its
// own admin client (an ApiClient is not thread-safe).
std::vector<cli::ApiClient> many_users(Orield& orield, int n,
                                       const std::function<cli::ApiClient(int, cli::ApiClient&)>& make) {
  std::vector<cli::ApiClient> clients;
  std::mutex mu;
  std::vector<std::thread> makers;
  for (int w = 0; w < 4; ++w) {
    makers.emplace_back([&, w] {
      auto admin = orield.admin();
      for (int i = w; i < n; i += 4) {
        auto c = make(i, admin);
        std::lock_guard lock(mu);
        clients.push_back(std::move(c));
      }
    });
  }
  for (auto& m : makers) m.join();
  return clients;
}

TEST_F(BrokerFlowTest, TwoHundredConcurrentLogonsGetFiveDesktopsAndClearRefusals) {
  std::string p = pool("Small", "pooled", 5, 0);
  auto clients = many_users(orield_, 200, [&](int i, cli::ApiClient& admin) {
    return user("storm" + std::to_string(i), p, &admin);
  });
  std::latch go(static_cast<ptrdiff_t>(clients.size()));
  std::mutex mu;
  std::vector<std::string> desktops;
  std::map<std::string, int> refusals;
  std::vector<std::thread> threads;
  for (auto& c : clients) {
    threads.emplace_back([&, client = &c] {
      go.arrive_and_wait();
      auto s = client->post("/api/v1/sessions", {{"pool_id", p}});
      std::lock_guard lock(mu);
      if (s.ok()) {
        desktops.push_back((*s)["desktop_id"]);
      } else {
        ++refusals[std::string(error_code_name(s.error().code())) + ": " + s.error().message()];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(desktops.size(), 5u);
  EXPECT_EQ(std::set<std::string>(desktops.begin(), desktops.end()).size(), desktops.size()) << "a desktop twice";
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals.begin()->second, 195);
  EXPECT_NE(refusals.begin()->first.find("unavailable: pool 'Small' is full"), std::string::npos)
      << refusals.begin()->first;
  Json pool_now = pool_state(p);
  EXPECT_EQ(pool_now["sessions"], 5);
  EXPECT_EQ(pool_now["desktops"], 5);
}

TEST_F(BrokerFlowTest, KilledInALogonStormNoDesktopIsLostOrShared) {
  std::string p = pool("Storm", "pooled", 8, 2);
  auto clients = many_users(orield_, 40, [&](int i, cli::ApiClient& admin) {
    return user("k" + std::to_string(i), p, &admin);
  });
  std::latch go(static_cast<ptrdiff_t>(clients.size()) + 1);
  std::vector<std::thread> threads;
  for (auto& c : clients) {
    threads.emplace_back([&, client = &c] {
      go.arrive_and_wait();
      (void)client->post("/api/v1/sessions", {{"pool_id", p}});  // some land, some die with orield
    });
  }
  go.arrive_and_wait();
  // In the middle of the storm: as soon as the first logon has landed.
  ASSERT_TRUE(wait_until([&] { return !admin_->get("/api/v1/sessions?pool_id=" + p).value().empty(); }, 30s));
  orield_.kill9();
  for (auto& th : threads) th.join();
  orield_.start();
  auto admin = orield_.admin();
  // Every desktop is free or in exactly one open session, and every open
  // session has its desktop (after restart the pool loop repairs what a crash
  // between two writes could leave; the transactions leave nothing to repair).
  std::string why;
  Json desktops, sessions;
  auto consistent = [&] {
    desktops = admin.get("/api/v1/desktops?pool_id=" + p).value();
    sessions = admin.get("/api/v1/sessions?pool_id=" + p).value();
    std::map<std::string, int> sessions_of;
    for (const auto& s : sessions) ++sessions_of[s["desktop_id"]];
    std::set<std::string> ids;
    for (const auto& d : desktops) {
      ids.insert(d["id"]);
      int n = sessions_of[d["id"]];
      if (d["assigned_user"].is_null() ? n != 0 : n != 1) {
        why = "desktop with " + std::to_string(n) + " sessions: " + d.dump();
        return false;
      }
    }
    for (const auto& [desktop, n] : sessions_of) {
      if (!ids.count(desktop)) {
        why = "a session on a missing desktop " + desktop;
        return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(wait_until(consistent, 30s)) << why;
  EXPECT_FALSE(sessions.empty());  // what landed before the kill is still there
  EXPECT_LE(desktops.size(), 8u);
}

}  // namespace
}  // namespace oriel::testing
