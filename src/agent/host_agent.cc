#include "oriel/agent/host_agent.h"

namespace oriel::agent {

std::string_view vm_status_name(VmStatus s) {
  switch (s) {
    case VmStatus::kAbsent: return "absent";
    case VmStatus::kRunning: return "running";
    case VmStatus::kPaused: return "paused";
  }
  return "absent";
}

std::string_view vm_exit_name(VmExit e) {
  switch (e) {
    case VmExit::kGuestPoweroff: return "guest powered off";
    case VmExit::kHostRequest: return "stopped by Oriel";
    case VmExit::kCrashed: return "crashed";
    case VmExit::kMigrated: return "migrated to another host";
  }
  return "crashed";
}

std::string overlay_path(const std::string& disks_dir, const std::string& vm_id) {
  return disks_dir + "/" + vm_id + ".qcow2";
}

}  // namespace oriel::agent
