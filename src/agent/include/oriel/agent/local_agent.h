// The host agent for this machine: owns its QEMU processes and disks.
// QEMU runs detached (-daemonize) with its pidfile and QMP socket in the run
// directory, so a restart of orield never stops a desktop: start() finds the
// VMs still running and manages them again. One io_context thread carries
// the QMP connections; the public methods block their caller (not that
// thread) and are thread-safe.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "oriel/agent/host_agent.h"
#include "oriel/agent/host_probe.h"
#include "oriel/common/process.h"

namespace oriel::agent {

class QmpClient;

struct LocalAgentOptions {
  std::string host_name;
  std::string run_dir;    // vms/<id>/ with sockets, pidfile, serial log
  std::string disks_dir;  // <id>.qcow2 linked clones
  ProbeResult accelerator;
  std::chrono::milliseconds kill_timeout{std::chrono::seconds(5)};
};

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

 private:
  struct Vm;

  Result<void> attach(const std::string& vm_id, VmSpec spec, pid_t pid);
  void on_closed(const std::string& vm_id);
  std::shared_ptr<Vm> find(const std::string& vm_id);
  Result<Json> qmp(const std::string& vm_id, const std::string& command, Json args = Json::object());
  std::shared_ptr<QmpClient> qmp_client(const std::shared_ptr<Vm>& vm);
  void reattach_all();

  ProcessRunner& runner_;
  LocalAgentOptions options_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;

  std::mutex mu_;
  std::condition_variable exited_;                   // signalled when a VM leaves vms_
  std::map<std::string, std::shared_ptr<Vm>> vms_;   // GUARDED_BY(mu_)
  std::function<void(const std::string&, VmExit)> on_exit_;  // GUARDED_BY(mu_)
};

// True if `pid` is alive and its command line is the QEMU that serves this
// QMP socket: a pidfile alone is not trusted, since PIDs get reused.
bool is_qemu_for(pid_t pid, const std::string& qmp_socket);

}  // namespace oriel::agent
