#include "roles.h"

#include <sys/stat.h>

#include <filesystem>

namespace oriel {

namespace fs = std::filesystem;

Result<Roles> parse_roles(const OrieldOptions& o) {
  Roles r;
  size_t start = 0;
  while (start <= o.roles.size()) {
    size_t comma = o.roles.find(',', start);
    std::string role = o.roles.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (role == "controller") {
      r.controller = true;
    } else if (role == "agent") {
      r.agent = true;
    } else if (role == "gateway") {
      r.gateway = true;
    } else if (!role.empty()) {
      return Error::InvalidArgument(fmt::format("--roles: '{}' is not controller, agent or gateway", role));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  bool agent_alone = r.agent && !r.controller && !r.gateway;
  bool controller = r.controller && r.gateway;
  if (!agent_alone && !controller) {
    return Error::InvalidArgument(fmt::format(
        "--roles {}: this version runs controller,gateway (with or without agent) or agent alone; the gateway "
        "runs with a controller",
        o.roles));
  }
  return r;
}

Result<void> make_private_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::InvalidArgument(fmt::format("cannot create {}: {}", dir, ec.message()));
  ::chmod(dir.c_str(), 0700);
  return Ok();
}

agent::ProbeResult choose_accelerator(ProcessRunner& runner, const OrieldOptions& o) {
  if (o.accelerator == "kvm") return {agent::Accelerator::kKvm, "--accelerator kvm"};
  if (o.accelerator == "tcg") return {agent::Accelerator::kTcg, "--accelerator tcg"};
  return agent::probe_accelerator(runner, {o.probe_kernel, o.data_dir + "/accelerator-probe"});
}

std::string disks_dir(const OrieldOptions& o) { return (o.shared_dir.empty() ? o.data_dir : o.shared_dir) + "/disks"; }

}  // namespace oriel
