#include "desktop_state.h"
#include "oriel/controller/controller.h"

#include <gtest/gtest.h>

namespace oriel::controller {
namespace {

using agent::VmExit;
using agent::VmStatus;

store::DesktopRecord desk(std::string state, std::string desired, std::string op = "") {
  store::DesktopRecord d;
  d.id = "d-1";
  d.state = std::move(state);
  d.desired = std::move(desired);
  d.pending_op = std::move(op);
  return d;
}

Observation seen(VmStatus vm, std::optional<VmExit> exit = std::nullopt, int64_t now = 0) {
  return {HostHealth::kUp, vm, exit, now};
}

TEST(DesktopStateTest, ProvisioningCreatesTheDiskThenStartsWhenWanted) {
  EXPECT_EQ(next_step(desk("provisioning", "running"), seen(VmStatus::kAbsent)).kind, StepKind::kCreateDisk);
  EXPECT_EQ(next_step(desk("stopped", "running"), seen(VmStatus::kAbsent)).kind, StepKind::kStartVm);
  EXPECT_EQ(next_step(desk("stopped", "stopped"), seen(VmStatus::kAbsent)).kind, StepKind::kNone);
  EXPECT_EQ(next_step(desk("starting", "running"), seen(VmStatus::kRunning)).kind, StepKind::kMarkRunning);
  // A crash between "starting" and the QEMU start: start again.
  EXPECT_EQ(next_step(desk("starting", "running"), seen(VmStatus::kAbsent)).kind, StepKind::kStartVm);
}

TEST(DesktopStateTest, StopAsksTheGuestThenStopsHardAtTheDeadline) {
  EXPECT_EQ(next_step(desk("running", "stopped"), seen(VmStatus::kRunning)).kind, StepKind::kShutdownVm);
  auto stopping = desk("stopping", "stopped");
  stopping.deadline_ms = 1000;
  EXPECT_EQ(next_step(stopping, seen(VmStatus::kRunning, {}, 999)).kind, StepKind::kNone);
  EXPECT_EQ(next_step(stopping, seen(VmStatus::kRunning, {}, 1000)).kind, StepKind::kKillVm);
  EXPECT_EQ(next_step(stopping, seen(VmStatus::kAbsent)).kind, StepKind::kMarkStopped);
}

TEST(DesktopStateTest, AVmThatVanishesIsRestartedInPlaceUnlessTheGuestPoweredOffOrItCrashLoops) {
  auto running = desk("running", "running");
  EXPECT_EQ(next_step(running, seen(VmStatus::kAbsent, VmExit::kCrashed)).kind, StepKind::kRestartAfterCrash);
  EXPECT_EQ(next_step(running, seen(VmStatus::kAbsent)).kind, StepKind::kRestartAfterCrash);
  EXPECT_EQ(next_step(running, seen(VmStatus::kAbsent, VmExit::kGuestPoweroff)).kind, StepKind::kMarkGuestOff);
  EXPECT_EQ(next_step(running, seen(VmStatus::kAbsent, VmExit::kHostRequest)).kind, StepKind::kMarkStopped);
  // Not meant to run: recorded as a failure, not started.
  auto unwanted = next_step(desk("running", "stopped"), seen(VmStatus::kAbsent, VmExit::kCrashed));
  EXPECT_EQ(unwanted.kind, StepKind::kMarkFailed);
  EXPECT_NE(unwanted.reason.find("unexpectedly"), std::string::npos);
  // Crashed again within a minute of a restart after a crash: failed.
  auto restarted = running;
  restarted.error = std::string(kRestartedAfterCrash) + " at 2026-12-02T10:00:00Z";
  restarted.updated_at = from_unix_ms(100'000);
  auto again = next_step(restarted, seen(VmStatus::kAbsent, VmExit::kCrashed, 100'000 + 59'000));
  EXPECT_EQ(again.kind, StepKind::kMarkFailed);
  EXPECT_NE(again.reason.find("again"), std::string::npos);
  EXPECT_EQ(next_step(restarted, seen(VmStatus::kAbsent, VmExit::kCrashed, 100'000 + 61'000)).kind,
            StepKind::kRestartAfterCrash);
}

TEST(DesktopStateTest, ResetOfARunningDesktopStopsResetsAndStartsAgain) {
  EXPECT_EQ(next_step(desk("running", "running", "reset"), seen(VmStatus::kRunning)).kind, StepKind::kKillVm);
  EXPECT_EQ(next_step(desk("stopped", "running", "reset"), seen(VmStatus::kAbsent)).kind, StepKind::kResetDisk);
  EXPECT_EQ(next_step(desk("resetting", "running"), seen(VmStatus::kAbsent)).kind, StepKind::kResetDisk);
  EXPECT_EQ(next_step(desk("stopped", "stopped", "reboot"), seen(VmStatus::kAbsent)).kind, StepKind::kClearPendingOp);
  EXPECT_EQ(next_step(desk("running", "running", "reboot"), seen(VmStatus::kRunning)).kind, StepKind::kRebootVm);
}

TEST(DesktopStateTest, DeleteKillsThenRemovesTheDisk) {
  EXPECT_EQ(next_step(desk("running", "deleted"), seen(VmStatus::kRunning)).kind, StepKind::kKillVm);
  EXPECT_EQ(next_step(desk("running", "deleted"), seen(VmStatus::kAbsent)).kind, StepKind::kDeleteDisk);
  EXPECT_EQ(next_step(desk("deleting", "deleted"), seen(VmStatus::kAbsent)).kind, StepKind::kDeleteDisk);
}

TEST(DesktopStateTest, PublicStatesFollowTheContract) {
  EXPECT_EQ(public_state_name("resetting"), "provisioning");
  EXPECT_EQ(public_state_name("running"), "running");
  EXPECT_EQ(public_state_name("garbage"), "failed");
  EXPECT_EQ(next_step(desk("garbage", "running"), seen(VmStatus::kAbsent)).kind, StepKind::kMarkFailed);
  EXPECT_EQ(next_step(desk("failed", "running"), seen(VmStatus::kRunning)).kind, StepKind::kKillVm);
}

Observation host(HostHealth h) { return {h, VmStatus::kAbsent, std::nullopt, 0}; }

TEST(DesktopStateTest, ADownHostsRunningDesktopsAreRelocatedAndItsStoppedOnesKept) {
  EXPECT_EQ(next_step(desk("running", "running"), host(HostHealth::kDown)).kind, StepKind::kRelocate);
  EXPECT_EQ(next_step(desk("starting", "running"), host(HostHealth::kDown)).kind, StepKind::kRelocate);
  EXPECT_EQ(next_step(desk("provisioning", "running"), host(HostHealth::kDown)).kind, StepKind::kRelocate);
  // Not meant to run: only the record changes; it starts elsewhere when asked.
  EXPECT_EQ(next_step(desk("running", "stopped"), host(HostHealth::kDown)).kind, StepKind::kMarkStopped);
  EXPECT_EQ(next_step(desk("stopped", "stopped"), host(HostHealth::kDown)).kind, StepKind::kNone);
  EXPECT_EQ(next_step(desk("deleting", "deleted"), host(HostHealth::kDown)).kind, StepKind::kDeleteDisk);
}

TEST(DesktopStateTest, AHostNotHeardFromYetIsLeftAlone) {
  // After a controller restart, until the agent's first heartbeat: no step,
  // so nothing is started twice and nothing is marked stopped by mistake.
  EXPECT_EQ(next_step(desk("running", "running"), host(HostHealth::kUnknown)).kind, StepKind::kNone);
  EXPECT_EQ(next_step(desk("provisioning", "running"), host(HostHealth::kUnknown)).kind, StepKind::kNone);
}

TEST(DesktopStateTest, AMigratingDesktopIsLeftToItsMigrationEvenWhenDeletedOrItsHostIsDown) {
  store::DesktopRecord d = desk("migrating", "running", "migrate:h-2");
  EXPECT_EQ(public_state_name(d.state), "migrating");
  EXPECT_EQ(next_step(d, seen(VmStatus::kRunning)).kind, StepKind::kSettleMigration);
  EXPECT_EQ(next_step(d, seen(VmStatus::kAbsent)).kind, StepKind::kSettleMigration);
  EXPECT_EQ(next_step(d, host(HostHealth::kDown)).kind, StepKind::kSettleMigration);
  d.desired = "deleted";
  EXPECT_EQ(next_step(d, seen(VmStatus::kRunning)).kind, StepKind::kSettleMigration);
}

TEST(DesktopStateTest, AMigrationAskedForStartsWhileTheDesktopRunsAndIsDroppedOtherwise) {
  EXPECT_EQ(next_step(desk("running", "running", "migrate:h-2"), seen(VmStatus::kRunning)).kind,
            StepKind::kStartMigration);
  EXPECT_EQ(next_step(desk("running", "stopped", "migrate:h-2"), seen(VmStatus::kRunning)).kind,
            StepKind::kClearPendingOp);
  EXPECT_EQ(next_step(desk("stopped", "running", "migrate:h-2"), seen(VmStatus::kAbsent)).kind,
            StepKind::kClearPendingOp);
}

TEST(DesktopStateTest, TheSourceQemuQuittingAfterAMigrationIsNoCrash) {
  EXPECT_EQ(next_step(desk("running", "running"), seen(VmStatus::kAbsent, VmExit::kMigrated)).kind, StepKind::kNone);
}

}  // namespace
}  // namespace oriel::controller
