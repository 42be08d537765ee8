#include "oriel/agent/host_probe.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "oriel/common/log.h"

namespace oriel::agent {
namespace {

namespace fs = std::filesystem;

std::string host_kernel_release() {
  utsname u{};
  ::uname(&u);
  return u.release;
}

std::string exe_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

std::string qemu_version(ProcessRunner& runner) {
  auto r = runner.run({"qemu-system-x86_64", "--version"}, {.timeout = std::chrono::seconds(10)});
  if (!r.ok() || r->exit_code != 0) return {};
  return r->out.substr(0, r->out.find('\n'));
}

// The cache holds one line: "<qemu version>|<host kernel>|<kvm|tcg>".
std::string cache_key(const std::string& qemu) { return qemu + "|" + host_kernel_release() + "|"; }

bool kvm_boots(ProcessRunner& runner, const std::string& kernel, std::chrono::milliseconds timeout, std::string& why) {
  ProcessOptions options;
  options.timeout = timeout;
  auto r = runner.run(
      {"qemu-system-x86_64", "-accel",   "kvm",  "-cpu",    "host",
       "-machine",           "q35",      "-m",   "256",     "-nodefaults",
       "-no-user-config",    "-display", "none", "-serial", "stdio",
       "-no-reboot",         "-kernel",  kernel, "-append", "console=ttyS0 panic=-1 root=/dev/oriel-probe-none"},
      options);
  if (!r.ok()) {
    why = fmt::format("a guest kernel did not finish booting under KVM within {} ms", timeout.count());
    return false;
  }
  if (r->out.find("Kernel panic") == std::string::npos) {
    why = fmt::format("QEMU with KVM exited ({}) before the guest kernel ran: {}", r->exit_code,
                      r->err.substr(0, r->err.find('\n')));
    return false;
  }
  why = "a guest kernel booted under KVM";
  return true;
}

}  // namespace

HostInventory read_host_inventory() {
  HostInventory inv;
  inv.cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  while (meminfo >> key >> kb) {
    if (key == "MemTotal:") {
      inv.memory_mb = kb / 1024;
      break;
    }
    meminfo.ignore(256, '\n');
  }
  return inv;
}

std::string find_probe_kernel(const std::string& preferred) {
  std::vector<std::string> candidates;
  if (!preferred.empty()) candidates.push_back(preferred);
  std::string dir = exe_dir();
  if (!dir.empty()) {
    candidates.push_back(dir + "/../images/test-guest/vmlinuz");
    candidates.push_back(dir + "/../share/oriel/probe/vmlinuz");
  }
  candidates.push_back("/usr/share/oriel/probe/vmlinuz");
  candidates.push_back("/boot/vmlinuz-" + host_kernel_release());
  for (const auto& c : candidates) {
    if (::access(c.c_str(), R_OK) == 0) return fs::weakly_canonical(c).string();
  }
  return {};
}

ProbeResult probe_accelerator(ProcessRunner& runner, const ProbeOptions& options) {
  if (::access("/dev/kvm", R_OK | W_OK) != 0) return {Accelerator::kTcg, "/dev/kvm is not available"};
  std::string kernel = find_probe_kernel(options.kernel);
  if (kernel.empty()) {
    return {Accelerator::kTcg, "no guest kernel to probe KVM with (build images/test-guest or pass --probe-kernel)"};
  }
  std::string key = cache_key(qemu_version(runner));
  if (!options.cache_file.empty()) {
    std::ifstream in(options.cache_file);
    std::string line;
    if (std::getline(in, line) && line.rfind(key, 0) == 0) {
      auto a = line.substr(key.size()) == "kvm" ? Accelerator::kKvm : Accelerator::kTcg;
      return {a, fmt::format("cached probe verdict ({})", options.cache_file)};
    }
  }
  std::string why;
  Accelerator a = kvm_boots(runner, kernel, options.timeout, why) ? Accelerator::kKvm : Accelerator::kTcg;
  if (!options.cache_file.empty()) {
    std::ofstream(options.cache_file, std::ios::trunc) << key << accelerator_name(a) << "\n";
  }
  return {a, why};
}

}  // namespace oriel::agent
