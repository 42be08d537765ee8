#include "oriel/agent/local_agent.h"

#include "managed_vm.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "oriel/agent/disks.h"
#include "oriel/agent/qemu_process.h"
#include "oriel/agent/qmp_client.h"
#include "oriel/common/log.h"

namespace oriel::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

}  // namespace

LocalAgent::LocalAgent(ProcessRunner& runner, LocalAgentOptions options)
    : runner_(runner), options_(std::move(options)) {}

LocalAgent::~LocalAgent() { stop(); }

Result<void> LocalAgent::start() {
  std::error_code ec;
  fs::create_directories(options_.run_dir + "/vms", ec);
  fs::create_directories(options_.disks_dir, ec);
  if (ec) return Error::InvalidArgument(fmt::format("cannot create agent directories: {}", ec.message()));
  work_ =
      std::make_unique<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(io_.get_executor());
  io_thread_ = std::thread([this] { io_.run(); });
  reattach_all();
  return Ok();
}

void LocalAgent::stop() {
  std::map<std::string, std::shared_ptr<Vm>> vms;
  {
    MutexLock lock(mu_);
    vms.swap(vms_);
    on_exit_ = nullptr;  // closing the QMP connections is not an exit
    on_arrival_ = nullptr;
  }
  for (auto& [id, vm] : vms) {
    if (auto client = qmp_client(vm)) client->close();
  }
  work_.reset();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

void LocalAgent::reattach_all() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.run_dir + "/vms", ec)) {
    std::string id = entry.path().filename().string();
    VmPaths paths = VmPaths::in(options_.run_dir, id);
    pid_t pid = read_pidfile(paths.pidfile);
    if (!is_qemu_for(pid, paths.qmp_socket)) {
      fs::remove(paths.pidfile, ec);
      fs::remove(paths.qmp_socket, ec);
      fs::remove(paths.vnc_socket, ec);
      continue;
    }
    std::ifstream spec_file(paths.spec_file);
    auto spec_json = parse_json(std::string(std::istreambuf_iterator<char>(spec_file), {}));
    auto spec = spec_json.ok() ? VmSpec::from_json(*spec_json) : Result<VmSpec>(spec_json.error());
    if (!spec.ok()) {
      spdlog::warn("vm {}: running but its spec is unreadable ({}); leaving it alone", id, spec.error().message());
      continue;
    }
    if (auto r = attach(id, std::move(*spec), pid); r.ok()) {
      spdlog::info("vm {}: re-attached to running QEMU (pid {})", id, pid);
    } else {
      spdlog::warn("vm {}: cannot re-attach: {}", id, r.error().message());
    }
  }
}

HostReport LocalAgent::report() {
  auto inv = read_host_inventory();
  return {options_.host_name, options_.accelerator.accelerator, options_.accelerator.reason, inv.cpus, inv.memory_mb};
}

void LocalAgent::set_exit_handler(std::function<void(const std::string&, VmExit)> handler) {
  MutexLock lock(mu_);
  on_exit_ = std::move(handler);
}

void LocalAgent::set_arrival_handler(std::function<void(const std::string&)> handler) {
  MutexLock lock(mu_);
  on_arrival_ = std::move(handler);
}

std::shared_ptr<LocalAgent::Vm> LocalAgent::find(const std::string& vm_id) {
  MutexLock lock(mu_);
  auto it = vms_.find(vm_id);
  return it == vms_.end() ? nullptr : it->second;
}

std::map<std::string, VmStatus> LocalAgent::vms() {
  MutexLock lock(mu_);
  std::map<std::string, VmStatus> out;
  for (const auto& [id, vm] : vms_) out[id] = vm->paused ? VmStatus::kPaused : VmStatus::kRunning;
  return out;
}

void LocalAgent::kill_all() {
  std::vector<std::shared_ptr<Vm>> all;
  {
    MutexLock lock(mu_);
    for (auto& [id, vm] : vms_) {
      vm->host_stop = true;
      all.push_back(vm);
    }
  }
  // SIGKILL at once, all together: the point is that no guest writes its
  // disk a moment longer; QMP's orderly quit could take seconds.
  for (const auto& vm : all) kill_qemu(vm->pid, vm->paths.qmp_socket);
  for (const auto& vm : all) {
    if (auto r = kill_vm(vm->spec.id); !r.ok()) spdlog::error("vm {}: {}", vm->spec.id, r.error().message());
  }
}

VmStatus LocalAgent::vm_status(const std::string& vm_id) {
  MutexLock lock(mu_);
  auto it = vms_.find(vm_id);
  if (it == vms_.end()) return VmStatus::kAbsent;
  return it->second->paused ? VmStatus::kPaused : VmStatus::kRunning;
}

}  // namespace oriel::agent
