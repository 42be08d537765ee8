// The host side of a desktop's NIC (vm_spec.h: NetworkSpec). A bridged
// desktop's tap is made and put on its bridge before QEMU starts, so the
// guest's first frame already lands on the tenant's segment, and removed
// once QEMU is gone. Isolated and no-NIC desktops need nothing here.
#include <filesystem>

#include "managed_vm.h"
#include "oriel/common/log.h"

namespace oriel::agent {
namespace {

using namespace std::chrono_literals;

Result<void> ip(ProcessRunner& runner, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto run = TRY(runner.run(argv, {.timeout = 10s}));
  if (run.exit_code != 0) {
    std::string err = run.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return Error::Unavailable(fmt::format("{} failed: {}", join_command(argv), err));
  }
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
    return Error::Unavailable(fmt::format(
        "bridge '{}' does not exist on this host (every host needs the pool's bridge; see docs/networks.md)", bridge));
  }
  // A tap left by a QEMU that died while the agent was down.
  if (tap_exists(paths)) (void)ip(runner, {"link", "delete", paths.tap});
  TRY(ip(runner, {"tuntap", "add", "dev", paths.tap, "mode", "tap"}));
  if (auto on = ip(runner, {"link", "set", "dev", paths.tap, "master", bridge, "up"}); !on.ok()) {
    (void)ip(runner, {"link", "delete", paths.tap});
    return on;
  }
  return Ok();
}

void unplug_network(ProcessRunner& runner, const VmSpec& spec, const VmPaths& paths) {
  if (spec.network.mode != NetworkSpec::Mode::kBridge || !tap_exists(paths)) return;
  if (auto r = ip(runner, {"link", "delete", paths.tap}); !r.ok()) {
    spdlog::warn("vm {}: cannot remove its tap: {}", spec.id, r.error().message());
  }
}

}  // namespace oriel::agent
