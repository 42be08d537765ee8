// A desktop's QEMU process: the command line it is started with, and how
// the agent finds it again and ends it. QEMU runs detached (-daemonize), so
// it is no child of the agent: it is found by its pidfile, and a pid is
// trusted only while /proc/PID/cmdline is still the QEMU of that VM, since
// PIDs get reused. Free functions without state: safe from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/agent/vm_spec.h"

namespace oriel::agent {

// The id of the desktop's drive on the command line; a migration's block
// jobs and exports name the drive by it.
inline constexpr const char* kDriveId = "disk0";

// How a QEMU starts: booting the guest, or as the target of a live
// migration, waiting (-incoming defer) for the source's stream.
enum class QemuStart { kBoot, kIncoming };

// The full argv for qemu-system-x86_64: detached (-daemonize, pidfile), QMP
// and VNC on unix sockets, serial to a file, the disk as virtio-blk, a
// virtio NIC on user-mode NAT, std VGA and a USB tablet for absolute pointing.
std::vector<std::string> qemu_command_line(const VmSpec& spec, const VmPaths& paths, Accelerator accel,
                                           QemuStart start = QemuStart::kBoot);

pid_t read_pidfile(const std::string& path);  // -1 if absent or garbage

// True if `pid` is alive and its command line is the QEMU that serves this
// QMP socket: a pidfile alone is not trusted, since PIDs get reused.
bool is_qemu_for(pid_t pid, const std::string& qmp_socket);
// The same test on a command line as /proc/PID/cmdline holds it: the
// arguments, each ended by a NUL.
bool is_qemu_command_for(std::string_view cmdline, const std::string& qmp_socket);
// SIGKILL to `pid` if it is still that QEMU (is_qemu_for): once a QEMU has
// exited its pid may belong to any other process of the host.
void kill_qemu(pid_t pid, const std::string& qmp_socket);
// Waits for a process that is not our child (QEMU daemonizes) to go away;
// false if it is still there after `timeout`.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace oriel::agent
