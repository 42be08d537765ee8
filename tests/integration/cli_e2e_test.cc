// The oriel command line against a real orield and the real test guest:
// what a script sees (exit codes, --output json) and what a person sees.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <fstream>

#include "harness.h"
#include "oriel/common/process.h"
#include "oriel/net/pki.h"
#include "png_util.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

class CliE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    orield_.start();
    config_ = make_temp_dir("cli-config");
  }
  void TearDown() override { std::filesystem::remove_all(config_); }
  // Runs `oriel ARGS...` with its own config dir (trusting orield's CA
  // unless trust_ca_ is false); returns the exit code.
  int oriel(std::vector<std::string> args, std::string* out = nullptr) {
    std::vector<std::string> argv = {"env", "XDG_CONFIG_HOME=" + config_, std::string(ORIEL_BINARY_DIR) + "/bin/oriel",
                                     "--server", orield_.url()};
    if (trust_ca_) argv.insert(argv.end(), {"--ca-file", orield_.ca_file()});
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.timeout = 120s;
    auto r = runner_.run(argv, options);
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (out) *out = r->out;
    if (r->exit_code != 0) last_err_ = r->err;
    return r->exit_code;
  }
  // What `openssl x509 -fingerprint -sha256` says of orield's certificate:
  // "AB:CD:...", as a person would copy it.
  std::string openssl_fingerprint() {
    auto r = runner_.run(
        {"openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", orield_.data_dir() + "/tls/server.pem"},
        {.timeout = 10s});
    EXPECT_TRUE(r.ok() && r->exit_code == 0);
    std::string line = r.ok() ? r->out : "";
    line = line.substr(line.find('=') + 1);
    return line.substr(0, line.find_last_not_of('\n') + 1);
  }
  Orield orield_;
  SystemProcessRunner runner_;
  std::string config_, last_err_;
  bool trust_ca_ = true;
};

TEST_F(CliE2eTest, AScriptCanDriveADesktopsWholeLife) {
  ASSERT_EQ(oriel({"login", "--username", "admin", "--password", orield_.password()}), 0) << last_err_;
  auto guest = TestGuest::locate();
  ASSERT_EQ(oriel({"image", "import", "guest", guest.disk, "--format", "raw", "--kernel", guest.kernel, "--initrd",
                   guest.initrd, "--cmdline", guest.cmdline}),
            0)
      << last_err_;
  std::string out;
  ASSERT_EQ(oriel({"-o", "json", "image", "list"}, &out), 0);
  Json images = parse_json(out).value();
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0]["state"], "ready");
  std::string image = images[0]["id"];

  ASSERT_EQ(oriel({"-o", "json", "desktop", "create", "d1", "--image", image, "--memory", "256", "--wait"}, &out), 0)
      << last_err_;
  Json desktop = parse_json(out).value();
  EXPECT_EQ(desktop["state"], "running");
  std::string id = desktop["id"];

  std::string png_path = config_ + "/screen.png";
  ASSERT_EQ(oriel({"desktop", "screenshot", id, "-f", png_path}), 0) << last_err_;
  Image screen;
  EXPECT_TRUE(decode_png(read_file(png_path), screen));
  EXPECT_GE(screen.width, 640);

  ASSERT_EQ(oriel({"desktop", "list"}, &out), 0);
  EXPECT_NE(out.find("d1"), std::string::npos) << out;
  EXPECT_NE(out.find("running"), std::string::npos) << out;

  EXPECT_EQ(oriel({"image", "delete", image}), 5) << "an image in use is a conflict";
  EXPECT_EQ(oriel({"desktop", "show", "d-doesnotexist"}), 4);
  EXPECT_EQ(oriel({"desktop", "delete", id, "--wait"}), 0) << last_err_;
  EXPECT_EQ(oriel({"desktop", "show", id}), 4);
}

TEST_F(CliE2eTest, AnUnknownCertificateIsTrustedByItsFingerprintOnlyAndThenPinned) {
  trust_ca_ = false;
  std::string fingerprint = openssl_fingerprint();
  ASSERT_EQ(fingerprint.size(), 95u) << fingerprint;
  auto pin = net::normalize_fingerprint(fingerprint);
  ASSERT_TRUE(pin.ok());
  // No terminal to ask: refused, with the fingerprint to check.
  EXPECT_EQ(oriel({"login", "--password", orield_.password()}), 6);
  EXPECT_NE(last_err_.find(*pin), std::string::npos) << last_err_;
  EXPECT_NE(last_err_.find("--fingerprint"), std::string::npos) << last_err_;
  EXPECT_EQ(oriel({"--fingerprint", "sha256:" + std::string(64, '0'), "login", "--password", orield_.password()}), 6);
  EXPECT_NE(last_err_.find("not the pinned certificate"), std::string::npos) << last_err_;

  // The fingerprint as openssl prints it: logged in, and pinned.
  ASSERT_EQ(oriel({"--fingerprint", fingerprint, "login", "--password", orield_.password()}), 0) << last_err_;
  Json saved = parse_json(read_file(config_ + "/oriel/credentials.json")).value();
  EXPECT_EQ(saved["fingerprint"], *pin);
  EXPECT_EQ(oriel({"host", "list"}), 0) << last_err_;

  // A new certificate (made on SIGHUP when the old one is gone) is refused.
  std::filesystem::remove(orield_.data_dir() + "/tls/server.pem");
  ::kill(orield_.pid(), SIGHUP);
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(orield_.data_dir() + "/tls/server.pem"); }, 10s));
  ASSERT_TRUE(wait_until([&] { return oriel({"host", "list"}) == 6; }, 10s)) << "the new certificate was accepted";
  EXPECT_NE(last_err_.find("not the one trusted at login"), std::string::npos) << last_err_;
  EXPECT_NE(openssl_fingerprint(), fingerprint);
}

TEST_F(CliE2eTest, AnAdminMakesAJoinTokenForANewHost) {
  ASSERT_EQ(oriel({"login", "--password", orield_.password()}), 0) << last_err_;
  std::string out;
  ASSERT_EQ(oriel({"-o", "json", "host", "join-token", "create", "--ttl", "10m"}, &out), 0) << last_err_;
  Json token = parse_json(out).value();
  EXPECT_TRUE(token["token"].get<std::string>().starts_with("oj-")) << out;
  EXPECT_EQ(token["ca_pin"], net::inspect_certificate(read_file(orield_.ca_file())).value().public_key_pin);
  ASSERT_EQ(oriel({"host", "join-token", "create"}, &out), 0) << last_err_;
  EXPECT_NE(out.find("--join-token oj-"), std::string::npos) << out;
  EXPECT_NE(out.find("--ca-pin " + token["ca_pin"].get<std::string>()), std::string::npos) << out;
  EXPECT_EQ(oriel({"host", "join-token", "create", "--ttl", "9d"}), 2) << "a token of more than 7 days";
  EXPECT_EQ(oriel({"host", "join-token", "create", "--ttl", "soon"}), 2);
  EXPECT_EQ(oriel({"host", "remove", "h-nope"}), 4);
}

TEST_F(CliE2eTest, FailuresHaveTheirExitCodes) {
  EXPECT_EQ(oriel({"image", "list"}), 3) << "not logged in";
  EXPECT_EQ(oriel({"login", "--username", "admin", "--password", "wrong"}), 3);
  ASSERT_EQ(oriel({"login", "--username", "admin", "--password", orield_.password()}), 0);
  std::string text = config_ + "/notes.txt";
  std::ofstream(text) << "not a disk\n";
  EXPECT_EQ(oriel({"image", "import", "notes", text}), 7) << "a failed import";
  EXPECT_NE(last_err_.find("not a disk image"), std::string::npos) << last_err_;
  EXPECT_EQ(oriel({"image", "import", "missing", "/nonexistent.vhd"}), 2) << last_err_;
  EXPECT_EQ(oriel({"desktop", "frobnicate"}), 2);
}

}  // namespace
}  // namespace oriel::testing
