#include "fleet.h"

#include "oriel/agent/remote_agent.h"
#include "oriel/common/log.h"

namespace oriel::controller {

Fleet::Fleet(Random& random, std::string cluster_token) : random_(random), token_(std::move(cluster_token)) {}

void Fleet::add_local(const std::string& host_id, agent::HostAgent& agent) {
  MutexLock lock(mu_);
  local_id_ = host_id;
  // Not owned: the embedded agent belongs to orield's main.
  agents_[host_id] = std::shared_ptr<agent::HostAgent>(&agent, [](agent::HostAgent*) {});
  agent.set_exit_handler([this](const std::string& vm_id, agent::VmExit why) { exited(vm_id, why); });
}

void Fleet::heard(const std::string& host_id, const agent::AgentHello& hello) {
  std::shared_ptr<agent::RemoteAgent> remote;
  {
    MutexLock lock(mu_);
    if (host_id == local_id_) return;  // a remote agent may not pose as this process's own
    auto it = agents_.find(host_id);
    if (it != agents_.end() && addresses_[host_id] == hello.url) {
      remote = std::static_pointer_cast<agent::RemoteAgent>(it->second);
    } else {
      if (it != agents_.end()) spdlog::info("host {}: its agent moved to {}", host_id, hello.url);
      remote = std::make_shared<agent::RemoteAgent>(agent::RemoteAgentOptions{hello.url, token_, tls_}, random_);
      remote->set_exit_handler([this](const std::string& vm_id, agent::VmExit why) { exited(vm_id, why); });
      agents_[host_id] = remote;
      addresses_[host_id] = hello.url;
    }
  }
  remote->set_hello(hello);
}

std::shared_ptr<agent::HostAgent> Fleet::agent(const std::string& host_id) {
  MutexLock lock(mu_);
  auto it = agents_.find(host_id);
  return it == agents_.end() ? nullptr : it->second;
}

std::shared_ptr<agent::HostAgent> Fleet::sharing_disks_with(const std::string& host_id, const std::string& vm_id) {
  std::map<std::string, std::shared_ptr<agent::HostAgent>> all;
  {
    MutexLock lock(mu_);
    all = agents_;
  }
  auto it = all.find(host_id);
  if (it == all.end()) return nullptr;
  std::string path = it->second->disk_path(vm_id);
  for (const auto& [id, agent] : all) {
    if (id != host_id && agent->disk_path(vm_id) == path) return agent;
  }
  return nullptr;
}

std::string Fleet::address(const std::string& host_id) {
  MutexLock lock(mu_);
  auto it = addresses_.find(host_id);
  return it == addresses_.end() ? std::string() : it->second;
}

void Fleet::exited(const std::string& vm_id, agent::VmExit why) {
  ExitHandler handler;
  {
    MutexLock lock(mu_);
    handler = on_exit_;
  }
  if (handler) handler(vm_id, why);
}

void Fleet::set_tls(std::shared_ptr<const net::TlsClient> tls) {
  MutexLock lock(mu_);
  tls_ = std::move(tls);
}

void Fleet::forget(const std::string& host_id) {
  MutexLock lock(mu_);
  agents_.erase(host_id);
  addresses_.erase(host_id);
}

void Fleet::set_exit_handler(ExitHandler handler) {
  MutexLock lock(mu_);
  on_exit_ = std::move(handler);
}

}  // namespace oriel::controller
