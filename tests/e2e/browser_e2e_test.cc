// The user's path end to end in real headless Chromium: the portal served by
// orield, sign in, connect to a pool, and work in the desktop through the
// browser client. What was typed must reach the guest (its serial port), the
// client's canvas must show what the VM itself shows, when orield is killed
// and restarted the open tab must reconnect by itself, and logging off from
// the toolbar ends the session.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include "harness.h"
#include "oriel/common/process.h"
#include "png_util.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Pixels whose colour differs by more than `tolerance` in any channel.
size_t differing_pixels(const Image& a, const Image& b, int tolerance) {
  size_t differing = 0;
  for (size_t i = 0; i < a.rgba.size() && i < b.rgba.size(); i += 4) {
    for (int ch = 0; ch < 3; ++ch) {
      if (std::abs(int(a.rgba[i + ch]) - int(b.rgba[i + ch])) > tolerance) {
        ++differing;
        break;
      }
    }
  }
  return differing;
}

std::string running_desktop(net::ApiClient& admin, const std::string& pool) {
  std::string desktop;
  bool up = wait_until(
      [&] {
        Json ds = admin.get("/api/v1/desktops?pool_id=" + pool).value();
        if (ds.size() != 1 || ds[0]["state"] != "running") return false;
        desktop = ds[0]["id"];
        return true;
      },
      90s);
  return up ? desktop : "";
}

TEST(BrowserTest, AUserSignsInTypesIntoTheDesktopAndTheTabSurvivesAnOrieldRestart) {
  Orield orield({"--cpu-overcommit", "16"});
  orield.start();
  net::ApiClient admin = orield.admin();
  std::string image = import_test_guest(admin, "browser-guest");
  std::string tenant = create_tenant(admin, "Browser");
  std::string pool = create_pool(admin, tenant, image, "Browser desktops", "pooled", 1, 1, {{"memory_mb", 192}});
  TestUser carla = create_user(orield, admin, tenant, "carla");
  entitle(admin, pool, carla.id);
  // The spare runs and its shell is up before the browser comes.
  std::string desktop = running_desktop(admin, pool);
  ASSERT_FALSE(desktop.empty());
  std::string log = orield.serial_log(desktop);
  ASSERT_TRUE(wait_for_text(log, "ORIEL-GUEST-READY", 60s));

  std::string out = make_temp_dir("browser");
  auto n = std::random_device{}() % 1000000;
  std::string word = "chromium" + std::to_string(n), word2 = "again" + std::to_string(n);
  Json args = {{"url", orield.url()},
               {"ca", orield.ca_file()},
               {"username", carla.username},
               {"password", carla.password},
               {"pool", pool},
               {"word", word},
               {"word2", word2},
               {"out", out},
               {"web", std::string(ORIEL_SOURCE_DIR) + "/web"}};
  auto browser = std::async(std::launch::async, [&] {
    SystemProcessRunner runner;
    return runner.run({ORIEL_NODE, std::string(ORIEL_SOURCE_DIR) + "/tests/e2e/display_e2e.mjs", args.dump()},
                      {.timeout = 300s});
  });

  // Phase 1: the keys went through the browser, the gateway and QEMU to the
  // guest, and the canvas holds the desktop's pixels 1:1, as the VM's own
  // screenshot does.
  bool ready = wait_until([&] { return fs::exists(out + "/ready"); }, 150s);
  EXPECT_TRUE(ready) << "the browser never connected; see " << out;
  if (ready) {
    EXPECT_TRUE(wait_for_text(log, word, 30s)) << read_file(log);
    Image canvas, vm;
    ASSERT_TRUE(decode_png(read_file(out + "/canvas.png"), canvas));
    auto png = admin.request("GET", "/api/v1/desktops/" + desktop + "/screenshot", "");
    ASSERT_TRUE(png.ok());
    ASSERT_TRUE(decode_png(png->body, vm));
    ASSERT_EQ(canvas.width, vm.width);
    ASSERT_EQ(canvas.height, vm.height);
    EXPECT_LT(differing_pixels(vm, canvas, 24), size_t(vm.width) * vm.height / 500) << "see " << out;
    EXPECT_GT(vm.distinct_colours(), 1u) << "a blank screen proves nothing";
    // Phase 2: orield dies and comes back; the desktop (QEMU) never stopped.
    orield.kill9();
    orield.start();
    // Phase 3: typed again after the reconnect (read before the logoff
    // resets the desktop and starts its serial log afresh).
    EXPECT_TRUE(wait_until([&] { return fs::exists(out + "/typed-again"); }, 200s));
    EXPECT_TRUE(wait_for_text(log, word2, 30s)) << "typing after the reconnect: " << read_file(log);
    std::ofstream(out + "/log-off").flush();
  }

  auto run = browser.get();
  ASSERT_TRUE(run.ok()) << run.error().message();
  ASSERT_EQ(run->exit_code, 0) << run->err << run->out;
  Json seen = Json::parse(run->out.substr(run->out.rfind("\n{") + 1));
  EXPECT_EQ(seen["first"]["state"], "connected") << seen.dump();
  EXPECT_GT(seen["first"]["frames"].get<int>(), 0) << seen.dump();
  EXPECT_EQ(seen["first"]["version"], 2) << seen.dump();
  EXPECT_NE(seen["card"].get<std::string>().find("Browser desktops"), std::string::npos) << seen.dump();
  EXPECT_FALSE(seen["lost"].is_null()) << "the client never noticed the restart: " << seen.dump();
  EXPECT_FALSE(seen["back"].is_null()) << "the client did not reconnect by itself: " << seen.dump();
  EXPECT_EQ(seen["final"]["state"], "connected") << seen.dump();
  // Logged off from the toolbar: the session ended, the pool offers a new one.
  EXPECT_EQ(seen["loggedOff"]["message"], "You logged off.") << seen.dump();
  EXPECT_NE(seen["cardAfter"].get<std::string>().find("Connect"), std::string::npos) << seen.dump();
  net::ApiClient after = orield.admin();
  EXPECT_EQ(after.get("/api/v1/sessions?pool_id=" + pool).value().size(), 0u);
  if (!HasFailure() && !std::getenv("ORIEL_KEEP_TEST_DATA")) fs::remove_all(out);
}

}  // namespace
}  // namespace oriel::testing
