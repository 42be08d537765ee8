// LocalAgent: golden images and linked clones, through the disk layer.
#include <filesystem>

#include "oriel/agent/disks.h"
#include "oriel/agent/local_agent.h"

namespace oriel::agent {

std::string LocalAgent::disk_path(const std::string& vm_id) { return overlay_path(options_.disks_dir, vm_id); }

Result<ImportedImage> LocalAgent::import_image(const ImageImportRequest& request) {
  ImportRequest disk_request;
  disk_request.source_path = request.source_path;
  disk_request.format = request.format;
  disk_request.dest_path = request.dest_path;
  disk_request.on_progress = request.on_progress;
  auto imported = TRY(import_disk(runner_, disk_request));
  return ImportedImage{imported.source_format, static_cast<int64_t>(imported.virtual_size),
                       static_cast<int64_t>(imported.size_on_disk)};
}

Result<void> LocalAgent::create_disk(const std::string& vm_id, const std::string& golden_path) {
  if (std::filesystem::exists(disk_path(vm_id))) return Ok();  // idempotent
  return create_linked_clone(runner_, golden_path, disk_path(vm_id));
}

Result<void> LocalAgent::reset_disk(const std::string& vm_id, const std::string& golden_path) {
  if (vm_status(vm_id) != VmStatus::kAbsent) {
    return Error::Conflict(fmt::format("virtual machine '{}' is running: stop it before resetting its disk", vm_id));
  }
  return reset_linked_clone(runner_, golden_path, disk_path(vm_id));
}

Result<void> LocalAgent::delete_disk(const std::string& vm_id) {
  if (vm_status(vm_id) != VmStatus::kAbsent) {
    return Error::Conflict(fmt::format("virtual machine '{}' is running: stop it before deleting its disk", vm_id));
  }
  std::error_code ec;
  std::filesystem::remove(disk_path(vm_id), ec);
  std::filesystem::remove_all(options_.run_dir + "/vms/" + vm_id, ec);
  if (ec) return Error::Internal(fmt::format("cannot delete the disk of '{}': {}", vm_id, ec.message()));
  return Ok();
}

}  // namespace oriel::agent
