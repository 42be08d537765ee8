// The host side of a desktop's NIC (vm_spec.h: NetworkSpec). A bridged
// desktop's tap is made and put on its bridge before QEMU starts, so the
// guest's first frame already lands on the tenant's segment, and removed
// once QEMU is gone. Isolated and no-NIC desktops need nothing here.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "managed_vm.h"
#include "oriel/common/log.h"

namespace oriel::agent {
namespace {

using namespace std::chrono_literals;

Result<void> ip(ProcessRunner& runner, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto run = TRY(runner.run(argv, {.timeout = 10s}));
  if (run.exit_code != 0)
    return Error::Unavailable(fmt::format("{} failed: {}", join_command(argv), first_lines(run.err, 3)));
  return Ok();
}

bool tap_exists(const VmPaths& paths) {
  std::error_code ec;
  return std::filesystem::exists("/sys/class/net/" + paths.tap, ec);
}

}  // namespace

Result<void> plug_network(ProcessRunner& runner, const VmSpec& spec, const VmPaths& paths) {
  if (spec.network.mode != NetworkSpec::Mode::kBridge) return Ok();
  const std::string& bridge = spec.network.bridge;
  std::error_code ec;
  if (!std::filesystem::exists("/sys/class/net/" + bridge + "/bridge", ec)) {
    return Error::Unavailable(
        fmt::format("bridge '{}' does not exist on this host (every host needs the pool's bridge: docs/operations.md, "
                    "\"Desktop networks\")",
                    bridge));
  }
  // A tap left by a QEMU that died while the agent was down.
  if (tap_exists(paths)) (void)ip(runner, {"link", "delete", paths.tap});
  // Owned by the user QEMU runs as, this agent's: QEMU opens it without
  // CAP_NET_ADMIN, which only the agent holds (docs/operations.md).
  auto made = ip(runner, {"tuntap", "add", "dev", paths.tap, "mode", "tap", "user", std::to_string(::geteuid()),
                          "group", std::to_string(::getegid())});
  if (!made.ok()) {
    return Error::Unavailable(
        fmt::format("{} (an agent not run as root needs CAP_NET_ADMIN for bridged desktops)", made.error().message()));
  }
  if (auto on = ip(runner, {"link", "set", "dev", paths.tap, "master", bridge, "up"}); !on.ok()) {
    (void)ip(runner, {"link", "delete", paths.tap});
    return on;
  }
  return Ok();
}

bool has_ambient_capabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("CapAmb:")) return std::strtoull(line.c_str() + 7, nullptr, 16) != 0;
  }
  return false;
}

void unplug_network(ProcessRunner& runner, const VmSpec& spec, const VmPaths& paths) {
  if (spec.network.mode != NetworkSpec::Mode::kBridge || !tap_exists(paths)) return;
  if (auto r = ip(runner, {"link", "delete", paths.tap}); !r.ok()) {
    spdlog::warn("vm {}: cannot remove its tap: {}", spec.id, r.error().message());
  }
}

}  // namespace oriel::agent
