// The host agent for this machine: owns its QEMU processes and disks.
// QEMU runs detached (-daemonize) with its pidfile and QMP socket in the run
// directory, so a restart of orield never stops a desktop: start() finds the
// VMs still running and manages them again. One io_context thread carries
// the QMP connections; the public methods block their caller (not that
// thread) and are thread-safe.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "oriel/agent/host.h"
#include "oriel/agent/host_agent.h"
#include "oriel/agent/host_probe.h"
#include "oriel/agent/migration.h"
#include "oriel/agent/qemu_process.h"
#include "oriel/common/mutex.h"
#include "oriel/common/process.h"

namespace oriel::agent {

class QmpClient;
struct QmpEvent;
struct MigrationObservation;
enum class MigrationAction;

class LocalAgent final : public HostAgent {
 public:
  LocalAgent(ProcessRunner& runner, LocalAgentOptions options);
  ~LocalAgent() override;

  // Starts the QMP thread and re-attaches to the VMs that still run.
  Result<void> start();
  // Disconnects from the VMs and leaves them running.
  void stop();

  HostReport report() override;
  Result<ImportedImage> import_image(const ImageImportRequest& request) override;
  std::string disk_path(const std::string& vm_id) override;
  Result<void> create_disk(const std::string& vm_id, const std::string& golden_path) override;
  Result<void> reset_disk(const std::string& vm_id, const std::string& golden_path) override;
  Result<void> delete_disk(const std::string& vm_id) override;
  Result<void> start_vm(const VmSpec& spec) override;
  Result<void> shutdown_vm(const std::string& vm_id) override;
  Result<void> kill_vm(const std::string& vm_id) override;
  Result<void> reboot_vm(const std::string& vm_id) override;
  VmStatus vm_status(const std::string& vm_id) override;
  Result<std::string> screenshot_png(const std::string& vm_id) override;
  void set_exit_handler(std::function<void(const std::string&, VmExit)> handler) override;
  // Called, outside the agent's lock, when a VM joins this host without a
  // command doing it: an incoming migration has completed.
  void set_arrival_handler(std::function<void(const std::string& vm_id)> handler);

  std::map<std::string, VmStatus> vms() override;
  // Kills every VM at once: fencing, when this host has lost its controller
  // and another host may be about to run the same desktops.
  void kill_all();
  const LocalAgentOptions& options() const { return options_; }

  // ---- Live migration, QEMU precopy over TCP (migration.h) ----------------

  // Target side. Starts QEMU for request.spec waiting for an incoming
  // migration (the same command line as the source's plus -incoming defer,
  // the usual sockets in this agent's run dir) and returns where the source
  // sends it. Until switchover it is no desktop of this host: vm_status()
  // says absent, vms() leaves it out, its exit is reported to no one, and
  // its migration state is kIncoming. When the migration completes it
  // becomes a VM of this host by itself (state kCompleted); if the stream
  // fails, QEMU exits and the agent removes what it made (kFailed).
  // Conflict if the VM runs or waits here already, or (kCopy) if this host
  // still has a disk for it.
  Result<MigrationTarget> prepare_incoming(const IncomingRequest& request) override;
  // Waits until the incoming migration has completed (Ok: the VM runs
  // here) or failed (Unavailable, with why); Timeout if it still waits.
  Result<void> finish_incoming(const std::string& vm_id, std::chrono::milliseconds timeout) override;
  // Gives a prepared target up: kills its QEMU quietly and removes what
  // prepare_incoming made, for a source that failed before it connected
  // (the QEMU would wait forever). Ok if there is none; Conflict once the
  // migration has completed (the desktop runs here then: kill_vm).
  Result<void> abort_incoming(const std::string& vm_id) override;

  // Source side. Starts migrating a running VM to `target` (what the
  // target's prepare_incoming returned) and returns once QEMU is under way:
  // connected to the target with shared storage, copying the disk with
  // kCopy. An agent thread drives the rest. On completion the source QEMU
  // is quit and its exit reported as VmExit::kMigrated; on failure or
  // cancel QEMU resumes the guest here and the disk copy is undone.
  // InvalidArgument for a malformed target, Conflict if the VM does not run
  // here or migrates already, Unavailable if the target cannot be reached.
  Result<void> migrate(const std::string& vm_id, const MigrationTarget& target,
                       const MigrationOptions& options = {}) override;
  // The latest progress of this VM's migration, on either side (the last
  // one, once final). NotFound if there was none.
  Result<MigrationProgress> migration_progress(const std::string& vm_id) override;
  // Waits until the migration is final (source) or has left kIncoming
  // (target); Timeout with the progress in the message otherwise.
  Result<MigrationProgress> wait_for_migration(const std::string& vm_id, std::chrono::milliseconds timeout);
  // Cancels an outgoing migration and waits until it is rolled back: Ok
  // then (or if it had failed already), Conflict if it completed first.
  Result<void> cancel_migration(const std::string& vm_id) override;

 private:
  struct Vm;
  struct Incoming;
  struct Outgoing;

  Result<void> attach(const std::string& vm_id, VmSpec spec, pid_t pid);
  void on_closed(const std::string& vm_id);
  std::shared_ptr<Vm> find(const std::string& vm_id);
  Result<Json> qmp(const std::string& vm_id, const std::string& command, Json args = Json::object());
  std::shared_ptr<QmpClient> qmp_client(const std::shared_ptr<Vm>& vm);
  void reattach_all();
  // Starts a QEMU for `spec` in its run dir.
  Result<pid_t> launch(const VmSpec& spec, QemuStart start);
  Result<void> connect_qmp(const std::shared_ptr<Vm>& vm);
  void on_vm_event(const std::shared_ptr<Vm>& vm, const QmpEvent& e);

  // local_agent_migration.cc
  Result<MigrationTarget> start_incoming(const std::shared_ptr<Incoming>& in, const VmSpec& spec,
                                         const std::string& listen_host);
  void discard_incoming(const std::shared_ptr<Incoming>& in);
  bool incoming_closed(const std::shared_ptr<Vm>& vm);
  void on_migration_event(const std::shared_ptr<Vm>& vm, const QmpEvent& e);
  void settle_migration_leftover(const std::shared_ptr<Vm>& vm, const std::string& runstate);
  Result<void> check_not_incoming(const std::string& vm_id);
  Result<void> start_outgoing(const std::shared_ptr<Outgoing>& m, QmpClient& qmp, const MigrationOptions& options);
  void fail_outgoing(const std::shared_ptr<Outgoing>& m, const std::string& why);
  boost::asio::awaitable<void> drive_migration(std::shared_ptr<Outgoing> m, std::shared_ptr<QmpClient> qmp);
  boost::asio::awaitable<MigrationObservation> observe(const std::shared_ptr<Outgoing>& m, QmpClient& qmp);
  boost::asio::awaitable<void> act(const std::shared_ptr<Outgoing>& m, QmpClient& qmp, MigrationAction action,
                                   const MigrationObservation& o);

  ProcessRunner& runner_;
  LocalAgentOptions options_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;

  Mutex mu_;
  CondVar exited_;  // signalled when a VM leaves vms_
  std::map<std::string, std::shared_ptr<Vm>> vms_ ORIEL_GUARDED_BY(mu_);
  std::function<void(const std::string&, VmExit)> on_exit_ ORIEL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> on_arrival_ ORIEL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Incoming>> incoming_ ORIEL_GUARDED_BY(mu_);  // targets, by VM id
  std::map<std::string, std::shared_ptr<Outgoing>> outgoing_ ORIEL_GUARDED_BY(mu_);  // sources, by VM id
  CondVar migration_changed_;                                                        // a migration's state changed
};

}  // namespace oriel::agent
