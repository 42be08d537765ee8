#include "process_files.h"

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

namespace oriel::agent {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

pid_t read_pidfile(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  in >> pid;
  return in && pid > 0 ? static_cast<pid_t>(pid) : -1;
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process_alive(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace oriel::agent
