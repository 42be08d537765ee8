#include "oriel/agent/vm_spec.h"

#include <sys/un.h>

#include <cctype>

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

Result<NetworkSpec> NetworkSpec::parse(std::string_view text) {
  if (text == "none") return NetworkSpec{Mode::kNone, {}};
  if (text == "isolated") return NetworkSpec{Mode::kIsolated, {}};
  constexpr std::string_view kBridge = "bridge:";
  if (text.starts_with(kBridge)) {
    std::string_view name = text.substr(kBridge.size());
    // A Linux interface name: 1 to 15 bytes, no '/', ':' or space; ours
    // keeps to letters, digits and ". _ -", and cannot pass for an option.
    bool valid = !name.empty() && name.size() <= 15 && name.front() != '-' && name != "." && name != "..";
    for (char c : name)
      valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
    if (!valid) {
      return Error::InvalidArgument(
          "a bridge name is 1 to 15 letters, digits, '.', '_' or '-', and does not start with '-'");
    }
    return NetworkSpec{Mode::kBridge, std::string(name)};
  }
  return Error::InvalidArgument(fmt::format("network '{}' is not none, isolated or bridge:NAME", text));
}

std::string NetworkSpec::text() const {
  switch (mode) {
    case Mode::kNone: return "none";
    case Mode::kBridge: return "bridge:" + bridge;
    case Mode::kIsolated: break;
  }
  return "isolated";
}

Json VmSpec::to_json() const {
  return {{"id", id},          {"name", name},           {"vcpus", vcpus},           {"memory_mb", memory_mb},
          {"disk", disk_path}, {"boot", boot.to_json()}, {"network", network.text()}};
}

Result<VmSpec> VmSpec::from_json(const Json& j) {
  VmSpec spec;
  spec.id = TRY(json_string(j, "id"));
  spec.name = TRY(json_string(j, "name"));
  spec.vcpus = static_cast<int>(TRY(json_int(j, "vcpus", 1, 1024)));
  spec.memory_mb = static_cast<int>(TRY(json_int(j, "memory_mb", 16, 16 << 20)));
  spec.disk_path = TRY(json_string(j, "disk"));
  spec.boot = TRY(BootSpec::from_json(j.value("boot", Json::object())));
  // Agents before desktop networks wrote a boolean: its user-mode network
  // is now the isolated one.
  auto network = j.find("network");
  if (network != j.end() && network->is_boolean()) {
    spec.network.mode = network->get<bool>() ? NetworkSpec::Mode::kIsolated : NetworkSpec::Mode::kNone;
  } else {
    spec.network = TRY(NetworkSpec::parse(TRY(json_opt_string(j, "network")).value_or("isolated")));
  }
  return spec;
}

namespace {

// "ot" and 13 hex digits of a hash of the id: a valid interface name (15
// bytes), and one an administrator can tell as Oriel's.
std::string tap_name(const std::string& vm_id) {
  uint64_t h = 14695981039346656037ull;
  for (char c : vm_id) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return fmt::format("ot{:013x}", h & 0xfffffffffffffull);
}

}  // namespace

VmPaths VmPaths::in(const std::string& run_dir, const std::string& vm_id) {
  std::string dir = run_dir + "/vms/" + vm_id;
  return {dir,
          dir + "/qmp.sock",
          dir + "/vnc.sock",
          dir + "/qemu.pid",
          dir + "/serial.log",
          dir + "/uefi-vars.fd",
          dir + "/spec.json",
          tap_name(vm_id)};
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
