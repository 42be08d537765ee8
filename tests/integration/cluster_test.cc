// Several hosts on one machine (network namespaces, shared storage): agents
// join the controller, desktops spread over them and are reachable through
// each host's agent; a host killed outright or cut off from the network
// loses its desktops to the other hosts, and a desktop never runs on two
// hosts at once.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>

#include "cluster.h"
#include "display_client.h"
#include "oriel/common/process.h"
#include "oriel/net/pki.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// "ORIEL-TICK <boot> <n>" lines (the test guest with oriel.tick): boot id → the counts seen.
using Ticks = std::map<std::string, std::set<int>>;
void add_ticks(const std::string& serial_log, Ticks& ticks) {
  static const std::regex line("ORIEL-TICK ([0-9a-f-]{36}) ([0-9]+)");
  std::string text = read_file(serial_log);
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) {
    ticks[(*it)[1].str()].insert(std::stoi((*it)[2].str()));
  }
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<TestCluster>(3);
    cluster_->start();
    admin_ = std::make_unique<net::ApiClient>(cluster_->admin());
    image_ = import_test_guest(*admin_, "fleet-guest");
  }
  void TearDown() override {
    if (HasFailure() && cluster_) std::fprintf(stderr, "%s", cluster_->log_tails(40).c_str());
  }
  std::string host_of(const std::string& desktop) {
    return admin_->get("/api/v1/desktops/" + desktop).value()["host_id"];
  }
  // The state the API gives host i ("ready", "down", ...), or "" if it is not listed.
  std::string host_state(int i) {
    Json hosts = admin_->get("/api/v1/hosts").value();
    for (const auto& h : hosts) {
      if (h["name"] == cluster_->host_name(i)) return h["state"];
    }
    return "";
  }
  // The test guest printing a tick every 0.2 s (and writing it to its disk).
  std::string ticking_image() { return import_test_guest(*admin_, "ticking", {{"shared", true}}, "oriel.tick"); }
  int index_of(const std::string& host_id) {
    for (int i = 0; i < cluster_->hosts(); ++i) {
      if (cluster_->host_id(i) == host_id) return i;
    }
    return -1;
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<net::ApiClient> admin_;
  std::string image_;
};

TEST_F(ClusterTest, AgentsJoinDesktopsSpreadAndEachDisplayIsReachedThroughItsAgent) {
  Json hosts = admin_->get("/api/v1/hosts").value();
  ASSERT_EQ(hosts.size(), 3u) << "the controller runs no desktops itself: " << hosts.dump();
  for (const auto& h : hosts) {
    EXPECT_EQ(h["state"], "ready");
    EXPECT_EQ(h["accelerator"], "tcg");
  }
  std::set<std::string> used;
  std::vector<std::string> desktops;
  for (int i = 0; i < 3; ++i) {
    desktops.push_back(running_desktop(*admin_, image_, "spread-" + std::to_string(i)));
    used.insert(host_of(desktops.back()));
  }
  EXPECT_EQ(used.size(), 3u) << "spread placement puts one desktop on each host";
  for (const auto& d : desktops) {
    EXPECT_TRUE(wait_for_text(cluster_->serial_log(d), "ORIEL-GUEST-READY", 60s)) << d;
    EXPECT_EQ(cluster_->host_running(d), index_of(host_of(d)));
  }
  auto png = admin_->get_bytes("/api/v1/desktops/" + desktops[0] + "/screenshot");
  ASSERT_TRUE(png.ok()) << png.error().message();
  EXPECT_EQ(png->substr(1, 3), "PNG");

  // A user's session on a pool desktop: the gateway (with the controller)
  // reaches the screen through the agent of the host it runs on.
  LoggedOnUser user = cluster_->log_on_new_user(0, image_, "fleet", "pooled", 1);
  std::string desktop = user.desktop_id;
  DisplayClient client(user.display_url, user.tls);
  ASSERT_TRUE(client.hello_and_frames(1)) << client.error();
  EXPECT_GT(client.screen().width, 0);
  std::string word = "fleet" + std::to_string(std::random_device{}() % 100000);
  client.type("echo " + word + " >/dev/ttyS0\n");
  EXPECT_TRUE(wait_for_text(cluster_->serial_log(desktop), word, 30s));
}

// `openssl s_client` to host i's agent port over TLS 1.2 (where the server's
// verdict on a client certificate ends the handshake itself), presenting
// `cert`; its exit code.
int s_client_to_agent(TestCluster& cluster, int i, const net::CertifiedKey& cert, const std::string& dir) {
  std::ofstream(dir + "/client.pem", std::ios::trunc) << cert.cert_pem;
  std::ofstream(dir + "/client.key", std::ios::trunc) << cert.key_pem;
  SystemProcessRunner runner;
  auto r = runner.run({"openssl", "s_client", "-tls1_2", "-connect", cluster.host_address(i) + ":8080", "-cert",
                       dir + "/client.pem", "-key", dir + "/client.key", "-CAfile",
                       cluster.agent_tls_dir(i) + "/cluster-ca.pem", "-verify_return_error", "-brief"},
                      {.timeout = 20s});
  return r.ok() ? r->exit_code : -1;
}

TEST_F(ClusterTest, OnlyTheClustersCertificatesGetInAndARemovedHostIsRefusedAtOnce) {
  Json hello = {{"url", "https://10.9.9.9:1"},
                {"disks_dir", "/tmp"},
                {"report", {{"name", "h9"}, {"accelerator", "kvm"}, {"cpus", 64}, {"memory_mb", 1 << 20}}},
                {"snapshot", {{"epoch", "x"}, {"seq", 0}, {"vms", Json::object()}, {"exits", Json::array()}}}};
  const std::string heartbeat = "/api/v1/cluster/heartbeat";
  // No certificate and no cluster token; a certificate of the cluster CA
  // that no join recorded: refused, and no host appears.
  auto anonymous = cluster_->controller().client("not-the-token");
  EXPECT_EQ(call(anonymous, "POST", heartbeat, hello).status, 401);
  auto forged = net::ApiClient::create(cluster_->controller().url(), "", cluster_->cluster_tls("h9")).value();
  Reply refused = call(forged, "POST", heartbeat, hello);
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(admin_->get("/api/v1/hosts").value().size(), 3u) << "a stranger became a host";

  // An agent given another CA's pin does not send its token: it stops, and
  // the token stays unspent.
  Json token = admin_->post("/api/v1/cluster/join-tokens", {{"ttl_s", 120}}).value();
  std::string agent_dir = make_temp_dir("wrong-pin");
  SystemProcessRunner runner;
  auto wrong_pin = runner.run(
      {std::string(ORIEL_BINARY_DIR) + "/bin/orield", "--roles", "agent", "--controller", cluster_->controller().url(),
       "--join-token", token["token"], "--ca-pin", "sha256:" + std::string(64, 'e'), "--data-dir", agent_dir,
       "--listen", "127.0.0.1:0", "--host-name", "h9", "--accelerator", "tcg"},
      {.timeout = 60s});
  ASSERT_TRUE(wrong_pin.ok());
  EXPECT_EQ(wrong_pin->exit_code, 1);
  EXPECT_NE(wrong_pin->err.find("not the one pinned"), std::string::npos) << wrong_pin->err;
  std::filesystem::remove_all(agent_dir);

  // A join token works once: h9 joins, then the token is spent.
  std::string key = net::make_private_key().value();
  Json join = {{"token", token["token"]},
               {"host_name", "h9"},
               {"address", "10.9.9.9"},
               {"csr", net::make_certificate_request(key, "h9").value()}};
  Reply joined = call(anonymous, "POST", "/api/v1/cluster/join", join);
  ASSERT_EQ(joined.status, 200) << joined.body;
  std::string ca = read_file(cluster_->controller().data_dir() + "/tls/ca.pem");
  std::string h9_cert = joined.json["certificate"];
  EXPECT_TRUE(net::signed_by(h9_cert, ca));
  EXPECT_EQ(net::inspect_certificate(ca).value().public_key_pin, token["ca_pin"]);
  EXPECT_EQ(call(anonymous, "POST", "/api/v1/cluster/join", join).status, 401) << "a join token worked twice";

  // h9's certificate gets its heartbeat in, until h9 is removed.
  auto h9_tls = net::TlsClient::create({.ca_pem = ca, .cert_pem = h9_cert, .key_pem = key});
  auto h9 = net::ApiClient::create(cluster_->controller().url(), "", *h9_tls).value();
  Reply beat = call(h9, "POST", heartbeat, hello);
  ASSERT_EQ(beat.status, 200) << beat.body;
  std::string h9_id = beat.json["host_id"];
  hello["report"]["name"] = "h1";
  EXPECT_EQ(call(h9, "POST", heartbeat, hello).status, 403) << "h9's certificate spoke for h1";
  hello["report"]["name"] = "h9";
  Reply removed = call(*admin_, "DELETE", "/api/v1/hosts/" + h9_id);
  ASSERT_EQ(removed.status, 200) << removed.body;
  Reply after = call(h9, "POST", heartbeat, hello);
  EXPECT_EQ(after.status, 401) << after.body;
  EXPECT_NE(after.body.find("revoked"), std::string::npos) << after.body;
  EXPECT_EQ(admin_->get("/api/v1/hosts").value().size(), 3u);

  // The agent's API: a controller's certificate gets in; a host's does not;
  // none, or one from another CA, does not get past the handshake.
  auto agent = cluster_->agent_client(0);
  Reply state = call(agent, "GET", "/agent/v1/state");
  EXPECT_EQ(state.status, 200) << state.body;
  EXPECT_EQ(state.json["report"]["name"], "h1");
  auto as_host = net::ApiClient::create("https://" + cluster_->host_address(1) + ":8080", "", *h9_tls).value();
  EXPECT_EQ(call(as_host, "GET", "/agent/v1/state").status, 401) << "a host's certificate called another agent";
  auto no_certificate = net::TlsClient::create({.ca_pem = ca});
  auto bare = net::ApiClient::create("https://" + cluster_->host_address(1) + ":8080", "", *no_certificate).value();
  EXPECT_FALSE(bare.get("/agent/v1/state").ok()) << "an agent answered a client without a certificate";
  std::string dir = make_temp_dir("agent-tls");
  auto other_ca = net::make_ca("another CA", std::chrono::system_clock::now(), std::chrono::hours(1)).value();
  auto stranger =
      net::issue_certificate(other_ca,
                             {"controller:x", {}, false, true, std::chrono::system_clock::now(), std::chrono::hours(1)})
          .value();
  EXPECT_NE(s_client_to_agent(*cluster_, 1, stranger, dir), 0) << "the agent took another CA's certificate";
  auto controller =
      net::issue_certificate({ca, read_file(cluster_->controller().data_dir() + "/tls/ca.key")},
                             {"controller:x", {}, false, true, std::chrono::system_clock::now(), std::chrono::hours(1)})
          .value();
  EXPECT_EQ(s_client_to_agent(*cluster_, 1, controller, dir), 0) << "the agent refused the cluster's certificate";
  std::filesystem::remove_all(dir);
}

TEST_F(ClusterTest, AHostKilledOutrightHasItsDesktopsRunningElsewhere) {
  std::string desktop = running_desktop(*admin_, image_, "survivor");
  int victim = index_of(host_of(desktop));
  ASSERT_GE(victim, 0);
  auto killed_at = Steady::now();
  cluster_->kill_host(victim);
  bool moved = wait_until(
      [&] {
        Json d = admin_->get("/api/v1/desktops/" + desktop).value();
        return d["state"] == "running" && d["host_id"] != cluster_->host_id(victim);
      },
      90s);
  ASSERT_TRUE(moved) << admin_->get("/api/v1/desktops/" + desktop).value().dump();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - killed_at);
  std::fprintf(stderr, "host killed -> desktop running elsewhere: %.1f s\n", took.count() / 1000.0);
  EXPECT_TRUE(wait_for_text(cluster_->serial_log(desktop), "ORIEL-GUEST-READY", 60s));
  EXPECT_NE(cluster_->host_running(desktop), victim);
  EXPECT_EQ(host_state(victim), "down");
  // The host comes back: it joins again, and the desktop stays where it is.
  cluster_->start_agent(victim);
  EXPECT_TRUE(wait_until([&] { return host_state(victim) == "ready"; }, 60s));
  EXPECT_NE(host_of(desktop), cluster_->host_id(victim));
}

TEST_F(ClusterTest, ACutOffHostStopsItsDesktopsBeforeTheyStartElsewhereNeverTwice) {
  std::string desktop = running_desktop(*admin_, image_, "fenced");
  int victim = index_of(host_of(desktop));
  ASSERT_GE(victim, 0);
  pid_t old_qemu = cluster_->qemu_pid(victim, desktop);
  ASSERT_GT(old_qemu, 0);
  cluster_->cut(victim);
  // Watch both sides: the old QEMU must be gone before any other host runs
  // the desktop.
  bool twice = false, old_gone = false, elsewhere = false;
  int new_host = -1;
  auto deadline = Steady::now() + 90s;
  while (Steady::now() < deadline && !elsewhere) {
    bool old_alive = ::kill(old_qemu, 0) == 0;
    old_gone = old_gone || !old_alive;
    int running = -1;
    for (int i = 0; i < cluster_->hosts(); ++i) {
      if (i != victim && cluster_->qemu_pid(i, desktop) > 0) running = i;
    }
    if (running >= 0 && old_alive) twice = true;
    elsewhere = running >= 0;
    new_host = running;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(twice) << "the desktop ran on two hosts at once";
  EXPECT_TRUE(old_gone) << "the cut-off host did not stop its desktop";
  ASSERT_TRUE(elsewhere) << "the desktop did not start on another host";
  // Its QEMU has just started there: the guest boots.
  EXPECT_TRUE(wait_for_text(cluster_->serial_log_on(new_host, desktop), "ORIEL-GUEST-READY", 60s));
  // The host's network comes back: it is ready again and runs nothing stray.
  cluster_->heal(victim);
  EXPECT_TRUE(wait_until([&] { return host_state(victim) == "ready"; }, 60s));
  EXPECT_EQ(cluster_->qemu_pid(victim, desktop), -1);
  EXPECT_NE(cluster_->host_running(desktop), victim);
}

TEST_F(ClusterTest, ALiveMigrationKeepsTheGuestCountingAndItsUserConnected) {
  std::string image = ticking_image();
  LoggedOnUser user = cluster_->log_on_new_user(0, image, "movers", "persistent", 0);
  std::string desktop = user.desktop_id;
  int source = index_of(host_of(desktop));
  ASSERT_GE(source, 0);
  std::string source_log = cluster_->serial_log_on(source, desktop);
  Ticks ticks;
  // Past its boot before it moves (kSettledTicks).
  ASSERT_TRUE(wait_until(
      [&] {
        add_ticks(source_log, ticks);
        return !ticks.empty() && ticks.begin()->second.size() >= kSettledTicks;
      },
      90s));
  DisplayClient client(user.display_url, user.tls);
  ASSERT_TRUE(client.hello_and_frames(1)) << client.error();

  // A user cannot move desktops; the administrator can.
  EXPECT_EQ(call(user.user.client, "POST", "/api/v1/desktops/" + desktop + "/actions/migrate", Json::object()).status,
            403);
  Reply started = call(*admin_, "POST", "/api/v1/desktops/" + desktop + "/actions/migrate", Json::object());
  ASSERT_EQ(started.status, 202) << started.body;
  EXPECT_EQ(started.json["state"], "migrating");
  Json d;
  auto deadline = Steady::now() + 90s;
  while (Steady::now() < deadline) {
    add_ticks(source_log, ticks);  // the source's log goes with its QEMU
    d = admin_->get("/api/v1/desktops/" + desktop).value();
    if (d["state"] != "migrating") break;
    ASSERT_TRUE(client.follow(50ms)) << "the display client was cut off: " << client.error();
  }
  ASSERT_EQ(d["state"], "running") << d.dump();
  int target = index_of(d["host_id"]);
  ASSERT_GE(target, 0);
  ASSERT_NE(target, source) << d.dump();
  EXPECT_TRUE(d["error"].is_null()) << d.dump();
  const Json& m = d["migration"];
  EXPECT_EQ(m["state"], "completed") << d.dump();
  EXPECT_EQ(m["percent"], 100.0) << d.dump();
  EXPECT_GE(m["downtime_ms"].get<int64_t>(), 0);
  std::fprintf(stderr, "migration: total %lld ms, downtime %lld ms (QEMU's figures)\n",
               static_cast<long long>(m["total_time_ms"].get<int64_t>()),
               static_cast<long long>(m["downtime_ms"].get<int64_t>()));
  EXPECT_EQ(cluster_->host_running(desktop), target);
  EXPECT_EQ(cluster_->qemu_pid(source, desktop), -1) << "the source QEMU is gone";
  // The target's agent says it runs the desktop (the controller asked it
  // before moving the record); the source has neither VM nor migration in.
  auto agent_of = [&](int i) { return cluster_->agent_client(i); };
  auto target_agent = agent_of(target), source_agent = agent_of(source);
  const std::string finish = "/agent/v1/vms/" + desktop + "/finish-incoming";
  Reply confirmed = call(target_agent, "POST", finish, {{"timeout_ms", 0}});
  ASSERT_EQ(confirmed.status, 200) << confirmed.body;
  EXPECT_EQ(confirmed.json["snapshot"]["vms"][desktop], "running") << confirmed.body;
  EXPECT_EQ(call(source_agent, "POST", finish, {{"timeout_ms", 0}}).status, 404);
  EXPECT_EQ(call(target_agent, "POST", finish, {{"timeout_ms", -1}}).status, 400);
  EXPECT_EQ(call(target_agent, "POST", finish, {{"wait", 1}}).status, 400);

  // The same boot counts on at the target, without a gap.
  const int moved_at = *ticks.begin()->second.rbegin();
  std::string target_log = cluster_->serial_log_on(target, desktop);
  ASSERT_TRUE(wait_until(
      [&] {
        add_ticks(target_log, ticks);
        return *ticks.begin()->second.rbegin() >= moved_at + 10;
      },
      30s));
  ASSERT_EQ(ticks.size(), 1u) << "the guest rebooted";
  const std::set<int>& n = ticks.begin()->second;
  EXPECT_EQ(*n.rbegin() - *n.begin() + 1, static_cast<int>(n.size())) << "a tick went missing";

  // The display followed: still connected, and typing reaches the guest on the target.
  ASSERT_TRUE(client.follow(500ms)) << client.error();
  std::string word = "moved" + std::to_string(std::random_device{}() % 100000);
  client.type("echo " + word + " >/dev/ttyS0\n");
  bool typed = wait_until(
      [&] {
        client.follow(100ms);
        return read_file(target_log).find(word) != std::string::npos;
      },
      30s);
  EXPECT_TRUE(typed) << "typing after the migration did not reach the guest";
  EXPECT_TRUE(client.connected());
}

TEST_F(ClusterTest, MaintenanceDrainsAHostByLiveMigrationAndActivateBringsItBack) {
  std::vector<std::string> desktops;
  desktops.reserve(3);
  for (int i = 0; i < 3; ++i) desktops.push_back(running_desktop(*admin_, image_, "drain-" + std::to_string(i)));
  int victim = index_of(host_of(desktops[0]));
  ASSERT_GE(victim, 0);
  std::string victim_id = cluster_->host_id(victim);
  // A second desktop on the same host, so the drain moves several.
  Reply extra = call(*admin_, "POST", "/api/v1/desktops",
                     {{"name", "drain-extra"}, {"image_id", image_}, {"vcpus", 1}, {"memory_mb", 128}});
  ASSERT_EQ(extra.status, 201);
  std::string extra_id = extra.json["id"];
  wait_for_state(*admin_, "/api/v1/desktops/" + extra_id, {"running"}, 90s);
  if (host_of(extra_id) == victim_id) desktops.push_back(extra_id);
  std::vector<std::string> on_victim;
  for (const auto& d : desktops) {
    if (host_of(d) == victim_id) on_victim.push_back(d);
  }
  ASSERT_GE(on_victim.size(), 1u);

  Reply maint = call(*admin_, "POST", "/api/v1/hosts/" + victim_id + "/actions/maintenance");
  ASSERT_EQ(maint.status, 202) << maint.body;
  EXPECT_EQ(maint.json["state"], "maintenance");
  bool drained = wait_until(
      [&] {
        for (const auto& d : on_victim) {
          Json j = admin_->get("/api/v1/desktops/" + d).value();
          if (j["state"] != "running" || j["host_id"] == victim_id) return false;
        }
        return true;
      },
      120s);
  ASSERT_TRUE(drained);
  for (const auto& d : on_victim) {
    EXPECT_NE(cluster_->host_running(d), victim) << d;
    EXPECT_GE(cluster_->host_running(d), 0) << d << " runs nowhere";
    Json j = admin_->get("/api/v1/desktops/" + d).value();
    EXPECT_EQ(j["migration"]["state"], "completed") << j.dump();
  }
  EXPECT_EQ(host_state(victim), "maintenance");
  // No new desktop lands on a host in maintenance.
  std::string fresh = running_desktop(*admin_, image_, "after-drain");
  EXPECT_NE(host_of(fresh), victim_id);
  Reply back = call(*admin_, "POST", "/api/v1/hosts/" + victim_id + "/actions/activate");
  ASSERT_EQ(back.status, 202) << back.body;
  EXPECT_EQ(host_state(victim), "ready");
  EXPECT_EQ(call(*admin_, "POST", "/api/v1/hosts/" + victim_id + "/actions/explode").status, 404);
}

}  // namespace
}  // namespace oriel::testing
