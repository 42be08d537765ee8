// LocalAgent: the life of one QEMU process.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "managed_vm.h"
#include "oriel/agent/local_agent.h"
#include "oriel/agent/qemu_process.h"
#include "oriel/agent/qmp_client.h"
#include "oriel/common/log.h"

namespace oriel::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kOvmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd";

// Fresh runtime files for a start; the previous serial log is kept as .1.
Result<void> prepare_run_dir(const VmSpec& spec, const VmPaths& paths) {
  std::error_code ec;
  fs::create_directories(paths.dir, ec);
  if (ec) return Error::Internal(fmt::format("cannot create {}: {}", paths.dir, ec.message()));
  ::chmod(paths.dir.c_str(), 0700);
  for (const auto& p : {paths.pidfile, paths.qmp_socket, paths.vnc_socket}) fs::remove(p, ec);
  if (fs::exists(paths.serial_log)) fs::rename(paths.serial_log, paths.serial_log + ".1", ec);
  if (spec.boot.kind == BootSpec::Kind::kUefi && !fs::exists(paths.uefi_vars)) {
    fs::copy_file(kOvmfVars, paths.uefi_vars, ec);
    if (ec) return Error::Unavailable(fmt::format("UEFI needs {} (package ovmf): {}", kOvmfVars, ec.message()));
    fs::permissions(paths.uefi_vars, fs::perms::owner_read | fs::perms::owner_write, ec);  // the guest's settings
  }
  std::ofstream(paths.spec_file, std::ios::trunc) << spec.to_json().dump() << "\n";
  return Ok();
}

}  // namespace

std::string first_lines(const std::string& text, size_t n) {
  size_t pos = 0;
  for (size_t i = 0; i < n && pos != std::string::npos; ++i) pos = text.find('\n', pos == 0 ? 0 : pos + 1);
  std::string out = text.substr(0, pos);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

Result<void> LocalAgent::attach(const std::string& vm_id, VmSpec spec, pid_t pid) {
  auto vm = std::make_shared<Vm>();
  vm->paths = VmPaths::in(options_.run_dir, vm_id);
  vm->spec = std::move(spec);
  vm->pid = pid;
  {
    MutexLock lock(mu_);
    vms_[vm_id] = vm;
  }
  if (auto connected = connect_qmp(vm); !connected.ok()) {
    MutexLock lock(mu_);
    vms_.erase(vm_id);
    return connected;
  }
  auto status = qmp_client(vm)->execute_sync("query-status", Json::object(), 5s);
  if (status.ok()) {
    std::string runstate = status->value("status", "");
    {
      MutexLock lock(mu_);
      vm->paused = runstate != "running";
    }
    settle_migration_leftover(vm, runstate);  // a migration that outlived the agent's previous run
  }
  return Ok();
}

Result<void> LocalAgent::connect_qmp(const std::shared_ptr<Vm>& vm) {
  std::weak_ptr<Vm> weak = vm;
  auto on_event = [this, weak](const QmpEvent& e) {
    if (auto v = weak.lock()) on_vm_event(v, e);
  };
  auto closed = [this, weak, vm_id = vm->spec.id](const Error&) {
    auto v = weak.lock();
    if (v && incoming_closed(v)) return;  // a migration target: no desktop's exit
    on_closed(vm_id);
  };
  auto client = TRY(QmpClient::connect_sync(io_.get_executor(), vm->paths.qmp_socket, 5s, on_event, closed));
  MutexLock lock(mu_);  // the VM is already visible to other threads
  vm->qmp = std::move(client);
  return Ok();
}

void LocalAgent::on_vm_event(const std::shared_ptr<Vm>& vm, const QmpEvent& e) {
  {
    MutexLock lock(mu_);
    if (e.name == "SHUTDOWN") vm->guest_shutdown = e.data.is_object() && e.data.value("guest", false);
    if (e.name == "STOP") vm->paused = true;
    if (e.name == "RESUME") vm->paused = false;
  }
  on_migration_event(vm, e);
}

void LocalAgent::on_closed(const std::string& vm_id) {
  auto vm = find(vm_id);
  if (!vm) return;
  // QEMU closes QMP as it exits; a QEMU that keeps running without QMP is
  // hung and unmanageable, so it is stopped rather than left behind.
  if (!wait_gone(vm->pid, 2s)) {
    spdlog::warn("vm {}: QMP closed but QEMU (pid {}) still runs; killing it", vm_id, vm->pid);
    kill_qemu(vm->pid, vm->paths.qmp_socket);
    wait_gone(vm->pid, 2s);
  }
  std::function<void(const std::string&, VmExit)> handler;
  VmExit why = VmExit::kCrashed;
  {
    MutexLock lock(mu_);
    auto it = vms_.find(vm_id);
    if (it == vms_.end() || it->second != vm || vm->exit_reported) return;
    vm->exit_reported = true;
    why = vm->migrated         ? VmExit::kMigrated
          : vm->host_stop      ? VmExit::kHostRequest
          : vm->guest_shutdown ? VmExit::kGuestPoweroff
                               : VmExit::kCrashed;
    handler = on_exit_;
  }
  std::error_code ec;
  fs::remove(vm->paths.pidfile, ec);
  unplug_network(runner_, vm->spec, vm->paths);
  // The exit is reported before the VM leaves vms_: whoever sees it absent
  // (vm_status, or kill_vm returning) can already tell why it went. Seen
  // the other way round, an Oriel kill looked like a crash.
  if (handler) handler(vm_id, why);
  {
    MutexLock lock(mu_);
    if (auto it = vms_.find(vm_id); it != vms_.end() && it->second == vm) vms_.erase(it);
  }
  exited_.notify_all();
}

Result<void> LocalAgent::start_vm(const VmSpec& spec) {
  if (find(spec.id)) return Ok();
  TRY(check_not_incoming(spec.id));
  VmPaths paths = VmPaths::in(options_.run_dir, spec.id);
  if (pid_t pid = read_pidfile(paths.pidfile); is_qemu_for(pid, paths.qmp_socket)) return attach(spec.id, spec, pid);
  pid_t pid = TRY(launch(spec, QemuStart::kBoot));
  return attach(spec.id, spec, pid);
}

Result<pid_t> LocalAgent::launch(const VmSpec& spec, QemuStart start) {
  VmPaths paths = VmPaths::in(options_.run_dir, spec.id);
  if (!fs::exists(spec.disk_path)) return Error::NotFound("disk", spec.disk_path);
  TRY(prepare_run_dir(spec, paths));
  TRY(plug_network(runner_, spec, paths));
  auto argv = qemu_command_line(spec, paths, options_.accelerator.accelerator, start);
  // None of the agent's own capabilities pass to QEMU: a guest that escapes
  // into it cannot change the host's network.
  if (has_ambient_capabilities()) argv.insert(argv.begin(), {"setpriv", "--inh-caps=-all", "--ambient-caps=-all"});
  spdlog::debug("vm {}: {}", spec.id, join_command(argv));
  auto run = runner_.run(argv, {.timeout = 60s});
  pid_t pid = run.ok() && run->exit_code == 0 ? read_pidfile(paths.pidfile) : -1;
  if (is_qemu_for(pid, paths.qmp_socket)) return pid;
  unplug_network(runner_, spec, paths);
  if (!run.ok()) return run.take_error();
  if (run->exit_code != 0) {
    return Error::Unavailable(
        fmt::format("QEMU did not start (exit {}): {}", run->exit_code, first_lines(run->err, 3)));
  }
  return Error::Unavailable("QEMU started but exited at once");
}

std::shared_ptr<QmpClient> LocalAgent::qmp_client(const std::shared_ptr<Vm>& vm) {
  MutexLock lock(mu_);
  return vm->qmp;  // null while attach() is still connecting
}

Result<Json> LocalAgent::qmp(const std::string& vm_id, const std::string& command, Json args) {
  auto vm = find(vm_id);
  auto client = vm ? qmp_client(vm) : nullptr;
  if (!client) return Error::Conflict(fmt::format("virtual machine '{}' is not running", vm_id));
  return client->execute_sync(command, std::move(args), 10s);
}

Result<void> LocalAgent::shutdown_vm(const std::string& vm_id) {
  if (auto vm = find(vm_id)) {
    MutexLock lock(mu_);
    vm->host_stop = true;
  }
  TRY(qmp(vm_id, "system_powerdown"));
  return Ok();
}

Result<void> LocalAgent::reboot_vm(const std::string& vm_id) {
  TRY(qmp(vm_id, "system_reset"));
  return Ok();
}

Result<void> LocalAgent::kill_vm(const std::string& vm_id) {
  auto vm = find(vm_id);
  if (!vm) return Ok();
  {
    MutexLock lock(mu_);
    vm->host_stop = true;
  }
  auto client = qmp_client(vm);
  if (client) (void)client->execute_sync("quit", Json::object(), 2s);
  if (!wait_gone(vm->pid, options_.kill_timeout)) {
    kill_qemu(vm->pid, vm->paths.qmp_socket);
    if (!wait_gone(vm->pid, 5s)) return Error::Internal(fmt::format("QEMU pid {} survives SIGKILL", vm->pid));
  }
  // Returns only once on_closed has run, so the exit is recorded first.
  UniqueMutexLock lock(mu_);
  bool gone = exited_.wait_for(lock, 5s, [&]() ORIEL_REQUIRES(mu_) {
    auto it = vms_.find(vm_id);
    return it == vms_.end() || it->second != vm;
  });
  if (!gone) {
    lock.unlock();
    if (client) client->close();
    on_closed(vm_id);
  }
  return Ok();
}

Result<std::string> LocalAgent::screenshot_png(const std::string& vm_id) {
  auto vm = find(vm_id);
  if (!vm) return Error::Conflict(fmt::format("virtual machine '{}' is not running", vm_id));
  std::string file =
      fmt::format("{}/screendump-{}.png", vm->paths.dir, std::hash<std::thread::id>{}(std::this_thread::get_id()));
  TRY(qmp(vm_id, "screendump", {{"filename", file}, {"format", "png"}}));
  std::ifstream in(file, std::ios::binary);
  std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::error_code ec;
  fs::remove(file, ec);
  if (png.size() < 8) return Error::Internal("QEMU wrote no screenshot");
  return png;
}

}  // namespace oriel::agent
