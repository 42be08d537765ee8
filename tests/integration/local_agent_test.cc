// The host agent on its own, with the real QEMU test guest: what its callers
// (the reconciler) may rely on about the order of events.
#include <gtest/gtest.h>

#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <sstream>
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

// An agent of its own under `dir`, on TCG.
agent::LocalAgentOptions options_in(const std::string& dir) {
  return {.host_name = "test",
          .run_dir = dir + "/run",
          .disks_dir = dir + "/disks",
          .accelerator = {agent::Accelerator::kTcg, "test"}};
}

TEST(LocalAgentTest, AKilledVmsExitIsReportedBeforeItCountsAsAbsent) {
  std::string dir = make_temp_dir("agent");
  SystemProcessRunner runner;
  agent::LocalAgent host(runner, options_in(dir));
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

// The capabilities of a process, from /proc: "CapAmb", "CapInh"...
uint64_t capabilities(pid_t pid, const std::string& set) {
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(set + ":")) return std::strtoull(line.c_str() + set.size() + 1, nullptr, 16);
  }
  return ~uint64_t{0};
}

// An agent given CAP_NET_ADMIN as an ambient capability (the packaged unit,
// for bridged desktops' taps) passes none of it to QEMU.
TEST(LocalAgentTest, QemuInheritsNoneOfTheAgentsCapabilities) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> caps{};
  ASSERT_EQ(::syscall(SYS_capget, &header, caps.data()), 0);
  caps[0].inheritable |= 1u << CAP_NET_ADMIN;
  ASSERT_EQ(::syscall(SYS_capset, &header, caps.data()), 0) << "needs root";
  ASSERT_EQ(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0), 0);
  ASSERT_NE(capabilities(::getpid(), "CapAmb") & (uint64_t{1} << CAP_NET_ADMIN), 0u);

  std::string dir = make_temp_dir("agent-caps");
  SystemProcessRunner runner;
  agent::LocalAgent host(runner, options_in(dir));
  ASSERT_TRUE(host.start().ok());
  auto guest = TestGuest::locate();
  ASSERT_TRUE(runner.run({"qemu-img", "create", "-f", "qcow2", dir + "/golden.qcow2", "16M"}, {.timeout = 30s}).ok());
  ASSERT_TRUE(host.create_disk("d-caps", dir + "/golden.qcow2").ok());
  agent::VmSpec spec;
  spec.id = spec.name = "d-caps";
  spec.memory_mb = 128;
  spec.disk_path = host.disk_path("d-caps");
  spec.boot = {agent::BootSpec::Kind::kDirectKernel, guest.kernel, guest.initrd, guest.cmdline};
  auto started = host.start_vm(spec);
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  ASSERT_TRUE(started.ok()) << started.error().message();
  pid_t pid = std::atoi(read_file(agent::VmPaths::in(dir + "/run", "d-caps").pidfile).c_str());
  ASSERT_GT(pid, 0);
  EXPECT_EQ(capabilities(pid, "CapAmb"), 0u);
  EXPECT_EQ(capabilities(pid, "CapInh"), 0u);
  ASSERT_TRUE(host.kill_vm("d-caps").ok());
  host.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace oriel::testing
