// A desktop's QEMU process: the command line it is started with.
#pragma once

#include <string>
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

}  // namespace oriel::agent
