// The controller's handle on an agent on another host: the HostAgent
// contract over the agent's HTTP API (docs/cluster.md), authenticated with
// the cluster token. VM statuses come from the agent's snapshots (in its
// heartbeats and in the answer to every command), so vm_status() never
// waits on the network; each command carries a request id and is retried
// on a lost connection with the same id, which the agent answers from its
// memory instead of acting twice. Thread-safe; commands block their caller.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "oriel/agent/agent_wire.h"
#include "oriel/agent/host_agent.h"
#include "oriel/common/mutex.h"
#include "oriel/common/random.h"
#include "oriel/net/tls.h"

namespace oriel::net {
class ApiClient;
}

namespace oriel::agent {

struct RemoteAgentOptions {
  std::string url;                                              // https://ADDR:PORT of the agent
  std::string token;                                            // the cluster token (deprecated; may be empty)
  std::shared_ptr<const net::TlsClient> tls;                    // for an https agent: the cluster CA, our certificate
  std::chrono::milliseconds timeout{std::chrono::seconds(90)};  // per request: a start may take a while
  int attempts = 3;                                             // tries per command when the connection fails
};

class RemoteAgent final : public HostAgent {
 public:
  RemoteAgent(RemoteAgentOptions options, Random& random);
  ~RemoteAgent() override;

  // What the agent said in a heartbeat: its report, its disks, its VMs.
  void set_hello(const AgentHello& hello);
  // A newer picture of the agent's VMs (from a heartbeat or an answer);
  // older ones are ignored. New exits go to the exit handler, once each.
  void update(const AgentSnapshot& snapshot);
  const std::string& url() const { return options_.url; }

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
  std::map<std::string, VmStatus> vms() override;
  Result<std::string> screenshot_png(const std::string& vm_id) override;
  Result<MigrationTarget> prepare_incoming(const IncomingRequest& request) override;
  Result<void> finish_incoming(const std::string& vm_id, std::chrono::milliseconds timeout) override;
  Result<void> abort_incoming(const std::string& vm_id) override;
  Result<void> migrate(const std::string& vm_id, const MigrationTarget& target,
                       const MigrationOptions& options = {}) override;
  Result<MigrationProgress> migration_progress(const std::string& vm_id) override;
  Result<void> cancel_migration(const std::string& vm_id) override;
  void set_exit_handler(std::function<void(const std::string& vm_id, VmExit why)> handler) override;

 private:
  // One command: POST/PUT/DELETE with a request id, retried on a lost
  // connection; the answer's snapshot updates the cache.
  Result<Json> command(std::string_view method, const std::string& path, const Json& body);
  // A GET (no retries needed: it changes nothing); the body of a 200.
  Result<std::string> get(const std::string& path);
  std::unique_ptr<net::ApiClient> borrow();
  void give_back(std::unique_ptr<net::ApiClient> client);

  RemoteAgentOptions options_;
  Random& random_;
  Mutex mu_;
  std::vector<std::unique_ptr<net::ApiClient>> idle_ ORIEL_GUARDED_BY(mu_);  // keep-alive connections
  AgentSnapshot known_ ORIEL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, uint64_t>> seen_exits_ ORIEL_GUARDED_BY(mu_);  // (epoch, seq)
  std::string disks_dir_ ORIEL_GUARDED_BY(mu_);
  HostReport report_ ORIEL_GUARDED_BY(mu_);
  std::function<void(const std::string&, VmExit)> on_exit_ ORIEL_GUARDED_BY(mu_);
};

}  // namespace oriel::agent
