#include "roles.h"

#include <sys/stat.h>

#include <filesystem>

#include "oriel/common/log.h"

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

bool is_sqlite(const std::string& database) { return database.empty() || database == "sqlite"; }

Result<void> make_private_tree(const std::string& dir) {
  TRY(make_private_dir(dir));
  std::error_code ec;
  size_t fixed = 0;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    mode_t wanted = S_ISDIR(st.st_mode) ? 0700 : (st.st_mode & 0700);
    if ((st.st_mode & 07777) != wanted && ::chmod(it->path().c_str(), wanted) == 0) ++fixed;
  }
  if (fixed > 0) spdlog::warn("{}: {} files and directories were readable by others; now this user's only", dir, fixed);
  return Ok();
}

agent::ProbeResult choose_accelerator(ProcessRunner& runner, const OrieldOptions& o) {
  if (o.accelerator == "kvm") return {agent::Accelerator::kKvm, "--accelerator kvm"};
  if (o.accelerator == "tcg") return {agent::Accelerator::kTcg, "--accelerator tcg"};
  return agent::probe_accelerator(runner, {o.probe_kernel, o.data_dir + "/accelerator-probe"});
}

std::string disks_dir(const OrieldOptions& o) { return (o.shared_dir.empty() ? o.data_dir : o.shared_dir) + "/disks"; }

}  // namespace oriel
