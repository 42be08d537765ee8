// Several hosts on one machine (network namespaces, shared storage): agents
// join the controller, desktops spread over them and are reachable through
// each host's agent; a host killed outright or cut off from the network
// loses its desktops to the other hosts, and a desktop never runs on two
// hosts at once.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "cluster.h"
#include "display_client.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

std::string running_desktop(cli::ApiClient& api, const std::string& image, const std::string& name) {
  Reply r = call(api, "POST", "/api/v1/desktops", {{"name", name}, {"image_id", image}, {"vcpus", 1}, {"memory_mb", 128}});
  if (r.status != 201) throw std::runtime_error("create: " + r.body);
  std::string id = r.json["id"];
  Json d = wait_for_state(api, "/api/v1/desktops/" + id, {"running", "failed"}, 90s);
  if (d["state"] != "running") throw std::runtime_error("desktop: " + d.dump());
  return id;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<TestCluster>(3);
    cluster_->start();
    admin_ = std::make_unique<cli::ApiClient>(cluster_->admin());
    image_ = import_test_guest(*admin_, "fleet-guest");
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
  int index_of(const std::string& host_id) {
    for (int i = 0; i < cluster_->hosts(); ++i) {
      if (cluster_->host_id(i) == host_id) return i;
    }
    return -1;
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<cli::ApiClient> admin_;
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
  std::string tenant = create_tenant(*admin_, "Fleet");
  std::string pool = create_pool(*admin_, tenant, image_, "Fleet pool", "pooled", 1, 1);
  TestUser user = create_user(cluster_->controller(), *admin_, tenant, "fleet-user");
  entitle(*admin_, pool, user.id);
  Reply logon = call(user.client, "POST", "/api/v1/sessions", {{"pool_id", pool}});
  ASSERT_EQ(logon.status, 201) << logon.body;
  std::string desktop = logon.json["desktop_id"];
  ASSERT_EQ(wait_for_state(*admin_, "/api/v1/desktops/" + desktop, {"running"}, 90s)["state"], "running");
  ASSERT_TRUE(wait_for_text(cluster_->serial_log(desktop), "ORIEL-GUEST-READY", 60s));
  Reply ticket = call(user.client, "POST", "/api/v1/sessions/" + logon.json["id"].get<std::string>() + "/tickets");
  DisplayClient client(ticket.json["display_url"]);
  ASSERT_TRUE(client.hello_and_frames(1)) << client.error();
  EXPECT_GT(client.screen().width, 0);
  std::string word = "fleet" + std::to_string(std::random_device{}() % 100000);
  client.type("echo " + word + " >/dev/ttyS0\n");
  EXPECT_TRUE(wait_for_text(cluster_->serial_log(desktop), word, 30s));
}

TEST_F(ClusterTest, AHeartbeatOrAgentCallWithoutTheClusterTokenIsRefused) {
  auto api = cli::ApiClient::create(cluster_->controller().url(), "not-the-token").value();
  Json hello = {{"url", "http://10.0.0.1:1"},
                {"disks_dir", "/tmp"},
                {"report", {{"name", "intruder"}, {"accelerator", "kvm"}, {"cpus", 64}, {"memory_mb", 1 << 20}}},
                {"snapshot", {{"epoch", "x"}, {"seq", 0}, {"vms", Json::object()}, {"exits", Json::array()}}}};
  Reply refused = call(api, "POST", "/api/v1/cluster/heartbeat", hello);
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(admin_->get("/api/v1/hosts").value().size(), 3u) << "the intruder is not a host";
  auto agent = cli::ApiClient::create("http://" + cluster_->host_address(0) + ":8080", "not-the-token").value();
  EXPECT_EQ(call(agent, "GET", "/agent/v1/state").status, 401);
  agent.set_token(cluster_->token());
  Reply state = call(agent, "GET", "/agent/v1/state");
  EXPECT_EQ(state.status, 200) << state.body;
  EXPECT_EQ(state.json["report"]["name"], "h1");
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
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(twice) << "the desktop ran on two hosts at once";
  EXPECT_TRUE(old_gone) << "the cut-off host did not stop its desktop";
  ASSERT_TRUE(elsewhere) << "the desktop did not start on another host";
  EXPECT_NE(read_file(cluster_->serial_log(desktop)).find("ORIEL-GUEST-READY"), std::string::npos);
  // The host's network comes back: it is ready again and runs nothing stray.
  cluster_->heal(victim);
  EXPECT_TRUE(wait_until([&] { return host_state(victim) == "ready"; }, 60s));
  EXPECT_EQ(cluster_->qemu_pid(victim, desktop), -1);
  EXPECT_NE(cluster_->host_running(desktop), victim);
}

}  // namespace
}  // namespace oriel::testing
