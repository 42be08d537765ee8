#include "oriel/agent/host.h"

#include "oriel/agent/agent_journal.h"
#include "oriel/agent/agent_routes.h"
#include "oriel/agent/controller_link.h"
#include "oriel/agent/local_agent.h"

namespace oriel::agent {

Host::Host(ProcessRunner& runner, LocalAgentOptions options)
    : agent_(std::make_unique<LocalAgent>(runner, std::move(options))) {}

Host::~Host() { stop(); }

Result<void> Host::start() { return agent_->start(); }

void Host::stop() {
  if (link_) link_->stop();
  agent_->stop();
}

HostAgent& Host::agent() { return *agent_; }

void Host::serve(net::Router& router, std::string cluster_token, std::string epoch) {
  journal_ = std::make_unique<AgentJournal>(*agent_, std::move(epoch));
  api_ = std::make_unique<AgentApi>(AgentApi{*agent_, *journal_, std::move(cluster_token), agent_->options().run_dir});
  add_agent_routes(router, *api_);
}

void Host::join(std::vector<std::string> controller_urls, std::string own_url,
                std::shared_ptr<const net::TlsClient> tls) {
  link_ = std::make_unique<ControllerLink>(
      *agent_, *journal_,
      ControllerLinkOptions{std::move(controller_urls), api_->cluster_token, std::move(own_url), std::move(tls)});
  link_->start();
}

void Host::set_controller_tls(std::shared_ptr<const net::TlsClient> tls) { link_->set_tls(std::move(tls)); }

}  // namespace oriel::agent
