// A desktop's whole life through the REST API, on the real QEMU test guest.
#include <gtest/gtest.h>

#include "harness.h"
#include "png_util.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

class DesktopLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    orield_.start();
    api_ = std::make_unique<net::ApiClient>(orield_.admin());
    image_id_ = import_test_guest(*api_, "test-guest");
  }
  std::string create(const std::string& name, bool start = true) {
    auto d = api_->post("/api/v1/desktops",
                        {{"name", name}, {"image_id", image_id_}, {"vcpus", 1}, {"memory_mb", 256}, {"start", start}});
    EXPECT_TRUE(d.ok()) << d.error().message();
    return (*d)["id"];
  }
  Json wait_state(const std::string& id, const std::vector<std::string>& states, std::chrono::milliseconds t = 60s) {
    return wait_for_state(*api_, "/api/v1/desktops/" + id, states, t);
  }
  Orield orield_;
  std::unique_ptr<net::ApiClient> api_;
  std::string image_id_;
};

TEST_F(DesktopLifecycleTest, BootsShowsAScreenAndStopsByAcpi) {
  std::string id = create("first");
  auto running = wait_state(id, {"running", "failed"});
  ASSERT_EQ(running["state"], "running") << running.dump();
  ASSERT_TRUE(wait_for_text(orield_.serial_log(id), "ORIEL-GUEST-READY", 30s));

  // The console shows text once the guest runs: not a blank screen.
  Image screen;
  ASSERT_TRUE(wait_until(
      [&] {
        auto png = api_->get_bytes("/api/v1/desktops/" + id + "/screenshot");
        return png.ok() && decode_png(*png, screen) && screen.distinct_colours() >= 2;
      },
      20s));
  EXPECT_GE(screen.width, 640);
  EXPECT_GE(screen.height, 400);

  pid_t qemu = orield_.qemu_pid(id);
  ASSERT_GT(qemu, 0);
  // Security probe #5: QEMU runs under its seccomp filter.
  std::string status = read_file("/proc/" + std::to_string(qemu) + "/status");
  EXPECT_NE(status.find("Seccomp:\t2"), std::string::npos) << status;
  ASSERT_TRUE(api_->post("/api/v1/desktops/" + id + "/actions/stop").ok());
  auto stopped = wait_state(id, {"stopped", "failed"}, 30s);
  EXPECT_EQ(stopped["state"], "stopped") << stopped.dump();
  EXPECT_EQ(stopped["desired_state"], "stopped");
  EXPECT_TRUE(wait_until([&] { return ::kill(qemu, 0) != 0; }, 5s)) << "QEMU still runs after stop";

  auto shot = api_->get_bytes("/api/v1/desktops/" + id + "/screenshot");
  ASSERT_FALSE(shot.ok());
  EXPECT_EQ(shot.error().code(), ErrorCode::kConflict);

  ASSERT_TRUE(api_->del("/api/v1/desktops/" + id).ok());
  EXPECT_TRUE(wait_until([&] { return !api_->get("/api/v1/desktops/" + id).ok(); }, 20s));
  EXPECT_EQ(api_->get("/api/v1/desktops/" + id).error().code(), ErrorCode::kNotFound);
}

TEST_F(DesktopLifecycleTest, ResetDiscardsGuestWritesButStopStartKeepsThem) {
  std::string id = create("marker");
  std::string log = orield_.serial_log(id);
  ASSERT_TRUE(wait_for_text(log, "ORIEL-MARKER-WRITTEN", 60s)) << read_file(log);
  EXPECT_NE(read_file(log).find("ORIEL-MARKER-ABSENT"), std::string::npos);

  // Stop and start: the linked clone keeps what the guest wrote.
  ASSERT_TRUE(api_->post("/api/v1/desktops/" + id + "/actions/stop").ok());
  ASSERT_EQ(wait_state(id, {"stopped", "failed"}, 30s)["state"], "stopped");
  ASSERT_TRUE(api_->post("/api/v1/desktops/" + id + "/actions/start").ok());
  // Each start begins a fresh serial log (the previous one is kept as .1).
  EXPECT_TRUE(wait_for_text(log, "ORIEL-MARKER-PRESENT", 60s)) << read_file(log);
  EXPECT_EQ(read_file(log).find("ORIEL-MARKER-ABSENT"), std::string::npos) << read_file(log);

  // Reset: back to the golden image, running again, the marker gone.
  ASSERT_TRUE(api_->post("/api/v1/desktops/" + id + "/actions/reset").ok());
  ASSERT_TRUE(wait_until([&] { return read_file(log).find("ORIEL-MARKER-ABSENT") != std::string::npos; }, 60s))
      << read_file(log);
  EXPECT_EQ(wait_state(id, {"running"}, 30s)["state"], "running");
}

TEST_F(DesktopLifecycleTest, RebootRestartsTheGuestWithItsDisk) {
  std::string id = create("reboot");
  std::string log = orield_.serial_log(id);
  ASSERT_TRUE(wait_for_text(log, "ORIEL-MARKER-WRITTEN", 60s));
  size_t before = read_file(log).size();
  ASSERT_TRUE(api_->post("/api/v1/desktops/" + id + "/actions/reboot").ok());
  ASSERT_TRUE(wait_for_text(log, "ORIEL-MARKER-PRESENT", 60s, before)) << read_file(log);
  EXPECT_EQ(wait_state(id, {"running"}, 10s)["state"], "running");
}

TEST_F(DesktopLifecycleTest, ACrashedQemuIsRestartedInPlaceAndACrashLoopEndsFailed) {
  std::string id = create("crash");
  ASSERT_EQ(wait_state(id, {"running", "failed"})["state"], "running");
  pid_t qemu = orield_.qemu_pid(id);
  ASSERT_GT(qemu, 0);
  ::kill(qemu, SIGKILL);
  // Started again on its own, with a new QEMU, and the error says what happened.
  ASSERT_TRUE(wait_until([&] { return orield_.qemu_pid(id) > 0 && orield_.qemu_pid(id) != qemu; }, 60s));
  auto back = wait_state(id, {"running", "failed"});
  ASSERT_EQ(back["state"], "running") << back.dump();
  EXPECT_NE(back["error"].get<std::string>().find("unexpectedly"), std::string::npos) << back.dump();
  // Crashing again at once is a crash loop: failed, until someone starts it.
  ::kill(orield_.qemu_pid(id), SIGKILL);
  auto failed = wait_state(id, {"failed"}, 20s);
  ASSERT_EQ(failed["state"], "failed");
  EXPECT_NE(failed["error"].get<std::string>().find("again"), std::string::npos) << failed.dump();
  ASSERT_TRUE(api_->post("/api/v1/desktops/" + id + "/actions/start").ok());
  EXPECT_EQ(wait_state(id, {"running"}, 60s)["state"], "running");
}

}  // namespace
}  // namespace oriel::testing
