// kill -9 of orield never stops a desktop; the restarted orield manages it.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "harness.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

TEST(RestartTest, KillNineLeavesDesktopsRunningAndTheNextOrieldManagesThem) {
  Orield orield;
  orield.start();
  auto api = orield.admin();
  std::string image = import_test_guest(api, "guest");
  auto d = api.post("/api/v1/desktops", {{"name", "survivor"}, {"image_id", image}, {"vcpus", 1}, {"memory_mb", 256}});
  ASSERT_TRUE(d.ok());
  std::string id = (*d)["id"];
  ASSERT_EQ(wait_for_state(api, "/api/v1/desktops/" + id, {"running", "failed"}, 60s)["state"], "running");
  ASSERT_TRUE(wait_for_text(orield.serial_log(id), "ORIEL-GUEST-READY", 30s));
  pid_t qemu = orield.qemu_pid(id);
  ASSERT_GT(qemu, 0);

  orield.kill9();
  EXPECT_EQ(::kill(qemu, 0), 0) << "QEMU died with orield";

  orield.start();
  auto again = orield.admin();
  auto desk = again.get("/api/v1/desktops/" + id);
  ASSERT_TRUE(desk.ok());
  EXPECT_EQ((*desk)["state"], "running");
  EXPECT_EQ(orield.qemu_pid(id), qemu) << "orield started a second QEMU instead of re-attaching";
  // Still managed: the screenshot works, and stop reaches the same QEMU.
  EXPECT_TRUE(again.get_bytes("/api/v1/desktops/" + id + "/screenshot").ok());
  ASSERT_TRUE(again.post("/api/v1/desktops/" + id + "/actions/stop").ok());
  EXPECT_EQ(wait_for_state(again, "/api/v1/desktops/" + id, {"stopped", "failed"}, 30s)["state"], "stopped");
  EXPECT_TRUE(wait_until([&] { return ::kill(qemu, 0) != 0; }, 5s));
}

// libvncclient write()s to its socket; when the desktop's QEMU has just quit
// (a migration, a stop) that write raises SIGPIPE, which used to end orield.
TEST(RestartTest, ABrokenPipeLeavesOrieldServing) {
  Orield orield;
  orield.start();
  ASSERT_EQ(::kill(orield.pid(), SIGPIPE), 0);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(orield.status(), "running");
  EXPECT_TRUE(orield.admin().get("/api/v1/desktops").ok());
}

TEST(RestartTest, ImportInterruptedByKillNineCompletesAfterRestart) {
  Orield orield;
  orield.start();
  auto api = orield.admin();
  auto guest = TestGuest::locate();
  auto r = api.post("/api/v1/images", {{"name", "interrupted"}, {"source_path", guest.disk}, {"format", "raw"}});
  ASSERT_TRUE(r.ok());
  orield.kill9();  // whatever point the import reached
  orield.start();
  auto again = orield.admin();
  auto image = wait_for_state(again, "/api/v1/images/" + (*r)["id"].get<std::string>(), {"ready", "failed"}, 60s);
  EXPECT_EQ(image["state"], "ready") << image.dump();
  EXPECT_EQ(image["progress"], 100);
}

}  // namespace
}  // namespace oriel::testing
