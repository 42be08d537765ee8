// Desktop networks (security probe #37): a desktop reaches neither its
// host's loopback nor the networks its host can route to, unless its pool
// is on a tenant's bridge; and two tenants' bridges never meet. Real guests
// with virtio-net (the test guest's oriel.net), an agent in a network
// namespace of its own, a server outside in another namespace.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>

#include "cluster.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kLoopbackPort = "18999";

void sh(const std::string& command) {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

std::string sh_output(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[256];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

// "host:port" of a URL such as https://10.1.2.3:4567.
std::string host_port(const std::string& url) { return url.substr(url.find("://") + 3); }

class DesktopNetworkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<TestCluster>(1);
    cluster_->start();
    ns_ = cluster_->host_namespace(0);
    // A service on the host's loopback only, as orield, PostgreSQL or the
    // metrics would be.
    sh("mkdir -p " + www() + " && echo ORIEL-HOST-LOOPBACK > " + www() + "/index.html");
    sh("ip netns exec " + ns_ + " busybox httpd -p 127.0.0.1:" + kLoopbackPort + " -h " + www());
    // Two tenants' bridges on the host, with no host address on either.
    // Outside, on tenant A's segment only: a server at 10.213.0.2.
    out_ = "oriel-out-" + std::to_string(::getpid());
    std::string suffix = std::to_string(::getpid() % 100000);
    sh("ip -n " + ns_ + " link add br-ta type bridge && ip -n " + ns_ + " link set br-ta up");
    sh("ip -n " + ns_ + " link add br-tb type bridge && ip -n " + ns_ + " link set br-tb up");
    sh("ip netns add " + out_);
    sh("ip link add onh" + suffix + " netns " + ns_ + " type veth peer name eth0 netns " + out_);
    sh("ip -n " + ns_ + " link set onh" + suffix + " master br-ta up");
    sh("ip -n " + out_ + " addr add 10.213.0.2/24 dev eth0 && ip -n " + out_ + " link set eth0 up && ip -n " + out_ +
       " link set lo up");
    sh("mkdir -p " + www() + "/out && echo ORIEL-OUTSIDE > " + www() + "/out/index.html");
    sh("ip netns exec " + out_ + " busybox httpd -p 8080 -h " + www() + "/out");
  }
  static void TearDownTestSuite() {
    if (!out_.empty()) {
      (void)std::system(("for p in $(ip netns pids " + out_ + "); do kill -9 $p; done; ip netns del " + out_).c_str());
    }
    cluster_.reset();
    (void)std::system(("rm -rf " + www()).c_str());
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->log_tails(30);
  }

  static std::string www() { return "/tmp/oriel-net-test-" + std::to_string(::getpid()); }

  // The test guest with its network up and these kernel options.
  static std::string image(const std::string& name, const std::string& options) {
    auto admin = cluster_->admin();
    return import_test_guest(admin, name, {{"shared", true}}, options);
  }

  // The first outcome the guest printed for a probe of `target`: "OK ...",
  // "FAIL ..." or "" if none within the timeout.
  std::string probe(const std::string& desktop_id, const std::string& target) {
    std::string prefix = "ORIEL-PROBE " + target + " ", outcome;
    wait_until(
        [&] {
          std::string log = read_file(cluster_->serial_log(desktop_id));
          size_t at = log.find(prefix);
          if (at == std::string::npos) return false;
          size_t end = log.find('\n', at);
          if (end == std::string::npos) return false;
          outcome = log.substr(at + prefix.size(), end - at - prefix.size());
          while (!outcome.empty() && outcome.back() == '\r') outcome.pop_back();
          return true;
        },
        90s);
    return outcome;
  }

  static std::unique_ptr<TestCluster> cluster_;
  static std::string ns_, out_;
};

std::unique_ptr<TestCluster> DesktopNetworkTest::cluster_;
std::string DesktopNetworkTest::ns_, DesktopNetworkTest::out_;

TEST_F(DesktopNetworkTest, AnIsolatedDesktopReachesNeitherTheHostNorItsNetworks) {
  // The loopback service answers on the host itself.
  EXPECT_NE(sh_output("ip netns exec " + ns_ + " curl -s --max-time 5 http://127.0.0.1:" + kLoopbackPort + "/")
                .find("ORIEL-HOST-LOOPBACK"),
            std::string::npos);
  std::string controller = host_port(cluster_->controller().url());
  std::string img =
      image("isolated", std::string("oriel.net oriel.probe=10.0.2.2:") + kLoopbackPort + "," + controller);
  auto user = cluster_->log_on_new_user(0, img, "iso", "pooled", 0);  // the pool's default network

  auto admin = cluster_->admin();
  std::string pool = call(admin, "GET", "/api/v1/desktops/" + user.desktop_id).json["pool_id"];
  EXPECT_EQ(call(admin, "GET", "/api/v1/pools/" + pool).json["network"], "isolated");
  // DHCP works: the guest has an address and a gateway, and goes nowhere.
  ASSERT_TRUE(wait_until(
      [&] { return read_file(cluster_->serial_log(user.desktop_id)).find("ORIEL-NET 10.0.2.") != std::string::npos; },
      60s))
      << read_file(cluster_->serial_log(user.desktop_id));
  // 10.0.2.2 was the host's 127.0.0.1 in user-mode networking.
  EXPECT_TRUE(probe(user.desktop_id, std::string("10.0.2.2:") + kLoopbackPort).starts_with("FAIL"));
  // The management network, where the controller is.
  EXPECT_TRUE(probe(user.desktop_id, controller).starts_with("FAIL"));
}

TEST_F(DesktopNetworkTest, TenantBridgesReachTheirSegmentAndNeverEachOther) {
  std::string controller = host_port(cluster_->controller().url());
  std::string a_img =
      image("on-a", "oriel.net oriel.ip=10.213.0.10/24 oriel.serve oriel.probe=10.213.0.2:8080," + controller);
  // Tenant B uses the same subnet on its own bridge, and looks for A.
  std::string b_img = image("on-b", "oriel.net oriel.ip=10.213.0.11/24 oriel.probe=10.213.0.10:80,10.213.0.2:8080");
  auto a = cluster_->log_on_new_user(0, a_img, "ta", "pooled", 0, {{"network", "bridge:br-ta"}});
  auto b = cluster_->log_on_new_user(0, b_img, "tb", "pooled", 0, {{"network", "bridge:br-tb"}});

  // A reaches the server on its segment and is reachable there; the host and
  // its networks are not on that segment.
  EXPECT_EQ(probe(a.desktop_id, "10.213.0.2:8080"), "OK ORIEL-OUTSIDE");
  EXPECT_TRUE(probe(a.desktop_id, controller).starts_with("FAIL"));
  EXPECT_NE(sh_output("ip netns exec " + out_ + " curl -s --max-time 5 http://10.213.0.10/").find("ORIEL-GUEST-HTTP"),
            std::string::npos);
  // B, same subnet, other bridge: neither A nor A's server.
  EXPECT_TRUE(probe(b.desktop_id, "10.213.0.10:80").starts_with("FAIL"));
  EXPECT_TRUE(probe(b.desktop_id, "10.213.0.2:8080").starts_with("FAIL"));

  // Only the platform admin puts a pool on a bridge, and a bridge serves one
  // tenant.
  auto admin = cluster_->admin();
  std::string a_pool = call(admin, "GET", "/api/v1/desktops/" + a.desktop_id).json["pool_id"];
  std::string b_pool = call(admin, "GET", "/api/v1/desktops/" + b.desktop_id).json["pool_id"];
  EXPECT_EQ(call(admin, "GET", "/api/v1/pools/" + b_pool).json["network"], "bridge:br-tb");
  auto b_admin = create_user(cluster_->controller(), admin, b.user.tenant_id, "tb-admin", "tenant-admin");
  EXPECT_EQ(call(b_admin.client, "PATCH", "/api/v1/pools/" + b_pool, {{"network", "bridge:br-ta"}}).status, 403);
  EXPECT_EQ(call(b_admin.client, "PATCH", "/api/v1/pools/" + b_pool, {{"network", "none"}}).status, 200);
  Reply taken = call(admin, "PATCH", "/api/v1/pools/" + b_pool, {{"network", "bridge:br-ta"}});
  EXPECT_EQ(taken.status, 409) << taken.body;
  EXPECT_EQ(call(admin, "PATCH", "/api/v1/pools/" + a_pool, {{"network", "bridge:br-ta,script=/x"}}).status, 400);
  EXPECT_EQ(call(admin, "GET", "/api/v1/pools/" + a_pool).json["network"], "bridge:br-ta");
}

TEST_F(DesktopNetworkTest, ABridgeMissingOnTheHostIsAClearError) {
  auto admin = cluster_->admin();
  auto taps = [&] { return sh_output("ip -n " + ns_ + " -o link show type tun"); };
  std::string taps_before = taps();
  std::string tenant = create_tenant(admin, "nobr");
  std::string img = image("nobr", "oriel.net");
  std::string pool = create_pool(admin, tenant, img, "nobr pool", "pooled", 1, 1, {{"network", "bridge:br-absent"}});
  std::string error;
  ASSERT_TRUE(wait_until(
      [&] {
        Json desktops = call(admin, "GET", "/api/v1/desktops?pool_id=" + pool).json;
        for (const auto& d : desktops) {
          if (d.value("error", Json()).is_string()) error = d["error"];
        }
        return !error.empty();
      },
      60s));
  EXPECT_NE(error.find("bridge 'br-absent' does not exist on this host"), std::string::npos) << error;
  // Nothing of the attempt is left on the host.
  EXPECT_EQ(taps(), taps_before);
}

}  // namespace
}  // namespace oriel::testing
