#include "oriel/agent/vm_spec.h"

#include <sys/un.h>

namespace oriel::agent {

std::string_view accelerator_name(Accelerator a) { return a == Accelerator::kKvm ? "kvm" : "tcg"; }

Result<BootSpec> BootSpec::from_json(const Json& j) {
  BootSpec boot;
  if (j.is_null() || (j.is_object() && j.empty())) return boot;
  if (!j.is_object()) return Error::InvalidArgument("field 'boot' must be an object");
  auto firmware = TRY(json_opt_string(j, "firmware"));
  auto kernel = TRY(json_opt_string(j, "kernel"));
  if (firmware && kernel) return Error::InvalidArgument("boot takes either 'firmware' or 'kernel', not both");
  if (firmware) {
    TRY(json_only_fields(j, {"firmware"}));
    if (*firmware == "bios") return boot;
    if (*firmware != "uefi") return Error::InvalidArgument("boot.firmware must be 'bios' or 'uefi'");
    boot.kind = Kind::kUefi;
    return boot;
  }
  TRY(json_only_fields(j, {"kernel", "initrd", "cmdline"}));
  if (!kernel || kernel->empty()) return Error::InvalidArgument("boot needs 'kernel' or 'firmware'");
  boot.kind = Kind::kDirectKernel;
  boot.kernel = *kernel;
  boot.initrd = TRY(json_opt_string(j, "initrd")).value_or("");
  boot.cmdline = TRY(json_opt_string(j, "cmdline")).value_or("");
  return boot;
}

Json BootSpec::to_json() const {
  switch (kind) {
    case Kind::kDirectKernel: return {{"kernel", kernel}, {"initrd", initrd}, {"cmdline", cmdline}};
    case Kind::kUefi: return {{"firmware", "uefi"}};
    case Kind::kBios: break;
  }
  return {{"firmware", "bios"}};
}

Json VmSpec::to_json() const {
  return {{"id", id},          {"name", name},           {"vcpus", vcpus},    {"memory_mb", memory_mb},
          {"disk", disk_path}, {"boot", boot.to_json()}, {"network", network}};
}

Result<VmSpec> VmSpec::from_json(const Json& j) {
  VmSpec spec;
  spec.id = TRY(json_string(j, "id"));
  spec.name = TRY(json_string(j, "name"));
  spec.vcpus = static_cast<int>(TRY(json_int(j, "vcpus", 1, 1024)));
  spec.memory_mb = static_cast<int>(TRY(json_int(j, "memory_mb", 16, 16 << 20)));
  spec.disk_path = TRY(json_string(j, "disk"));
  spec.boot = TRY(BootSpec::from_json(j.value("boot", Json::object())));
  spec.network = TRY(json_opt_bool(j, "network")).value_or(true);
  return spec;
}

VmPaths VmPaths::in(const std::string& run_dir, const std::string& vm_id) {
  std::string dir = run_dir + "/vms/" + vm_id;
  return {dir,
          dir + "/qmp.sock",
          dir + "/vnc.sock",
          dir + "/qemu.pid",
          dir + "/serial.log",
          dir + "/uefi-vars.fd",
          dir + "/spec.json"};
}

Result<void> check_run_dir(const std::string& run_dir) {
  size_t longest = VmPaths::in(run_dir, "d-0123456789abcdef").qmp_socket.size();
  if (longest >= sizeof(sockaddr_un{}.sun_path)) {
    return Error::InvalidArgument(
        fmt::format("run directory '{}' is too long for unix sockets ({} of {} bytes); choose a shorter --run-dir",
                    run_dir, longest, sizeof(sockaddr_un{}.sun_path) - 1));
  }
  return Ok();
}

}  // namespace oriel::agent
