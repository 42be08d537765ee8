// LocalAgent, live migration: the source side. migrate() sets QEMU's
// parameters and starts the copy; a coroutine on the agent's io thread
// (drive_migration) then observes QEMU, asks next_migration_step what to
// do and does it, until the guest runs on the target or has been rolled
// back here.
#include <signal.h>

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <thread>
#include <vector>

#include "migration_records.h"
#include "oriel/agent/local_agent.h"
#include "oriel/agent/qemu_process.h"
#include "oriel/agent/qmp_client.h"
#include "oriel/common/log.h"

namespace oriel::agent {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How often the driver looks at QEMU when no event wakes it earlier.
constexpr auto kPollInterval = 50ms;

Json capability(const char* name, bool on) { return {{"capability", name}, {"state", on}}; }

std::string phase_name(MigrationPhase p) {
  switch (p) {
    case MigrationPhase::kMirroring: return "mirroring";
    case MigrationPhase::kMigrating: return "migrating";
    case MigrationPhase::kSyncingDisk: return "syncing disk";
    case MigrationPhase::kSwitchingOver: return "switching over";
    case MigrationPhase::kQuitting: return "quitting the source";
    case MigrationPhase::kRollingBack: return "rolling back";
    case MigrationPhase::kCompleted: return "completed";
    case MigrationPhase::kFailed: return "failed";
    case MigrationPhase::kCancelled: return "cancelled";
  }
  return "?";
}

// Connects the source to the target's NBD export and starts mirroring the
// overlay into it: sync=top copies only the overlay's own clusters (both
// overlays sit on the same golden image); write-blocking makes every guest
// write reach both sides once the job is ready, so the copy converges
// whatever the guest writes (the way libvirt migrates non-shared storage).
Result<void> start_mirror(QmpClient& qmp, const NbdAddress& disk, bool& node_attached) {
  Json server = {{"type", "inet"}, {"host", disk.host}, {"port", std::to_string(disk.port)}};
  Json node = {{"driver", "nbd"}, {"node-name", kDiskNode}, {"server", server}, {"export", disk.export_name}};
  if (auto added = qmp.execute_sync("blockdev-add", node, 30s); !added.ok()) {
    return Error::Unavailable(fmt::format("cannot reach the target's disk at nbd://{}:{}/{}: {}", disk.host, disk.port,
                                          disk.export_name, added.error().message()));
  }
  node_attached = true;
  Json mirror = {{"job-id", kMirrorJob},          {"device", kDriveId},   {"target", kDiskNode}, {"sync", "top"},
                 {"copy-mode", "write-blocking"}, {"auto-dismiss", false}};
  if (auto started = qmp.execute_sync("blockdev-mirror", mirror); !started.ok()) {
    if (qmp.execute_sync("blockdev-del", {{"node-name", kDiskNode}}).ok()) node_attached = false;
    return started.error().context("starting the disk copy");
  }
  return Ok();
}

// One QMP command of the driver's.
struct QmpCall {
  std::string command;
  Json args = Json::object();
  std::chrono::milliseconds timeout = QmpClient::kDefaultTimeout;
};

// What an action sends to QEMU, in order (QAPI migration.json, job.json,
// block-core.json).
std::vector<QmpCall> qmp_calls(MigrationAction action, const MigrationTarget& target, const DriverState& m,
                               const MigrationObservation& o) {
  switch (action) {
    case MigrationAction::kNone:
    case MigrationAction::kKillSource: return {};
    case MigrationAction::kStartRam: return {{"migrate", {{"uri", target.uri}}}};
    // Not forced: a ready mirror copies what is still in flight, then ends
    // without switching the VM over to the copy.
    case MigrationAction::kCompleteMirror: return {{"block-job-cancel", {{"device", kMirrorJob}}}};
    case MigrationAction::kContinue: return {{"migrate-continue", {{"state", "pre-switchover"}}}};
    case MigrationAction::kQuitSource: return {{"quit", Json::object(), 2s}};
    case MigrationAction::kRollBack: {
      // QEMU resumes the guest itself once its migration is cancelled.
      std::vector<QmpCall> calls;
      if (m.ram_started && qemu_migration_busy(o.qemu_status)) calls.push_back({"migrate_cancel"});
      if (m.job == MirrorJob::kRunning || m.job == MirrorJob::kReady) {
        calls.push_back({"block-job-cancel", {{"device", kMirrorJob}, {"force", true}}});
      }
      return calls;
    }
    case MigrationAction::kDismissJob: return {{"job-dismiss", {{"id", kMirrorJob}}}};
    case MigrationAction::kRemoveDiskNode: return {{"blockdev-del", {{"node-name", kDiskNode}}}};
  }
  return {};
}

// Notes what a command of the driver's did, for the next observation.
void record_result(MigrationAction action, const std::string& vm_id, DriverState& m, const std::string& command,
                   const Result<Json>& r) {
  std::string why = r.ok() ? "" : r.error().message();
  switch (action) {
    case MigrationAction::kStartRam:
      if (!r.ok()) {
        m.ram_started = false;
        m.local_error = "QEMU would not start the migration: " + why;
      }
      break;
    case MigrationAction::kCompleteMirror:
      if (!r.ok()) m.local_error = "cannot complete the disk copy: " + why;
      break;
    case MigrationAction::kContinue:
      if (!r.ok()) m.local_error = "cannot continue to the switchover: " + why;
      break;
    case MigrationAction::kDismissJob: m.job = MirrorJob::kAbsent; break;
    case MigrationAction::kRemoveDiskNode: m.disk_node = false; break;
    default: break;
  }
  bool expected = r.ok() || action == MigrationAction::kQuitSource;  // QEMU may exit before it answers
  if (!expected) spdlog::warn("vm {}: {}: {}", vm_id, command, why);
}

}  // namespace

Result<void> LocalAgent::migrate(const std::string& vm_id, const MigrationTarget& target,
                                 const MigrationOptions& options) {
  TRY(parse_tcp_migration_uri(target.uri));
  std::optional<NbdAddress> disk;
  if (!target.disk_uri.empty()) disk = TRY(parse_nbd_uri(target.disk_uri));
  auto vm = find(vm_id);
  auto qmp = vm ? qmp_client(vm) : nullptr;
  if (!qmp) return Error::Conflict(fmt::format("virtual machine '{}' does not run on this host", vm_id));
  auto m = std::make_shared<Outgoing>();
  m->vm_id = vm_id;
  m->vm = vm;
  m->target = target;
  m->disk = disk;
  m->ram_estimate = int64_t{vm->spec.memory_mb} << 20;
  m->phase = disk ? MigrationPhase::kMirroring : MigrationPhase::kMigrating;
  m->progress.state = public_state(m->phase);
  m->progress.storage = disk ? MigrationStorage::kCopy : MigrationStorage::kShared;
  {
    MutexLock lock(mu_);
    if (vm->migrated) return Error::Conflict(fmt::format("virtual machine '{}' has migrated away", vm_id));
    auto it = outgoing_.find(vm_id);
    if (it != outgoing_.end() && !is_final(public_state(it->second->phase))) {
      return Error::Conflict(fmt::format("virtual machine '{}' is migrating already", vm_id));
    }
    outgoing_[vm_id] = m;
    incoming_.erase(vm_id);  // the record of its arrival here
  }
  spdlog::info("vm {}: migrating to {}{} (downtime limit {} ms, auto-converge {}, max {} MiB/s)", vm_id, target.uri,
               disk ? " with its disk from " + target.disk_uri : std::string(), options.downtime_limit_ms,
               options.auto_converge ? "on" : "off", options.max_bandwidth_bytes_per_s >> 20);
  if (auto started = start_outgoing(m, *qmp, options); !started.ok()) {
    fail_outgoing(m, started.error().message());
    return started;
  }
  asio::co_spawn(io_, drive_migration(m, qmp), asio::detached);
  return Ok();
}

// Every capability and parameter is set each time: a QEMU that migrated
// before (and rolled back) starts from known values.
Result<void> LocalAgent::start_outgoing(const std::shared_ptr<Outgoing>& m, QmpClient& qmp,
                                        const MigrationOptions& options) {
  bool copy = m->disk.has_value();
  // pause-before-switchover (kCopy only): QEMU stops the guest and waits at
  // pre-switchover, so the last disk writes reach the target before its
  // guest starts. events: the driver reacts to each step at once.
  Json caps = Json::array({capability("events", true), capability("auto-converge", options.auto_converge),
                           capability("pause-before-switchover", copy)});
  if (auto r = qmp.execute_sync("migrate-set-capabilities", {{"capabilities", caps}}); !r.ok()) {
    return Error::Conflict(r.error().message()).context("setting the migration capabilities");
  }
  Json params = {{"downtime-limit", options.downtime_limit_ms}, {"max-bandwidth", options.max_bandwidth_bytes_per_s}};
  if (auto r = qmp.execute_sync("migrate-set-parameters", params); !r.ok()) {
    return r.error().context("setting the migration parameters");
  }
  if (copy) {
    bool attached = false;
    auto started = start_mirror(qmp, *m->disk, attached);
    m->driver.disk_node = attached;
    if (started.ok()) m->driver.job = MirrorJob::kRunning;
    return started;
  }
  // Shared storage: the RAM goes at once. Wait until QEMU has connected,
  // so that an unreachable target is the caller's error, not a later state.
  m->driver.ram_started = true;
  if (auto r = qmp.execute_sync("migrate", {{"uri", m->target.uri}}); !r.ok()) {
    return r.error().context("starting the migration");
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(options.connect_timeout_ms);
  for (;;) {
    auto info = qmp.execute_sync("query-migrate");
    std::string status = info.ok() ? json_str(*info, "status") : "";
    std::string error = info.ok() ? json_str(*info, "error-desc") : "";
    if (status == "failed") {
      return Error::Unavailable(
          fmt::format("cannot migrate to {}: {}", m->target.uri, error.empty() ? "QEMU's migration failed" : error));
    }
    if (!status.empty() && status != "setup") return Ok();
    if (Clock::now() >= deadline) {
      (void)qmp.execute_sync("migrate_cancel");
      return Error::Timeout(
          fmt::format("QEMU did not connect to {} within {} ms", m->target.uri, options.connect_timeout_ms));
    }
    std::this_thread::sleep_for(10ms);
  }
}

void LocalAgent::fail_outgoing(const std::shared_ptr<Outgoing>& m, const std::string& why) {
  {
    MutexLock lock(mu_);
    m->phase = MigrationPhase::kFailed;
    m->progress.state = MigrationState::kFailed;
    m->progress.error = why;
  }
  spdlog::warn("vm {}: migration failed: {}", m->vm_id, why);
  migration_changed_.notify_all();
}

asio::awaitable<void> LocalAgent::drive_migration(std::shared_ptr<Outgoing> m, std::shared_ptr<QmpClient> qmp) {
  asio::steady_timer wake(co_await asio::this_coro::executor);
  m->driver.wake = &wake;
  for (bool done = false; !done;) {
    if (!m->driver.poked) {
      wake.expires_after(kPollInterval);
      boost::system::error_code ec;
      co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    m->driver.poked = false;
    MigrationObservation seen = co_await observe(m, *qmp);
    MigrationStep step{MigrationPhase::kFailed};
    MigrationPhase before{};
    {
      MutexLock lock(mu_);
      before = m->phase;
      step = next_migration_step(m->phase, seen);
      if (step.next != m->phase) {
        m->phase = step.next;
        m->phase_since = Clock::now();
      }
      if (!step.error.empty()) m->progress.error = step.error;
      m->progress.state = public_state(m->phase);
      if (m->phase == MigrationPhase::kCompleted) m->progress.percent = 100;
      done = is_final(m->progress.state);
    }
    if (step.next != before) {
      spdlog::info("vm {}: migration {} -> {}{}", m->vm_id, phase_name(before), phase_name(step.next),
                   step.error.empty() ? "" : " (" + step.error + ")");
      migration_changed_.notify_all();
    }
    if (step.action != MigrationAction::kNone) co_await act(m, *qmp, step.action, seen);
  }
  m->driver.wake = nullptr;
}

asio::awaitable<MigrationObservation> LocalAgent::observe(const std::shared_ptr<Outgoing>& m, QmpClient& qmp) {
  MigrationObservation o;
  o.copy_disk = m->disk.has_value();
  {
    MutexLock lock(mu_);
    auto it = vms_.find(m->vm_id);
    o.source_gone = it == vms_.end() || it->second != m->vm;
    o.cancel_requested = m->cancel_requested;
    o.in_phase = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - m->phase_since);
  }
  // QEMU says "completed" a moment before it has computed total-time and
  // downtime (migration_calculate_complete): ask again for those.
  for (int attempt = 0; !o.source_gone && m->driver.ram_started && attempt < 20; ++attempt) {
    auto info = co_await qmp.execute("query-migrate");
    if (!info.ok()) break;
    bool figures_pending = json_str(*info, "status") == "completed" && info->value("total-time", 0) == 0;
    {
      MutexLock lock(mu_);
      std::string reason = m->progress.error;
      apply_migration_info(*info, m->progress);
      if (m->phase == MigrationPhase::kRollingBack && !reason.empty()) m->progress.error = reason;  // ours stays
    }
    if (!figures_pending) break;
    asio::steady_timer pause(co_await asio::this_coro::executor, 5ms);
    boost::system::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!o.source_gone && o.copy_disk && m->driver.job != MirrorJob::kAbsent) {
    auto jobs = co_await qmp.execute("query-jobs");
    if (jobs.ok()) {
      auto job = find_mirror_job(*jobs, kMirrorJob);
      m->driver.job = job.state;
      o.job_error = job.error;
      MutexLock lock(mu_);
      if (job.total >= 0) m->progress.disk_total_bytes = job.total;
      if (job.done >= 0) m->progress.disk_copied_bytes = job.done;
    }
  }
  {
    MutexLock lock(mu_);
    if (m->driver.ram_started) {
      o.qemu_status = m->progress.qemu_status;
      o.error = m->progress.error;
    }
    m->progress.percent = migration_percent(m->progress, m->ram_estimate);
  }
  o.job = m->driver.job;
  o.disk_node = m->driver.disk_node;
  o.local_error = m->driver.local_error;
  co_return o;
}

asio::awaitable<void> LocalAgent::act(const std::shared_ptr<Outgoing>& m, QmpClient& qmp, MigrationAction action,
                                      const MigrationObservation& o) {
  if (action == MigrationAction::kQuitSource) {
    MutexLock lock(mu_);
    m->vm->migrated = true;  // its exit is reported as kMigrated
  }
  if (action == MigrationAction::kKillSource) {
    spdlog::warn("vm {}: the source QEMU did not quit after the migration; killing it", m->vm_id);
    kill_qemu(m->vm->pid, m->vm->paths.qmp_socket);
  }
  for (QmpCall& call : qmp_calls(action, m->target, m->driver, o)) {
    if (action == MigrationAction::kStartRam) m->driver.ram_started = true;
    Result<Json> r = co_await qmp.execute(call.command, std::move(call.args), call.timeout);
    record_result(action, m->vm_id, m->driver, call.command, r);
  }
}

Result<MigrationProgress> LocalAgent::migration_progress(const std::string& vm_id) {
  MutexLock lock(mu_);
  if (auto it = outgoing_.find(vm_id); it != outgoing_.end()) return it->second->progress;
  if (auto it = incoming_.find(vm_id); it != incoming_.end()) return it->second->progress;
  return Error::NotFound("migration of virtual machine", vm_id);
}

Result<MigrationProgress> LocalAgent::wait_for_migration(const std::string& vm_id, std::chrono::milliseconds timeout) {
  UniqueMutexLock lock(mu_);
  auto current = [&]() ORIEL_REQUIRES(mu_) -> const MigrationProgress* {
    if (auto it = outgoing_.find(vm_id); it != outgoing_.end()) return &it->second->progress;
    if (auto it = incoming_.find(vm_id); it != incoming_.end()) return &it->second->progress;
    return nullptr;
  };
  auto settled = [&]() ORIEL_REQUIRES(mu_) {
    auto p = current();
    return !p || is_final(p->state);
  };
  migration_changed_.wait_for(lock, timeout, settled);
  auto p = current();
  if (!p) return Error::NotFound("migration of virtual machine", vm_id);
  if (!is_final(p->state)) {
    return Error::Timeout(fmt::format("the migration of '{}' is still {} after {} ms ({:.0f}%)", vm_id,
                                      migration_state_name(p->state), timeout.count(), p->percent));
  }
  return *p;
}

Result<void> LocalAgent::cancel_migration(const std::string& vm_id) {
  std::shared_ptr<Outgoing> m;
  {
    MutexLock lock(mu_);
    auto it = outgoing_.find(vm_id);
    if (it == outgoing_.end()) {
      if (incoming_.count(vm_id)) {
        return Error::Conflict(
            fmt::format("'{}' migrates to this host: cancel on the source, or abort_incoming", vm_id));
      }
      return Error::NotFound("migration of virtual machine", vm_id);
    }
    m = it->second;
    if (m->progress.state == MigrationState::kCompleted) {
      return Error::Conflict(fmt::format("the migration of '{}' has completed: it runs on the target", vm_id));
    }
    if (is_final(m->progress.state)) return Ok();
    m->cancel_requested = true;
  }
  asio::post(io_, [m] {
    m->driver.poked = true;
    if (m->driver.wake) m->driver.wake->cancel();
  });
  UniqueMutexLock lock(mu_);
  migration_changed_.wait_for(lock, 30s, [&] { return is_final(m->progress.state); });
  if (m->progress.state == MigrationState::kCompleted) {
    return Error::Conflict(fmt::format("the migration of '{}' completed before it could be cancelled", vm_id));
  }
  if (!is_final(m->progress.state)) {
    return Error::Timeout(fmt::format("the migration of '{}' is still being rolled back", vm_id));
  }
  return Ok();
}

}  // namespace oriel::agent
