// LocalAgent, live migration: the target side. A QEMU started with
// -incoming defer waits for the source's stream (and, with kCopy, serves
// its new overlay over NBD for the source's mirror); it becomes one of this
// host's VMs only when the migration completes. Also: what an agent finds
// of a migration after its own restart.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "migration_records.h"
#include "oriel/agent/disks.h"
#include "oriel/agent/local_agent.h"
#include "oriel/agent/qemu_process.h"
#include "oriel/agent/qmp_client.h"
#include "oriel/common/log.h"

namespace oriel::agent {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// HOST as it is written in a URI: an IPv6 address in brackets.
std::string uri_host(const std::string& host) { return host.find(':') != std::string::npos ? "[" + host + "]" : host; }

// A TCP port free on `host` now: bound, read and released. QEMU's NBD
// server cannot be asked which port it got for port 0 (migrate-incoming can,
// through query-migrate), so another process might take this one in the
// meantime; nbd-server-start then fails and the caller tries another.
Result<int> free_tcp_port(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), "0", &hints, &found); rc != 0) {
    return Error::InvalidArgument(fmt::format("cannot resolve '{}': {}", host, ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::Unavailable(fmt::format("socket: {}", std::strerror(errno)));
  int port = -1;
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  int err = errno;
  ::close(fd);
  if (port <= 0) return Error::Unavailable(fmt::format("cannot listen on '{}': {}", host, std::strerror(err)));
  return port;
}

// The node name QEMU gave the VM's drive: block exports take node names,
// not the -drive id.
Result<std::string> drive_node(QmpClient& qmp) {
  auto blocks = TRY(qmp.execute_sync("query-block"));
  if (blocks.is_array()) {
    for (const auto& b : blocks) {
      if (json_str(b, "device") != kDriveId) continue;
      auto inserted = b.find("inserted");
      if (inserted != b.end() && !json_str(*inserted, "node-name").empty()) return json_str(*inserted, "node-name");
    }
  }
  return Error::Internal("QEMU reports no block node for the VM's drive");
}

// Serves the target's overlay over NBD for the source's mirror; returns
// its nbd:// URI. Exporting activates the image at once (QEMU 7.2's
// block-export-add; otherwise the target takes it only at switchover): it
// is this host's own new overlay, so no other process holds its lock.
Result<std::string> export_disk(QmpClient& qmp, const std::string& host) {
  std::string node = TRY(drive_node(qmp));
  int port = -1;
  for (int attempt = 0; attempt < 5 && port < 0; ++attempt) {
    int candidate = TRY(free_tcp_port(host));
    Json addr = {{"type", "inet"}, {"data", {{"host", host}, {"port", std::to_string(candidate)}}}};
    auto started = qmp.execute_sync("nbd-server-start", {{"addr", addr}});
    if (started.ok()) {
      port = candidate;
    } else if (started.error().message().find("in use") == std::string::npos) {
      return started.error().context("starting the NBD server for the disk copy");
    }
  }
  if (port < 0) return Error::Unavailable(fmt::format("no free port on '{}' for the NBD server", host));
  Json exp = {{"type", "nbd"}, {"id", kExportId}, {"node-name", node}, {"name", kExportName}, {"writable", true}};
  if (auto added = qmp.execute_sync("block-export-add", exp); !added.ok()) {
    return added.error().context("exporting the target's disk");
  }
  return fmt::format("nbd://{}:{}/{}", uri_host(host), port, kExportName);
}

// The port of the incoming stream: query-migrate's socket-address (the
// port is a string there).
Result<int> incoming_port(QmpClient& qmp) {
  auto info = TRY(qmp.execute_sync("query-migrate"));
  auto addrs = info.is_object() ? info.find("socket-address") : info.end();
  if (addrs != info.end() && addrs->is_array() && !addrs->empty()) {
    const Json& a = addrs->front();
    auto port = a.is_object() ? a.find("port") : a.end();
    if (port != a.end() && port->is_string()) {
      auto hp = parse_tcp_migration_uri("tcp:h:" + port->get<std::string>());
      if (hp.ok()) return hp->port;
    }
    if (port != a.end() && port->is_number_integer()) return port->get<int>();
  }
  return Error::Internal("QEMU does not say on which port it waits for the migration");
}

asio::awaitable<void> stop_nbd_server(std::shared_ptr<QmpClient> qmp, std::string vm_id) {
  auto stopped = co_await qmp->execute("nbd-server-stop");
  if (!stopped.ok()) spdlog::warn("vm {}: stopping the NBD server: {}", vm_id, stopped.error().message());
}

void remove_runtime_files(const VmPaths& paths) {
  std::error_code ec;
  for (const auto& p : {paths.pidfile, paths.qmp_socket, paths.vnc_socket}) fs::remove(p, ec);
}

}  // namespace

Result<MigrationTarget> LocalAgent::prepare_incoming(const IncomingRequest& request) {
  const std::string& id = request.spec.id;
  if (id.empty()) return Error::InvalidArgument("the VM spec has no id");
  if (auto host = parse_tcp_migration_uri("tcp:" + uri_host(request.listen_host) + ":1"); !host.ok()) {
    return Error::InvalidArgument(fmt::format("listen host '{}' is not a host name or address", request.listen_host));
  }
  if (find(id)) return Error::Conflict(fmt::format("virtual machine '{}' already runs on this host", id));
  auto in = std::make_shared<Incoming>();
  in->storage = request.storage;
  in->progress.state = MigrationState::kIncoming;
  in->progress.storage = request.storage;
  {
    MutexLock lock(mu_);
    auto it = incoming_.find(id);
    if (it != incoming_.end() && it->second->progress.state == MigrationState::kIncoming) {
      return Error::Conflict(fmt::format("virtual machine '{}' already waits for an incoming migration", id));
    }
    incoming_[id] = in;
    outgoing_.erase(id);  // a VM that once left this host and comes back
  }
  VmSpec spec = request.spec;
  Result<MigrationTarget> target = Error::Internal("not started");
  if (request.storage == MigrationStorage::kCopy) {
    spec.disk_path = disk_path(id);
    if (fs::exists(spec.disk_path)) {
      target =
          Error::Conflict(fmt::format("this host still has a disk for '{}' ({}); delete it first", id, spec.disk_path));
    } else if (auto made = create_linked_clone(runner_, request.golden_path, spec.disk_path); !made.ok()) {
      target = made.error().context("making the target's overlay");
    } else {
      in->made_disk = true;
    }
  }
  if (request.storage == MigrationStorage::kShared || in->made_disk) {
    target = start_incoming(in, spec, request.listen_host);
  }
  if (!target.ok()) {
    discard_incoming(in);
    MutexLock lock(mu_);
    if (auto it = incoming_.find(id); it != incoming_.end() && it->second == in) incoming_.erase(it);
  }
  return target;
}

Result<MigrationTarget> LocalAgent::start_incoming(const std::shared_ptr<Incoming>& in, const VmSpec& spec,
                                                   const std::string& host) {
  pid_t pid = TRY(launch(spec, QemuStart::kIncoming));
  auto vm = std::make_shared<Vm>();
  vm->spec = spec;
  vm->paths = VmPaths::in(options_.run_dir, spec.id);
  vm->pid = pid;
  vm->paused = true;
  vm->incoming = true;
  {
    MutexLock lock(mu_);
    in->vm = vm;
  }
  TRY(connect_qmp(vm));
  auto qmp = qmp_client(vm);
  // MIGRATION events, so that the switchover is seen as it happens.
  Json caps = Json::array({{{"capability", "events"}, {"state", true}}});
  if (auto r = qmp->execute_sync("migrate-set-capabilities", {{"capabilities", caps}}); !r.ok()) {
    return r.error().context("setting the target's migration capabilities");
  }
  MigrationTarget target;
  if (in->storage == MigrationStorage::kCopy) target.disk_uri = TRY(export_disk(*qmp, host));
  if (auto r = qmp->execute_sync("migrate-incoming", {{"uri", fmt::format("tcp:{}:0", uri_host(host))}}); !r.ok()) {
    return r.error().context("listening for the migration");
  }
  target.uri = fmt::format("tcp:{}:{}", uri_host(host), TRY(incoming_port(*qmp)));
  spdlog::info("vm {}: waiting for an incoming migration on {} ({} storage)", spec.id, target.uri,
               migration_storage_name(in->storage));
  return target;
}

// Quietly: the target was never a desktop of this host, so nothing is
// reported, and a kCopy overlay made for it goes too.
void LocalAgent::discard_incoming(const std::shared_ptr<Incoming>& in) {
  std::shared_ptr<Vm> vm;
  std::shared_ptr<QmpClient> qmp;
  {
    MutexLock lock(mu_);
    vm = in->vm;
    if (vm) qmp = vm->qmp;
  }
  if (qmp) qmp->close();  // its closed handler is not called then
  if (vm) {
    if (is_qemu_for(vm->pid, vm->paths.qmp_socket)) {
      ::kill(vm->pid, SIGKILL);
      if (!wait_gone(vm->pid, 5s)) spdlog::error("vm {}: target QEMU pid {} survives SIGKILL", vm->spec.id, vm->pid);
    }
    remove_runtime_files(vm->paths);
  }
  if (in->made_disk && vm) {
    std::error_code ec;
    fs::remove(vm->spec.disk_path, ec);
  }
}

bool LocalAgent::incoming_closed(const std::shared_ptr<Vm>& vm) {
  std::shared_ptr<Incoming> in;
  {
    MutexLock lock(mu_);
    if (!vm->incoming) return false;
    auto it = incoming_.find(vm->spec.id);
    if (it != incoming_.end() && it->second->vm == vm) in = it->second;
  }
  // QEMU exits when the incoming stream fails (QEMU 7.2 has no
  // exit-on-error=false): the source broke off, or died.
  if (!wait_gone(vm->pid, 2s)) kill_qemu(vm->pid, vm->paths.qmp_socket);
  unplug_network(runner_, vm->spec, vm->paths);
  if (!in) return true;  // discarded already
  std::string why;
  {
    MutexLock lock(mu_);
    if (in->progress.state == MigrationState::kIncoming) {
      in->progress.state = MigrationState::kFailed;
      if (in->progress.error.empty()) in->progress.error = "QEMU on the target exited before the migration completed";
    }
    why = in->progress.error;
  }
  remove_runtime_files(vm->paths);
  if (in->made_disk) {
    std::error_code ec;
    fs::remove(vm->spec.disk_path, ec);
  }
  spdlog::warn("vm {}: incoming migration failed: {}", vm->spec.id, why);
  migration_changed_.notify_all();
  return true;
}

void LocalAgent::on_migration_event(const std::shared_ptr<Vm>& vm, const QmpEvent& e) {
  std::string status = e.name == "MIGRATION" ? json_str(e.data, "status") : "";
  std::shared_ptr<Incoming> arrived;
  std::shared_ptr<Outgoing> out;
  std::shared_ptr<QmpClient> qmp;
  std::function<void(const std::string&)> on_arrival;
  {
    MutexLock lock(mu_);
    if (vm->incoming) {
      auto it = incoming_.find(vm->spec.id);
      if (it == incoming_.end() || it->second->vm != vm) return;  // being discarded
      if (status == "failed") it->second->progress.error = "the incoming migration stream failed";
      // The guest runs here now (RESUME), or would if it ran on the source.
      if (e.name == "RESUME" || status == "completed") {
        arrived = it->second;
        vm->incoming = false;
        arrived->progress.state = MigrationState::kCompleted;
        arrived->progress.qemu_status = "completed";
        arrived->progress.percent = 100;
        vms_[vm->spec.id] = vm;
        qmp = vm->qmp;
        on_arrival = on_arrival_;
      }
    } else if (e.name == "MIGRATION" || e.name == "JOB_STATUS_CHANGE" || e.name.starts_with("BLOCK_JOB")) {
      auto it = outgoing_.find(vm->spec.id);
      if (it != outgoing_.end() && it->second->vm == vm) out = it->second;
    }
  }
  if (out) {  // this runs on the io thread, as the driver does
    out->driver.poked = true;
    if (out->driver.wake) out->driver.wake->cancel();
  }
  if (arrived) {
    spdlog::info("vm {}: incoming migration completed; the VM runs on this host now", vm->spec.id);
    if (on_arrival) on_arrival(vm->spec.id);
    migration_changed_.notify_all();
    if (arrived->storage == MigrationStorage::kCopy && qmp) {
      asio::co_spawn(io_, stop_nbd_server(qmp, vm->spec.id), asio::detached);
    }
  }
}

Result<void> LocalAgent::finish_incoming(const std::string& vm_id, std::chrono::milliseconds timeout) {
  UniqueMutexLock lock(mu_);
  auto it = incoming_.find(vm_id);
  if (it == incoming_.end()) {
    if (vms_.count(vm_id)) return Ok();
    return Error::NotFound("incoming migration of virtual machine", vm_id);
  }
  auto in = it->second;
  migration_changed_.wait_for(lock, timeout, [&] { return in->progress.state != MigrationState::kIncoming; });
  switch (in->progress.state) {
    case MigrationState::kCompleted: return Ok();
    case MigrationState::kIncoming:
      return Error::Timeout(
          fmt::format("the migration of '{}' has not completed within {} ms", vm_id, timeout.count()));
    default: return Error::Unavailable(fmt::format("the migration of '{}' failed: {}", vm_id, in->progress.error));
  }
}

Result<void> LocalAgent::abort_incoming(const std::string& vm_id) {
  std::shared_ptr<Incoming> in;
  {
    MutexLock lock(mu_);
    auto it = incoming_.find(vm_id);
    if (it == incoming_.end()) return Ok();
    if (it->second->progress.state == MigrationState::kCompleted) {
      return Error::Conflict(fmt::format("the migration of '{}' has completed: it runs on this host now", vm_id));
    }
    in = it->second;
    incoming_.erase(it);  // from now on its exit and events are ignored
  }
  discard_incoming(in);
  spdlog::info("vm {}: incoming migration aborted", vm_id);
  migration_changed_.notify_all();
  return Ok();
}

Result<void> LocalAgent::check_not_incoming(const std::string& vm_id) {
  MutexLock lock(mu_);
  auto it = incoming_.find(vm_id);
  if (it != incoming_.end() && it->second->progress.state == MigrationState::kIncoming) {
    return Error::Conflict(fmt::format("virtual machine '{}' is migrating to this host", vm_id));
  }
  return Ok();
}

// What a restarted agent finds of a migration it no longer drives.
void LocalAgent::settle_migration_leftover(const std::shared_ptr<Vm>& vm, const std::string& runstate) {
  auto qmp = qmp_client(vm);
  if (!qmp) return;
  const std::string& id = vm->spec.id;
  if (runstate == "inmigrate") {
    // A target nobody will finish: the source rolls back when it goes.
    spdlog::warn("vm {}: a migration target left from before the agent's restart; stopping it", id);
    {
      MutexLock lock(mu_);
      vm->exit_reported = true;  // no desktop's exit
      if (auto it = vms_.find(id); it != vms_.end() && it->second == vm) vms_.erase(it);
    }
    qmp->close();
    kill_qemu(vm->pid, vm->paths.qmp_socket);
    wait_gone(vm->pid, 5s);
    remove_runtime_files(vm->paths);
    return;
  }
  if (runstate == "postmigrate") {
    // It migrated away while the agent was down: the guest runs elsewhere.
    spdlog::info("vm {}: migrated away while the agent was down; quitting the source QEMU", id);
    {
      MutexLock lock(mu_);
      vm->migrated = true;
    }
    (void)qmp->execute_sync("quit", Json::object(), 2s);
    return;
  }
  // An outgoing migration the agent's restart abandoned: roll it back.
  auto info = qmp->execute_sync("query-migrate");
  if (info.ok() && qemu_migration_busy(json_str(*info, "status"))) {
    spdlog::warn("vm {}: cancelling a migration left from before the agent's restart", id);
    (void)qmp->execute_sync("migrate_cancel");
  }
  auto jobs = qmp->execute_sync("query-jobs");
  if (jobs.ok() && find_mirror_job(*jobs, kMirrorJob).state != MirrorJob::kAbsent) {
    (void)qmp->execute_sync("block-job-cancel", {{"device", kMirrorJob}, {"force", true}});
    (void)qmp->execute_sync("job-dismiss", {{"id", kMirrorJob}});
    (void)qmp->execute_sync("blockdev-del", {{"node-name", kDiskNode}});
  }
}

}  // namespace oriel::agent
