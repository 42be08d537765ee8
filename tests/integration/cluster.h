// A fleet on one machine for tests: the controller (orield --roles
// controller,gateway; or several on one PostgreSQL database) on the bridge
// of a private network, and every host an
// agent (orield --roles agent) in a network namespace of its own, made by
// scripts/dev-cluster; all share one directory as their storage. Names and
// the subnet derive from the test's pid, so tests run side by side. Needs
// root. Everything (processes, QEMUs, namespaces, directories) goes in the
// destructor.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace oriel::testing {

// POST /api/v1/desktops (1 vCPU, `memory_mb`) and waits until it runs;
// returns its id or throws.
std::string running_desktop(net::ApiClient& api, const std::string& image, const std::string& name,
                            int memory_mb = 128);
// Whether the orield at `c` says it leads (false if it does not answer).
bool leads(Orield& c);

// A user of a new tenant, entitled to a new pool, logged on: their desktop
// runs and display_url carries a fresh ticket.
struct LoggedOnUser {
  TestUser user;
  std::string session_id, desktop_id, display_url;
  std::shared_ptr<const net::TlsClient> tls;  // trust in the controller's certificate, for display_url
};

class TestCluster {
 public:
  // `hosts` agents; extra arguments for the controllers' orield; several
  // controllers need a shared --database (PostgreSQL).
  explicit TestCluster(int hosts, std::vector<std::string> controller_args = {}, int controllers = 1);
  ~TestCluster();

  // Brings up the network, the controller and every agent, and waits until
  // each host is "ready" in GET /api/v1/hosts.
  void start();

  Orield& controller(int i = 0) { return *controllers_[static_cast<size_t>(i)]; }
  net::ApiClient admin() { return controllers_[0]->admin(); }
  int hosts() const { return static_cast<int>(agents_.size()); }
  std::string host_name(int i) const { return "h" + std::to_string(i + 1); }
  std::string host_address(int i) const;                     // the agent's IP in its namespace
  std::string host_namespace(int i) const { return ns(i); }  // where host i's agent and QEMUs run
  std::string host_id(int i);                                // as the controller knows it (after start)
  // A client of host i's agent API, calling as a controller does: over
  // mutual TLS with a controller's certificate from the cluster CA.
  net::ApiClient agent_client(int i);
  // TLS with a certificate the cluster CA issued to `common_name`.
  std::shared_ptr<const net::TlsClient> cluster_tls(const std::string& common_name, bool client = true);
  std::string agent_tls_dir(int i) const { return agents_[static_cast<size_t>(i)].data_dir + "/tls"; }

  void start_agent(int i);
  void kill_agent(int i);  // SIGKILL of the agent alone; its QEMUs keep running
  void kill_host(int i);   // SIGKILL of everything in the host's namespace: agent and QEMUs
  void cut(int i);         // the host's link goes down (a network failure)
  void heal(int i);
  bool agent_running(int i) const { return agents_[i].pid > 0; }

  // Makes tenant `name`, pool "`name` pool" of `image` (`type`, size 1,
  // `spare`; `pool_extra` adds fields) and user "`name`-user" through
  // controller c's API, logs the user on and waits until the guest is ready
  // on its serial port. Throws if a step fails.
  LoggedOnUser log_on_new_user(int c, const std::string& image, const std::string& name, const std::string& type,
                               int spare, const Json& pool_extra = Json::object());

  // The serial log of a desktop on whichever host last ran it ("" if none).
  std::string serial_log(const std::string& desktop_id) const;
  // The serial log of a desktop on host i (it may not exist).
  std::string serial_log_on(int i, const std::string& desktop_id) const;
  // The pid of the QEMU running a desktop on host i, or -1.
  pid_t qemu_pid(int i, const std::string& desktop_id) const;
  // The host (index) whose agent runs a QEMU for the desktop now, or -1.
  int host_running(const std::string& desktop_id) const;
  // The last `lines` lines of every controller's and agent's log and of
  // every guest's serial log, for a failed test to print (its data goes
  // with the cluster), and whether each controller still runs.
  std::string log_tails(int lines);

 private:
  struct Agent {
    std::string data_dir;
    pid_t pid = -1;
  };
  void net(const std::string& command, const std::string& arg = "");
  std::string controller_urls() const;  // comma-separated, for the agents' --controller
  std::string ns(int i) const { return prefix_ + "-h" + std::to_string(i + 1); }

  std::string prefix_, subnet_, dir_;
  std::vector<std::string> controller_args_;
  std::vector<std::unique_ptr<Orield>> controllers_;
  std::vector<Agent> agents_;
  bool net_up_ = false;
};

}  // namespace oriel::testing
