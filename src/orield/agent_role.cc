// orield --roles agent: a host of a fleet (agent::Host). Runs its VMs, serves
// the agent API (/agent/v1) to the controller, and heartbeats to the
// controller, fencing its VMs if it loses the controller for a whole lease.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "certificates.h"
#include "oriel/agent/host.h"
#include "oriel/common/log.h"
#include "oriel/common/random.h"
#include "roles.h"
#include "routes.h"

namespace oriel {
namespace {

std::vector<std::string> split_urls(const std::string& list) {
  std::vector<std::string> urls;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string url = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (!url.empty()) urls.push_back(url);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return urls;
}

Result<void> check_agent_options(const OrieldOptions& o) {
  if (o.cluster_token.empty())
    return Error::InvalidArgument("--roles agent needs --cluster-token (or ORIEL_CLUSTER_TOKEN)");
  if (split_urls(o.controller_url).empty()) return Error::InvalidArgument("--roles agent needs --controller URL");
  return Ok();
}

}  // namespace

Result<int> run_agent(const OrieldOptions& o) {
  TRY(check_agent_options(o));
  auto [host, port] = TRY(parse_listen(o.listen));
  TRY(make_private_dir(o.data_dir));
  TRY(make_private_dir(o.run_dir));
  TRY(agent::check_run_dir(o.run_dir));

  SystemProcessRunner runner;
  auto probe = choose_accelerator(runner, o);
  spdlog::info("accelerator: {} ({})", agent::accelerator_name(probe.accelerator), probe.reason);
  agent::Host this_host(runner, {o.host_name, o.run_dir, disks_dir(o), probe});
  TRY(this_host.start());
  SecureRandom random;

  boost::asio::io_context io;
  net::Router router;
  add_agent_role_routes(router, this_host, o.cluster_token, random.hex(8));
  net::HttpServer server(io, router, static_cast<size_t>(o.http_workers));
  uint16_t bound = TRY(server.listen(host, port));
  std::string own_url = listener_url(o.advertise.empty() ? host : o.advertise, bound, false);
  auto tls = TRY(net::TlsClient::create({.ca_file = o.ca_file}));
  this_host.join(split_urls(o.controller_url), own_url, std::move(tls));
  spdlog::info("agent '{}' ready at {}; controller {}", o.host_name, own_url, o.controller_url);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("signal {}: stopping the agent; its desktops keep running", sig);
    server.stop();
    io.stop();
  });
  io.run();
  this_host.stop();
  return 0;
}

}  // namespace oriel
