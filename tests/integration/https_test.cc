// orield's HTTPS as outside tools see it: `openssl s_client` for the chain,
// the names and the protocol versions, `curl` for the security headers and
// cross-origin refusals, a SIGHUP that renews the certificate under an open
// display session, and the rules for plain HTTP.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "display_client.h"
#include "harness.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orield_ = new Orield({"--cpu-overcommit", "16"});
    orield_->start();
  }
  static void TearDownTestSuite() {
    delete orield_;
    orield_ = nullptr;
  }

  // Runs a command with stdin closed; its exit code and output.
  ProcessResult run(const std::vector<std::string>& argv) {
    auto r = runner_.run(argv, {.timeout = 30s});
    if (!r.ok()) throw std::runtime_error(r.error().message());
    return *r;
  }
  std::string authority() const { return orield_->url().substr(std::string("https://").size()); }
  // `openssl s_client` against orield with extra arguments; the exit code and what it printed.
  ProcessResult s_client(std::vector<std::string> extra) {
    std::vector<std::string> argv = {"openssl", "s_client", "-connect", authority(), "-CAfile", orield_->ca_file()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv);
  }
  // curl's answer headers (lower-case names) and status for a request.
  ProcessResult curl(std::vector<std::string> extra, const std::string& path) {
    std::vector<std::string> argv = {"curl",      "-sS", "--max-time", "5",        "-o",
                                     "/dev/null", "-D",  "-",          "--cacert", orield_->ca_file()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(orield_->url() + path);
    return run(argv);
  }
  static bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

  static Orield* orield_;
  SystemProcessRunner runner_;
};

Orield* HttpsTest::orield_ = nullptr;

TEST_F(HttpsTest, OpensslVerifiesTheChainAndTheNames) {
  for (std::string name : {"localhost", "127.0.0.1"}) {
    bool ip = name == "127.0.0.1";
    auto r = s_client({"-verify_return_error", ip ? "-verify_ip" : "-verify_hostname", name, "-brief"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_TRUE(has(r.err, "Verification: OK")) << r.err;
  }
  auto wrong = s_client({"-verify_return_error", "-verify_hostname", "oriel.example.com", "-brief"});
  EXPECT_NE(wrong.exit_code, 0) << "a name the certificate does not carry verified";
  auto sans =
      run({"openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", orield_->data_dir() + "/tls/server.pem"});
  EXPECT_TRUE(has(sans.out, "DNS:localhost")) << sans.out;
  EXPECT_TRUE(has(sans.out, "IP Address:127.0.0.1")) << sans.out;
  auto key = run({"openssl", "x509", "-noout", "-text", "-in", orield_->data_dir() + "/tls/server.pem"});
  EXPECT_TRUE(has(key.out, "prime256v1")) << "not ECDSA P-256";
}

TEST_F(HttpsTest, OnlyTls12And13AreSpoken) {
  // The client is told to offer old versions (OpenSSL 3 refuses them itself
  // at its default security level), so the refusal is the server's.
  for (const char* old : {"-tls1", "-tls1_1"}) {
    auto r = s_client({old, "-cipher", "DEFAULT@SECLEVEL=0", "-brief"});
    EXPECT_NE(r.exit_code, 0) << old << " was accepted";
  }
  auto v12 = s_client({"-tls1_2", "-brief"});
  EXPECT_EQ(v12.exit_code, 0) << v12.err;
  EXPECT_TRUE(has(v12.err, "Protocol version: TLSv1.2")) << v12.err;
  auto v13 = s_client({"-tls1_3", "-brief"});
  EXPECT_EQ(v13.exit_code, 0) << v13.err;
  EXPECT_TRUE(has(v13.err, "Protocol version: TLSv1.3")) << v13.err;
  // No weak TLS 1.2 suite: CBC with RSA key exchange is refused.
  EXPECT_NE(s_client({"-tls1_2", "-cipher", "AES128-SHA", "-brief"}).exit_code, 0);
}

TEST_F(HttpsTest, PagesAndAnswersCarryTheSecurityHeaders) {
  for (std::string path : {"/", "/admin", "/healthz", "/api/v1/desktops"}) {
    auto r = curl({}, path);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string h = r.out;  // field names compare case-insensitively
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::tolower(c); });
    EXPECT_TRUE(has(h, "strict-transport-security: max-age=")) << path << "\n" << h;
    EXPECT_TRUE(has(h, "content-security-policy: default-src 'self'; script-src 'self'; style-src 'self';")) << h;
    EXPECT_TRUE(has(h, "frame-ancestors 'none'")) << h;
    EXPECT_TRUE(has(h, "x-content-type-options: nosniff")) << h;
    EXPECT_TRUE(has(h, "referrer-policy: no-referrer")) << h;
  }
}

// A text/plain or form login is a request any page can send without a
// preflight: refused, so only JSON (which needs one) gets to guess.
TEST_F(HttpsTest, LoginTakesOnlyJson) {
  std::string login = R"({"username":"admin","password":")" + orield_->password() + R"("})";
  for (std::string type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"}) {
    auto r = curl({"-X", "POST", "-H", "Content-Type: " + type, "--data", login}, "/api/v1/auth/login");
    EXPECT_TRUE(has(r.out, "HTTP/1.1 415")) << type << ": " << r.out;
  }
  auto json = curl({"-X", "POST", "-H", "Content-Type: Application/JSON; charset=utf-8", "--data", login},
                   "/api/v1/auth/login");
  EXPECT_TRUE(has(json.out, "HTTP/1.1 200")) << json.out;
}

TEST_F(HttpsTest, PagesElsewhereCannotCallTheApiOrOpenItsWebSockets) {
  std::string login = R"({"username":"admin","password":")" + orield_->password() + R"("})";
  std::vector<std::string> post = {"-X", "POST", "-H", "Content-Type: application/json", "--data", login};
  auto own = post;
  own.insert(own.end(), {"-H", "Origin: " + orield_->url()});
  EXPECT_TRUE(has(curl(own, "/api/v1/auth/login").out, "HTTP/1.1 200")) << "the page's own origin was refused";
  auto evil = post;
  evil.insert(evil.end(), {"-H", "Origin: https://evil.example"});
  EXPECT_TRUE(has(curl(evil, "/api/v1/auth/login").out, "HTTP/1.1 403"));
  // A WebSocket handshake: 101 from the own origin, 403 from another.
  std::vector<std::string> upgrade = {
      "-H",       "Connection: Upgrade",       "-H", "Upgrade: websocket",
      "-H",       "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "--http1.1"};
  for (std::string origin : {"https://evil.example", "null"}) {
    auto refused = upgrade;
    refused.insert(refused.end(), {"-H", "Origin: " + origin});
    auto r = curl(refused, "/api/v1/events");
    EXPECT_TRUE(has(r.out, "HTTP/1.1 403")) << origin << ": " << r.out;
  }
  auto allowed = upgrade;
  allowed.insert(allowed.end(), {"-H", "Origin: " + orield_->url()});
  EXPECT_TRUE(has(curl(allowed, "/api/v1/events").out, "HTTP/1.1 101")) << "the own origin's WebSocket was refused";
}

TEST_F(HttpsTest, ASighupRenewsTheCertificateUnderAnOpenDisplaySession) {
  auto admin = orield_->admin();
  std::string image = import_test_guest(admin, "hup-guest");
  std::string tenant = create_tenant(admin, "Hup");
  std::string pool = create_pool(admin, tenant, image, "hup pool", "pooled", 1, 0);
  TestUser user = create_user(*orield_, admin, tenant, "hup-user");
  entitle(admin, pool, user.id);
  Reply logon = call(user.client, "POST", "/api/v1/sessions", {{"pool_id", pool}});
  ASSERT_EQ(logon.status, 201) << logon.body;
  std::string desktop = logon.json["desktop_id"];
  ASSERT_EQ(wait_for_state(admin, "/api/v1/desktops/" + desktop, {"running", "failed"}, 120s)["state"], "running");
  Reply ticket = call(user.client, "POST", "/api/v1/sessions/" + std::string(logon.json["id"]) + "/tickets");
  ASSERT_EQ(ticket.status, 201) << ticket.body;
  std::string url = ticket.json["display_url"];
  EXPECT_TRUE(url.starts_with("wss://")) << url;
  DisplayClient display(url, orield_->tls());
  ASSERT_TRUE(display.hello_and_frames(1)) << display.error();

  auto host = orield_->url().substr(8, orield_->url().rfind(':') - 8);
  auto port = static_cast<uint16_t>(std::stoi(orield_->url().substr(orield_->url().rfind(':') + 1)));
  auto before = net::fetch_server_fingerprint(host, port, 5s).value();
  std::filesystem::remove(orield_->data_dir() + "/tls/server.pem");  // orield makes a new one on SIGHUP
  ASSERT_EQ(::kill(orield_->pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_until(
      [&] {
        auto now = net::fetch_server_fingerprint(host, port, 5s);
        return now.ok() && *now != before;
      },
      10s))
      << "new connections still see the old certificate";
  EXPECT_TRUE(display.follow(1s)) << "the display session did not survive the reload: " << display.error();
  EXPECT_TRUE(admin.get("/healthz").ok()) << "a keep-alive API connection did not survive";
  EXPECT_TRUE(orield_->client().get("/healthz").ok()) << "the renewed certificate is not trusted through the CA";
}

TEST(PublicUrlTest, DisplayUrlsPointAtThePublicUrl) {
  Orield behind({"--public-url", "https://desktops.example.com/oriel", "--cpu-overcommit", "16"});
  behind.start();
  auto admin = behind.admin();
  std::string image = import_test_guest(admin, "public-guest");
  std::string tenant = create_tenant(admin, "Public");
  std::string pool = create_pool(admin, tenant, image, "public pool", "pooled", 1, 0);
  TestUser user = create_user(behind, admin, tenant, "public-user");
  entitle(admin, pool, user.id);
  Reply logon = call(user.client, "POST", "/api/v1/sessions", {{"pool_id", pool}});
  ASSERT_EQ(logon.status, 201) << logon.body;
  std::string url = logon.json["display_url"];
  std::string session = logon.json["id"];
  EXPECT_TRUE(url.starts_with("wss://desktops.example.com/oriel/display/" + session + "?ticket=")) << url;
  Reply ticket = call(user.client, "POST", "/api/v1/sessions/" + session + "/tickets");
  ASSERT_EQ(ticket.status, 201) << ticket.body;
  EXPECT_TRUE(std::string(ticket.json["display_url"]).starts_with("wss://desktops.example.com/oriel/display/"));
}

// The admin's password, kept out of ps: from a file, and a warning when it
// is given on the command line.
TEST(AdminPasswordTest, FromAFileAndWarnedAboutOnTheCommandLine) {
  std::string dir = make_temp_dir("password-file");
  std::string file = dir + "/admin-password", data = dir + "/data";
  std::ofstream(file) << "From-a-file-pw-1\n";
  std::string orield = std::string(ORIEL_BINARY_DIR) + "/bin/orield";
  SystemProcessRunner runner;
  // Started with the file, then asked to log in with what it holds.
  std::string script = fmt::format(
      "{0} --admin-password-file {1} --data-dir {2} --listen 127.0.0.1:0 --accelerator tcg 2>{2}.log & pid=$!; "
      "for i in $(seq 200); do [ -s {2}/orield.url ] && break; sleep 0.1; done; "
      "curl -s --cacert {2}/tls/ca.pem -H 'Content-Type: application/json' "
      "-d '{{\"username\":\"admin\",\"password\":\"From-a-file-pw-1\"}}' $(cat {2}/orield.url)/api/v1/auth/login; "
      "kill $pid; wait $pid",
      orield, file, data);
  auto r = runner.run({"sh", "-c", script}, {.timeout = 60s}).value();
  EXPECT_NE(r.out.find("\"token\""), std::string::npos) << r.out << read_file(data + ".log");
  EXPECT_EQ(read_file(data + ".log").find("visible to every local user"), std::string::npos);

  // Both at once is a mistake, said as such.
  auto both =
      runner.run({orield, "--admin-password-file", file, "--admin-password", "x", "--data-dir", data}, {}).value();
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("not both"), std::string::npos) << both.err;
  auto empty = runner.run({orield, "--admin-password-file", dir + "/missing", "--data-dir", data}, {}).value();
  EXPECT_EQ(empty.exit_code, 2);

  // The harness gives --admin-password on the command line: orield says it shows.
  Orield visible;
  visible.start();
  EXPECT_NE(read_file(visible.data_dir() + "/orield.log").find("--admin-password on the command line is visible"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

// Security probe #3: the way back in when no one can sign in, straight on
// the database: the password is set, the wait after failed logins cleared,
// and every token of the user revoked.
TEST(ResetPasswordTest, TheRecoveryCommandLetsAThrottledUserBackIn) {
  Orield orield;
  orield.start();
  auto admin = orield.admin();
  auto ana = create_user(orield, admin, create_tenant(admin, "acme"), "ana");
  auto anon = orield.client();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(anon.login("ana", "wrong-password").ok());
  ASSERT_EQ(anon.login("ana", ana.password).error().code(), ErrorCode::kRateLimited);

  std::string bin = std::string(ORIEL_BINARY_DIR) + "/bin/orield";
  SystemProcessRunner runner;
  auto reset = [&](const std::string& user, const std::string& password) {
    return runner
        .run({"sh", "-c",
              fmt::format("printf '%s\\n' '{}' | {} admin reset-password --user {} --data-dir {}", password, bin, user,
                          orield.data_dir())},
             {.timeout = 60s})
        .value();
  };
  auto done = reset("ana", "A-new-password-1");
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_NE(done.out.find("the password of 'ana' is set"), std::string::npos) << done.out;
  EXPECT_EQ(ana.client.get("/api/v1/auth/me").error().code(), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(anon.login("ana", "A-new-password-1").ok());  // at once: the wait is cleared

  auto unknown = reset("nobody", "A-new-password-1");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("not found"), std::string::npos) << unknown.err;
  auto short_one = reset("ana", "short");
  EXPECT_EQ(short_one.exit_code, 1);
  EXPECT_NE(short_one.err.find("8 to 1024"), std::string::npos) << short_one.err;
  EXPECT_TRUE(anon.login("ana", "A-new-password-1").ok());  // a refused reset changed nothing
  std::string empty_dir = make_temp_dir("no-database");
  auto nothing = runner.run({bin, "admin", "reset-password", "--data-dir", empty_dir}, {.timeout = 60s}).value();
  EXPECT_NE(nothing.exit_code, 0);
  std::filesystem::remove_all(empty_dir);
}

TEST(InsecureHttpTest, PlainHttpOnlyOnLoopback) {
  Orield plain({"--insecure-http"});
  plain.start();
  EXPECT_TRUE(plain.url().starts_with("http://")) << plain.url();
  EXPECT_TRUE(plain.client().get("/healthz").ok());

  SystemProcessRunner runner;
  std::string dir = make_temp_dir("insecure");
  auto r = runner.run({std::string(ORIEL_BINARY_DIR) + "/bin/orield", "--insecure-http", "--listen", "0.0.0.0:0",
                       "--data-dir", dir, "--accelerator", "tcg"},
                      {.timeout = 60s});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->err.find("--trusted-proxy"), std::string::npos) << r->err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace oriel::testing
