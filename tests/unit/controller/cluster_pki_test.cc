// The cluster's PKI in the controller against a real store, SQLite and
// PostgreSQL, with a manual clock: join tokens (once, before they expire,
// admins only), signed requests, heartbeats by certificate, revocation, and
// one CA for every controller on a database.
#include <gtest/gtest.h>

#include <filesystem>

#include "oriel/agent/host.h"
#include "oriel/controller/controller.h"
#include "oriel/net/pki.h"
#include "store_test_backends.h"

namespace oriel::controller {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ClusterPkiTest : public ::testing::TestWithParam<test_support::Backend> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("oriel-pki-{}-{}", ::getpid(), ++tests_);
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "run");
    auto db = test_support::TestDatabase::create(GetParam());
    ASSERT_TRUE(db.ok()) << db.error().message();
    db_ = std::move(db).value();
    store_ = db_->open().value();
    agent_ = std::make_unique<agent::Host>(
        runner_, agent::LocalAgentOptions{
                     "host-1", (dir_ / "run").string(), (dir_ / "disks").string(), {agent::Accelerator::kTcg, "test"}});
    controller_ = make_controller(*store_);
  }
  void TearDown() override {
    controller_.reset();
    agent_.reset();
    store_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  std::unique_ptr<Controller> make_controller(store::Store& store, ControllerOptions options = {}) {
    options.data_dir = dir_.string();
    auto c = std::make_unique<Controller>(store, agent_->agent(), clock_, random_, options);
    auto booted = c->bootstrap("admin-password");
    EXPECT_TRUE(booted.ok()) << booted.error().message();
    return c;
  }

  // A certificate request of a new key for `name`.
  struct Request {
    std::string key, csr;
  };
  static Request request(const std::string& name) {
    std::string key = net::make_private_key().value();
    return {key, net::make_certificate_request(key, name).value()};
  }
  // What the listener would report for a verified client certificate.
  static PeerCertificate peer(const std::string& cert_pem) {
    auto info = net::inspect_certificate(cert_pem).value();
    return {info.common_name, info.fingerprint};
  }
  static agent::AgentHello hello(const std::string& name) {
    agent::AgentHello h;
    h.url = "https://10.0.0.9:8080";
    h.disks_dir = "/var/lib/oriel/disks";
    h.report.name = name;
    h.report.cpus = 8;
    h.report.memory_mb = 16384;
    return h;
  }

  static inline int tests_ = 0;
  fs::path dir_;
  std::unique_ptr<test_support::TestDatabase> db_;
  SystemProcessRunner runner_;
  ManualClock clock_{from_unix_ms(1'795'000'000'000)};
  SeededRandom random_{7};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<agent::Host> agent_;
  std::unique_ptr<Controller> controller_;
  Principal admin_{"", "admin", "admin", ""};
};

TEST_P(ClusterPkiTest, AJoinTokenWorksOnceAndGivesASignedCertificateForTheHost) {
  auto token = controller_->hosts().create_join_token(admin_, 1h).value();
  EXPECT_EQ(token.ca_pin, net::inspect_certificate(controller_->cluster().ca_pem).value().public_key_pin);
  EXPECT_EQ(token.expires_at, clock_.now() + 1h);
  auto r = request("whatever-the-agent-asks");
  auto issued = controller_->hosts().join(token.token, "h7", "10.0.0.7", r.csr);
  ASSERT_TRUE(issued.ok()) << issued.error().message();
  EXPECT_EQ(issued->ca_pem, controller_->cluster().ca_pem);
  EXPECT_TRUE(net::signed_by(issued->certificate_pem, issued->ca_pem));
  auto info = net::inspect_certificate(issued->certificate_pem).value();
  EXPECT_EQ(info.common_name, "h7") << "the CA names the host, not the request";
  EXPECT_EQ(info.names, std::vector<std::string>{"10.0.0.7"});

  auto again = controller_->hosts().join(token.token, "h8", "10.0.0.8", request("h8").csr);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kUnauthenticated);
  auto made_up = controller_->hosts().join("oj-made-up", "h8", "10.0.0.8", request("h8").csr);
  EXPECT_EQ(made_up.error().code(), ErrorCode::kUnauthenticated);
}

TEST_P(ClusterPkiTest, AnExpiredTokenOrABadRequestJoinsNothing) {
  auto token = controller_->hosts().create_join_token(admin_, 60s).value();
  // A request that does not verify leaves the token unspent.
  auto bad = controller_->hosts().join(token.token, "h7", "10.0.0.7", "-----BEGIN CERTIFICATE REQUEST-----\n");
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(controller_->hosts().join(token.token, "bad name!", "10.0.0.7", request("x").csr).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(controller_->hosts().join(token.token, "h7", "10.0.0.7,IP:1.2.3.4", request("x").csr).error().code(),
            ErrorCode::kInvalidArgument);
  clock_.advance(61s);
  auto late = controller_->hosts().join(token.token, "h7", "10.0.0.7", request("h7").csr);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code(), ErrorCode::kUnauthenticated);
}

TEST_P(ClusterPkiTest, OnlyAdminsMakeTokensOfASaneLifetime) {
  Principal tenant_admin{"u-1", "ta", "tenant-admin", "t-1"};
  EXPECT_EQ(controller_->hosts().create_join_token(tenant_admin, 1h).error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(controller_->hosts().create_join_token(admin_, 59s).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(controller_->hosts().create_join_token(admin_, 8 * 24h).error().code(), ErrorCode::kInvalidArgument);
}

TEST_P(ClusterPkiTest, HeartbeatsNeedTheHostsOwnCertificateUntilTheHostIsRemoved) {
  auto token = controller_->hosts().create_join_token(admin_, 1h).value();
  auto issued = controller_->hosts().join(token.token, "h7", "10.0.0.7", request("h7").csr).value();
  PeerCertificate h7 = peer(issued.certificate_pem);
  auto beat = controller_->hosts().heartbeat("", h7, hello("h7"));
  ASSERT_TRUE(beat.ok()) << beat.error().message();
  EXPECT_EQ(controller_->hosts().heartbeat("", h7, hello("h8")).error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(controller_->hosts().heartbeat("", {}, hello("h7")).error().code(), ErrorCode::kUnauthenticated);
  // A certificate of the CA that no join recorded (made with the CA's key).
  net::CertificateProfile forged{"h7", {}, true, true, clock_.now(), 24h};
  auto other = net::issue_certificate({controller_->cluster().ca_pem, controller_->cluster().ca_key_pem}, forged);
  EXPECT_EQ(controller_->hosts().heartbeat("", peer(other->cert_pem), hello("h7")).error().code(),
            ErrorCode::kUnauthenticated);

  // Renewal with the certificate it has; the old one keeps working until removal.
  auto renewed = controller_->hosts().renew(h7, "10.0.0.7", request("h7").csr);
  ASSERT_TRUE(renewed.ok()) << renewed.error().message();
  PeerCertificate h7_new = peer(renewed->certificate_pem);
  EXPECT_NE(h7_new.fingerprint, h7.fingerprint);
  ASSERT_TRUE(controller_->hosts().heartbeat("", h7_new, hello("h7")).ok());

  ASSERT_TRUE(controller_->hosts().remove(admin_, beat->host_id).ok());
  for (const auto& cert : {h7, h7_new}) {
    auto refused = controller_->hosts().heartbeat("", cert, hello("h7"));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthenticated);
    EXPECT_NE(refused.error().message().find("revoked"), std::string::npos) << refused.error().message();
    EXPECT_EQ(controller_->hosts().renew(cert, "10.0.0.7", request("h7").csr).error().code(),
              ErrorCode::kUnauthenticated);
  }
  EXPECT_EQ(controller_->hosts().remove(admin_, beat->host_id).error().code(), ErrorCode::kNotFound);
}

TEST_P(ClusterPkiTest, TheDeprecatedClusterTokenStillLetsAHeartbeatIn) {
  EXPECT_EQ(controller_->hosts().heartbeat("secret", {}, hello("h7")).error().code(), ErrorCode::kUnauthenticated);
  ControllerOptions legacy;
  legacy.cluster_token = "secret";
  auto c = make_controller(*store_, legacy);
  EXPECT_TRUE(c->hosts().heartbeat("secret", {}, hello("h7")).ok());
  EXPECT_EQ(c->hosts().heartbeat("wrong", {}, hello("h7")).error().code(), ErrorCode::kUnauthenticated);
}

TEST_P(ClusterPkiTest, ControllersOnOneStoreShareTheFirstCa) {
  auto second = make_controller(*store_);
  EXPECT_EQ(second->cluster().ca_pem, controller_->cluster().ca_pem);
  EXPECT_EQ(second->cluster().ca_pin, controller_->cluster().ca_pin);
  // A CA offered later (an old data directory's) does not replace it.
  auto offered = net::make_ca("old", clock_.now(), 24h).value();
  ControllerOptions o;
  o.cluster_ca_pem = offered.cert_pem;
  o.cluster_ca_key_pem = offered.key_pem;
  EXPECT_EQ(make_controller(*store_, o)->cluster().ca_pem, controller_->cluster().ca_pem);
}

INSTANTIATE_TEST_SUITE_P(Backends, ClusterPkiTest, test_support::kAllBackends, test_support::BackendName());

}  // namespace
}  // namespace oriel::controller
