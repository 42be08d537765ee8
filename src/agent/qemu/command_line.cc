// The QEMU command line, one helper per device family (in the manner of
// Proxmox qemu-server's config_to_command): each returns its own arguments,
// and qemu_command_line puts them together in a fixed order.
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "oriel/agent/qemu_process.h"

namespace oriel::agent {
namespace {

using Argv = std::vector<std::string>;

constexpr std::string_view kQemu = "qemu-system-x86_64";
constexpr std::string_view kOvmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd";

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

// QEMU daemonizes into "/", so a relative path would name another file when
// QEMU reopens it: the image, when it takes it over at the end of a
// migration (file locks, read-write).
std::string absolute(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// A stable, locally administered MAC in QEMU's 52:54:00 range, from the id.
std::string mac_for(const std::string& id) {
  uint32_t h = 2166136261u;
  for (char c : id) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return fmt::format("52:54:00:{:02x}:{:02x}:{:02x}", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

// The guest's name, and "oriel-<id>" as the process name in ps and top.
Argv guest_name(const VmSpec& spec) {
  return {"-name", fmt::format("guest={},process=oriel-{}", qemu_option_value(spec.name), spec.id)};
}

// No default devices and no host config file: every device is on this line.
Argv machine_and_cpu(Accelerator accel) {
  Argv argv = {"-nodefaults", "-no-user-config", "-machine", "q35"};
  if (accel == Accelerator::kKvm) {
    argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    argv.insert(argv.end(), {"-accel", "tcg,thread=multi"});
  }
  return argv;
}

// QEMU's seccomp filter: a guest that escapes into QEMU lands in a process
// that cannot make the system calls a VM never needs (QEMU's default set),
// the obsolete ones, or scheduler and resource changes. spawn=deny and
// elevateprivileges=deny also stop the fork and setsid of -daemonize: they
// wait for the agent to start QEMU detached itself.
Argv sandbox() { return {"-sandbox", "on,obsolete=deny,resourcecontrol=deny"}; }

Argv memory_and_smp(const VmSpec& spec) {
  return {"-smp", std::to_string(spec.vcpus), "-m", std::to_string(spec.memory_mb)};
}

// Std VGA, shown only through VNC on the VM's private unix socket.
Argv display(const VmPaths& paths) { return {"-vga", "std", "-display", "none", "-vnc", "unix:" + paths.vnc_socket}; }

// QMP as a server that does not wait for the agent to connect.
Argv qmp_control(const VmPaths& paths) { return {"-qmp", fmt::format("unix:{},server=on,wait=off", paths.qmp_socket)}; }

Argv serial(const VmPaths& paths) { return {"-serial", "file:" + paths.serial_log}; }

// The overlay as virtio-blk, booted first. The drive id is the one block
// jobs and exports of a migration name (kDriveId).
Argv disk(const VmSpec& spec) {
  return {"-drive",
          fmt::format("file={},if=none,id={},format=qcow2,cache=writeback,discard=unmap",
                      qemu_option_value(absolute(spec.disk_path)), kDriveId),
          "-device", fmt::format("virtio-blk-pci,drive={},bootindex=1", kDriveId)};
}

// A virtio NIC with a MAC that stays the desktop's (vm_spec.h: NetworkSpec).
// Isolated: user-mode networking with restrict=on, so the guest reaches
// neither the host's loopback (10.0.2.2) nor anything the host can route to.
// Bridged: the tap the agent made and put on the bridge.
Argv network(const VmSpec& spec, const VmPaths& paths) {
  std::string netdev;
  switch (spec.network.mode) {
    case NetworkSpec::Mode::kNone: return {};
    case NetworkSpec::Mode::kIsolated: netdev = "user,id=net0,restrict=on"; break;
    case NetworkSpec::Mode::kBridge:
      netdev = fmt::format("tap,id=net0,ifname={},script=no,downscript=no", paths.tap);
      break;
  }
  return {"-netdev", netdev, "-device", fmt::format("virtio-net-pci,netdev=net0,mac={}", mac_for(spec.id))};
}

// A USB tablet: absolute pointing, so the pointer follows the client's.
Argv usb_input() { return {"-device", "qemu-xhci,id=usb", "-device", "usb-tablet,bus=usb.0"}; }

Argv firmware_and_boot(const BootSpec& boot, const VmPaths& paths) {
  Argv argv;
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
    case BootSpec::Kind::kBios: break;
  }
  return argv;
}

// Detached, so that an agent restart never stops a desktop; the pidfile is
// how the agent finds it again.
Argv daemonize(const VmPaths& paths) { return {"-daemonize", "-pidfile", paths.pidfile}; }

// A migration target waits; the agent sets the listening address over QMP
// (migrate-incoming) once its capabilities are set.
Argv incoming_migration(QemuStart start) {
  if (start == QemuStart::kBoot) return {};
  return {"-incoming", "defer"};
}

}  // namespace

std::vector<std::string> qemu_command_line(const VmSpec& spec, const VmPaths& paths, Accelerator accel,
                                           QemuStart start) {
  Argv argv = {std::string(kQemu)};
  for (const Argv& part : {guest_name(spec), machine_and_cpu(accel), sandbox(), memory_and_smp(spec), display(paths),
                           qmp_control(paths), serial(paths), disk(spec), network(spec, paths), usb_input(),
                           firmware_and_boot(spec.boot, paths), daemonize(paths), incoming_migration(start)}) {
    argv.insert(argv.end(), part.begin(), part.end());
  }
  return argv;
}

}  // namespace oriel::agent
