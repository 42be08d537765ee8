// Finding a detached QEMU again and waiting for it: pidfiles, the
// /proc/PID/cmdline test, and zombies.
#include "oriel/agent/qemu_process.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace oriel::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(QemuProcessTest, APidfileCountsOnlyIfItHoldsAPositiveNumber) {
  fs::path dir = fs::temp_directory_path() / ("oriel-qemu-process-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto pidfile = [&](const std::string& text) {
    std::ofstream((dir / "qemu.pid").string(), std::ios::trunc) << text;
    return read_pidfile((dir / "qemu.pid").string());
  };
  EXPECT_EQ(pidfile("4242\n"), 4242);
  EXPECT_EQ(pidfile(""), -1);
  EXPECT_EQ(pidfile("qemu"), -1);
  EXPECT_EQ(pidfile("0\n"), -1);
  EXPECT_EQ(pidfile("-7\n"), -1);
  EXPECT_EQ(read_pidfile((dir / "absent.pid").string()), -1);
  fs::remove_all(dir);
}

TEST(QemuProcessTest, ACommandLineIsOursOnlyIfQemuServesThisQmpSocket) {
  const std::string sock = "/run/oriel/vms/d-1/qmp.sock";
  using namespace std::string_literals;
  std::string qemu = "/usr/bin/qemu-system-x86_64\0-qmp\0unix:/run/oriel/vms/d-1/qmp.sock,server=on,wait=off\0"s;
  EXPECT_TRUE(is_qemu_command_for(qemu, sock));
  // The pid went to another program, which happens to name the socket.
  EXPECT_FALSE(is_qemu_command_for("/bin/sh\0-c\0echo unix:/run/oriel/vms/d-1/qmp.sock,\0"s, sock));
  // Another QEMU, whose socket's path starts like ours.
  EXPECT_FALSE(is_qemu_command_for("qemu-system-x86_64\0-qmp\0unix:/run/oriel/vms/d-1/qmp.sock2,server=on\0"s, sock));
  EXPECT_FALSE(is_qemu_command_for("", sock));  // a process gone, or a kernel thread
}

TEST(QemuProcessTest, WaitGoneCountsAZombieAsGoneAndALiveProcessAsThere) {
  pid_t sleeper = ::fork();
  if (sleeper == 0) {
    ::execl("/bin/sleep", "sleep", "30", nullptr);
    ::_exit(127);
  }
  ASSERT_GT(sleeper, 0);
  EXPECT_FALSE(wait_gone(sleeper, 50ms));
  ::kill(sleeper, SIGKILL);
  // Not reaped: a zombie, as a daemonized QEMU may be until its new parent
  // reaps it.
  EXPECT_TRUE(wait_gone(sleeper, 5s));
  int status = 0;
  ::waitpid(sleeper, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
}

}  // namespace
}  // namespace oriel::agent
