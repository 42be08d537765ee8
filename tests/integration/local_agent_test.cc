// The host agent on its own, with the real QEMU test guest: what its callers
// (the reconciler) may rely on about the order of events.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "harness.h"
#include "oriel/agent/local_agent.h"
#include "oriel/agent/qemu_process.h"
#include "oriel/common/process.h"

namespace oriel::testing {
namespace {

using namespace std::chrono_literals;

TEST(LocalAgentTest, KillingAQemuByPidSparesAnotherProcessThatHasThePid) {
  // A pid outlives its process in the agent's records: once a QEMU has
  // gone, another process may have its pid. Here: a sleep, and a QEMU
  // command line that serves another QMP socket.
  pid_t other = ::fork();
  if (other == 0) {
    ::execl("/bin/sleep", "sleep", "30", nullptr);
    ::_exit(127);
  }
  ASSERT_GT(other, 0);
  agent::kill_qemu(other, "/run/oriel/vms/d-gone/qmp.sock");
  std::this_thread::sleep_for(100ms);
  int status = 0;
  EXPECT_EQ(::waitpid(other, &status, WNOHANG), 0) << "the sleep was killed";
  EXPECT_FALSE(agent::is_qemu_for(other, "/run/oriel/vms/d-gone/qmp.sock"));
  ::kill(other, SIGKILL);
  ::waitpid(other, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST(LocalAgentTest, AKilledVmsExitIsReportedBeforeItCountsAsAbsent) {
  std::string dir = make_temp_dir("agent");
  SystemProcessRunner runner;
  agent::LocalAgent host(runner, {.host_name = "test",
                                  .run_dir = dir + "/run",
                                  .disks_dir = dir + "/disks",
                                  .accelerator = {agent::Accelerator::kTcg, "test"}});
  ASSERT_TRUE(host.start().ok());
  // A slow handler: a caller that sees the VM absent before the handler
  // has finished would take an Oriel kill for a crash.
  std::atomic<int> reported{-1};
  host.set_exit_handler([&](const std::string&, agent::VmExit why) {
    std::this_thread::sleep_for(300ms);
    reported = static_cast<int>(why);
  });
  auto guest = TestGuest::locate();
  // Golden images are qcow2 once imported.
  std::string golden = dir + "/golden.qcow2";
  auto converted = runner.run({"qemu-img", "convert", "-O", "qcow2", guest.disk, golden}, {.timeout = 60s});
  ASSERT_TRUE(converted.ok() && converted->exit_code == 0);
  auto disk = host.create_disk("d-1", golden);
  ASSERT_TRUE(disk.ok()) << disk.error().message();
  agent::VmSpec spec;
  spec.id = "d-1";
  spec.name = "d-1";
  spec.memory_mb = 192;
  spec.disk_path = host.disk_path("d-1");
  spec.boot = {agent::BootSpec::Kind::kDirectKernel, guest.kernel, guest.initrd, guest.cmdline};
  spec.network.mode = agent::NetworkSpec::Mode::kNone;
  auto started = host.start_vm(spec);
  ASSERT_TRUE(started.ok()) << started.error().message();
  ASSERT_NE(host.vm_status("d-1"), agent::VmStatus::kAbsent);

  ASSERT_TRUE(host.kill_vm("d-1").ok());
  EXPECT_EQ(host.vm_status("d-1"), agent::VmStatus::kAbsent);
  EXPECT_EQ(reported.load(), static_cast<int>(agent::VmExit::kHostRequest))
      << "kill_vm returned before the exit was reported";

  // A crash (QEMU gone without Oriel asking) is reported as one.
  reported = -1;
  ASSERT_TRUE(host.start_vm(spec).ok());
  pid_t pid = std::atoi(read_file(agent::VmPaths::in(dir + "/run", "d-1").pidfile).c_str());
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return host.vm_status("d-1") == agent::VmStatus::kAbsent; }, 10s));
  EXPECT_EQ(reported.load(), static_cast<int>(agent::VmExit::kCrashed));
  host.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace oriel::testing
