// Small helpers for the files and processes of detached QEMUs (internal).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace oriel::agent {

std::string read_whole_file(const std::string& path);  // empty if unreadable
pid_t read_pidfile(const std::string& path);           // -1 if absent or garbage
bool process_alive(pid_t pid);
// Waits for a process that is not our child (QEMU daemonizes) to go away.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace oriel::agent
