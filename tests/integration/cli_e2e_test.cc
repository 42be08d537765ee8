// The oriel command line against a real orield and the real test guest:
// what a script sees (exit codes, --output json) and what a person sees.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness.h"
#include "oriel/common/process.h"
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
  // Runs `oriel ARGS...` with its own config dir; returns the exit code.
  int oriel(std::vector<std::string> args, std::string* out = nullptr) {
    std::vector<std::string> argv = {"env", "XDG_CONFIG_HOME=" + config_, std::string(ORIEL_BINARY_DIR) + "/bin/oriel",
                                     "--server", orield_.url()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.timeout = 120s;
    auto r = runner_.run(argv, options);
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (out) *out = r->out;
    if (r->exit_code != 0) last_err_ = r->err;
    return r->exit_code;
  }
  Orield orield_;
  SystemProcessRunner runner_;
  std::string config_, last_err_;
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
