#include "oriel/agent/controller_link.h"

#include "oriel/common/log.h"
#include "oriel/net/client.h"

namespace oriel::agent {

using Steady = std::chrono::steady_clock;

ControllerLink::ControllerLink(LocalAgent& agent, AgentJournal& journal, ControllerLinkOptions options)
    : agent_(agent), journal_(journal), options_(std::move(options)) {}

ControllerLink::~ControllerLink() { stop(); }

void ControllerLink::start() {
  {
    MutexLock lock(mu_);
    stopping_ = false;
  }
  journal_.set_listener([this] { poke(); });
  thread_ = std::thread([this] { run(); });
}

void ControllerLink::stop() {
  journal_.set_listener(nullptr);
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ControllerLink::poke() {
  {
    MutexLock lock(mu_);
    poked_ = true;
  }
  wake_.notify_all();
}

void ControllerLink::set_tls(std::shared_ptr<const net::TlsClient> tls) {
  MutexLock lock(mu_);
  options_.tls = std::move(tls);
}

std::string ControllerLink::host_id() const {
  MutexLock lock(mu_);
  return host_id_;
}

void ControllerLink::run() {
  UniqueMutexLock lock(mu_);
  while (!stopping_) {
    poked_ = false;
    lock.unlock();
    beat();
    fence_if_expired(Steady::now());
    lock.lock();
    wake_.wait_for(lock, options_.interval, [&]() ORIEL_REQUIRES(mu_) { return stopping_ || poked_; });
  }
}

bool ControllerLink::beat() {
  AgentHello hello{options_.own_url, agent_.options().disks_dir, agent_.report(), journal_.snapshot()};
  std::string body = to_json(hello).dump();
  size_t n = options_.controller_urls.size();
  bool answered = false;
  // The leader first (the controller that answered as leader last time);
  // the others until one says it leads: the leader acts on this host, so it
  // must hear from it, and any controller's answer renews the lease.
  for (size_t i = 0; i < n; ++i) {
    size_t at = (preferred_ + i) % n;
    const std::string& url = options_.controller_urls[at];
    std::shared_ptr<const net::TlsClient> tls;
    {
      MutexLock lock(mu_);
      tls = options_.tls;
    }
    auto client = net::ApiClient::create(url, options_.token, std::move(tls));
    if (!client.ok()) continue;
    client->set_timeout(options_.request_timeout);
    auto sent = Steady::now();
    auto res = client->request("POST", "/api/v1/cluster/heartbeat", body);
    if (!res.ok() || res->status != 200) {
      spdlog::debug("heartbeat to {} failed: {}", url, res.ok() ? std::to_string(res->status) : res.error().message());
      continue;
    }
    auto answer = parse_json(res->body);
    auto host_id = answer.ok() ? json_string(*answer, "host_id") : Result<std::string>(answer.error());
    auto lease = answer.ok() ? json_int(*answer, "lease_ms", 100, 3'600'000) : Result<int64_t>(answer.error());
    auto leader = answer.ok() ? json_opt_bool(*answer, "leader") : Result<std::optional<bool>>(answer.error());
    if (!host_id.ok() || !lease.ok() || !leader.ok()) {
      spdlog::warn("controller {} answered a heartbeat oddly: {}", url, res->body.substr(0, 200));
      continue;
    }
    answered = true;
    MutexLock lock(mu_);
    if (host_id_ != *host_id) spdlog::info("registered with the controller at {} as host {}", url, *host_id);
    if (fenced_) spdlog::warn("the controller at {} answers again", url);
    host_id_ = *host_id;
    lease_ = std::chrono::milliseconds(*lease);
    last_answered_ = sent;  // the lease runs from when we asked, not from when it came back
    fenced_ = false;
    if (leader->value_or(true)) {
      if (preferred_ != at && n > 1) spdlog::info("the controller at {} leads", url);
      preferred_ = at;
      return true;
    }
  }
  return answered;
}

void ControllerLink::fence_if_expired(Steady::time_point now) {
  {
    MutexLock lock(mu_);
    // A heartbeat round can hold this thread for request_timeout per
    // controller: fence that much early, so the VMs are gone before the lease ends.
    // (One try per controller.)
    auto in_flight = options_.request_timeout * static_cast<int64_t>(options_.controller_urls.size());
    if (fenced_ || lease_.count() == 0 || now - last_answered_ + in_flight < lease_) return;
    fenced_ = true;
  }
  size_t running = agent_.vms().size();
  spdlog::error("no controller has answered for a whole lease: stopping this host's {} desktops (fencing), "
                "since they may be restarted on other hosts",
                running);
  agent_.kill_all();
  fencings_.fetch_add(1);
  journal_.changed();
}

}  // namespace oriel::agent
