#include "oriel/agent/vm_spec.h"

#include <sys/un.h>

#include <filesystem>

namespace oriel::agent {
namespace {

// A value inside a QEMU -option list: a comma is written twice (QEMU's
// option syntax), so a desktop named "a,b" cannot add options of its own.
std::string qemu_option_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}


std::string absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

constexpr std::string_view kQemu = "qemu-system-x86_64";
constexpr std::string_view kOvmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd";

// A stable, locally administered MAC in QEMU's 52:54:00 range, from the id.
std::string mac_for(const std::string& id) {
  uint32_t h = 2166136261u;
  for (char c : id) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return fmt::format("52:54:00:{:02x}:{:02x}:{:02x}", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

void add_boot(std::vector<std::string>& argv, const BootSpec& boot, const VmPaths& paths) {
  switch (boot.kind) {
    case BootSpec::Kind::kDirectKernel:
      argv.insert(argv.end(), {"-kernel", boot.kernel});
      if (!boot.initrd.empty()) argv.insert(argv.end(), {"-initrd", boot.initrd});
      if (!boot.cmdline.empty()) argv.insert(argv.end(), {"-append", boot.cmdline});
      break;
    case BootSpec::Kind::kUefi:
      argv.insert(argv.end(),
                  {"-drive", fmt::format("if=pflash,format=raw,unit=0,readonly=on,file={}", kOvmfCode), "-drive",
                   fmt::format("if=pflash,format=raw,unit=1,file={}", absolute(paths.uefi_vars))});
      break;
    case BootSpec::Kind::kBios:
      break;
  }
}

}  // namespace

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
  return {{"id", id},          {"name", name},        {"vcpus", vcpus},          {"memory_mb", memory_mb},
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
  return {dir,           dir + "/qmp.sock",  dir + "/vnc.sock", dir + "/qemu.pid",
          dir + "/serial.log", dir + "/uefi-vars.fd", dir + "/spec.json"};
}

std::vector<std::string> qemu_command_line(const VmSpec& spec, const VmPaths& paths, Accelerator accel,
                                           QemuStart start) {
  std::vector<std::string> argv = {std::string(kQemu), "-name", fmt::format("guest={},process=oriel-{}", qemu_option_value(spec.name), spec.id),
                                   "-nodefaults", "-no-user-config", "-machine", "q35"};
  if (accel == Accelerator::kKvm) {
    argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    argv.insert(argv.end(), {"-accel", "tcg,thread=multi"});
  }
  argv.insert(argv.end(), {"-smp", std::to_string(spec.vcpus), "-m", std::to_string(spec.memory_mb)});
  argv.insert(argv.end(), {"-vga", "std", "-display", "none", "-vnc", "unix:" + paths.vnc_socket});
  argv.insert(argv.end(), {"-qmp", fmt::format("unix:{},server=on,wait=off", paths.qmp_socket)});
  argv.insert(argv.end(), {"-serial", "file:" + paths.serial_log});
  // Absolute: QEMU daemonizes into "/" and reopens the image by name when
  // it takes it over at the end of a migration (file locks, read-write).
  argv.insert(argv.end(), {"-drive", fmt::format("file={},if=none,id=disk0,format=qcow2,cache=writeback,discard=unmap",
                                                 qemu_option_value(absolute(spec.disk_path))),
                           "-device", "virtio-blk-pci,drive=disk0,bootindex=1"});
  if (spec.network) {
    argv.insert(argv.end(), {"-netdev", "user,id=net0", "-device",
                             fmt::format("virtio-net-pci,netdev=net0,mac={}", mac_for(spec.id))});
  }
  argv.insert(argv.end(), {"-device", "qemu-xhci,id=usb", "-device", "usb-tablet,bus=usb.0"});
  add_boot(argv, spec.boot, paths);
  argv.insert(argv.end(), {"-daemonize", "-pidfile", paths.pidfile});
  if (start == QemuStart::kIncoming) argv.insert(argv.end(), {"-incoming", "defer"});
  return argv;
}

Result<void> check_run_dir(const std::string& run_dir) {
  size_t longest = VmPaths::in(run_dir, "d-0123456789abcdef").qmp_socket.size();
  if (longest >= sizeof(sockaddr_un{}.sun_path)) {
    return Error::InvalidArgument(fmt::format(
        "run directory '{}' is too long for unix sockets ({} of {} bytes); choose a shorter --run-dir", run_dir,
        longest, sizeof(sockaddr_un{}.sun_path) - 1));
  }
  return Ok();
}

}  // namespace oriel::agent
