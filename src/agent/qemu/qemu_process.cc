// Supervision of detached QEMUs: pidfiles, /proc, signals.
#include <signal.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

#include "oriel/agent/qemu_process.h"

namespace oriel::agent {
namespace {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A zombie counts as gone: a daemonized QEMU is not our child, and its
// new parent (init, or whatever runs as PID 1 in a container) may take a
// while to reap it.
bool process_alive(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  std::string stat = read_whole_file("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');  // the command name may itself hold spaces and parentheses
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

}  // namespace

pid_t read_pidfile(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  in >> pid;
  return in && pid > 0 ? static_cast<pid_t>(pid) : -1;
}

bool is_qemu_command_for(std::string_view cmdline, const std::string& qmp_socket) {
  if (cmdline.empty()) return false;
  std::string_view argv0 = cmdline.substr(0, cmdline.find('\0'));
  bool is_qemu = argv0.find("qemu-system") != std::string_view::npos;
  return is_qemu && cmdline.find("unix:" + qmp_socket + ",") != std::string_view::npos;
}

bool is_qemu_for(pid_t pid, const std::string& qmp_socket) {
  if (pid <= 0) return false;
  return is_qemu_command_for(read_whole_file(fmt::format("/proc/{}/cmdline", pid)), qmp_socket);
}

void kill_qemu(pid_t pid, const std::string& qmp_socket) {
  if (is_qemu_for(pid, qmp_socket)) ::kill(pid, SIGKILL);
}

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process_alive(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace oriel::agent
