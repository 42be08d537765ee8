// orield --roles agent: a host of a fleet (agent::Host). Runs its VMs, serves
// the agent API (/agent/v1) to the controller, and heartbeats to the
// controller, fencing its VMs if it loses the controller for a whole lease.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <optional>

#include "certificates.h"
#include "oriel/agent/cluster_join.h"
#include "oriel/agent/host.h"
#include "oriel/common/files.h"
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
  if (split_urls(o.controller_url).empty()) return Error::InvalidArgument("--roles agent needs --controller URL");
  if (o.join_token.empty() != o.ca_pin.empty()) {
    return Error::InvalidArgument("--join-token and --ca-pin go together: 'oriel host join-token create' prints both");
  }
  return Ok();
}

// This host's certificate: the one it keeps, or a new one from a join token.
Result<std::optional<agent::HostCredentials>> host_credentials(const OrieldOptions& o, const std::string& dir,
                                                               const std::string& address,
                                                               const std::string& extra_ca) {
  auto kept = TRY(agent::load_host_credentials(dir));
  if (kept || o.join_token.empty()) return kept;
  auto joined =
      TRY(agent::join_cluster({split_urls(o.controller_url), o.join_token, o.ca_pin, o.host_name, address, extra_ca}));
  TRY(agent::save_host_credentials(dir, joined));
  spdlog::info("joined the cluster as host '{}'; the certificate is in {}", o.host_name, dir);
  return std::optional<agent::HostCredentials>(std::move(joined));
}

// Renews the host's certificate once a third of its life is left: checked
// every ten minutes on the io thread (a renewal is one short request).
class Renewal {
 public:
  Renewal(boost::asio::io_context& io, const OrieldOptions& o, std::string dir, std::string address,
          std::string extra_ca, agent::HostCredentials credentials, net::TlsServer& server, agent::Host& host)
      : timer_(io),
        options_(o),
        dir_(std::move(dir)),
        address_(std::move(address)),
        extra_ca_(std::move(extra_ca)),
        credentials_(std::move(credentials)),
        server_(server),
        host_(host) {
    wait(std::chrono::seconds(0));
  }

 private:
  void wait(std::chrono::seconds delay) {
    timer_.expires_after(delay);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (agent::renewal_due(credentials_.cert_pem, std::chrono::system_clock::now())) renew();
      wait(std::chrono::minutes(10));
    });
  }
  void renew() {
    auto renewed = agent::renew_host_certificate(split_urls(options_.controller_url), credentials_, address_, extra_ca_,
                                                 std::chrono::seconds(5));
    auto saved = renewed.ok() ? agent::save_host_credentials(dir_, *renewed) : Result<void>(renewed.error());
    auto client =
        saved.ok() ? renewed->client(extra_ca_) : Result<std::shared_ptr<const net::TlsClient>>(saved.error());
    if (!client.ok()) {
      spdlog::warn("tls: renewing this host's certificate failed (tried again in 10 min): {}",
                   client.error().message());
      return;
    }
    credentials_ = std::move(*renewed);
    host_.set_controller_tls(*client);
    if (auto r = server_.reload(); !r.ok()) spdlog::error("tls: {}", r.error().message());
    spdlog::info("tls: renewed this host's certificate");
  }

  boost::asio::steady_timer timer_;
  const OrieldOptions& options_;
  std::string dir_, address_, extra_ca_;
  agent::HostCredentials credentials_;
  net::TlsServer& server_;
  agent::Host& host_;
};

}  // namespace

Result<int> run_agent(const OrieldOptions& o) {
  TRY(check_agent_options(o));
  auto [host, port] = TRY(parse_listen(o.listen));
  TRY(make_private_dir(o.data_dir));
  TRY(make_private_dir(o.run_dir));
  TRY(agent::check_run_dir(o.run_dir));
  if (!o.shared_dir.empty()) TRY(make_private_tree(o.shared_dir));
  std::string tls_dir = o.data_dir + "/tls";
  TRY(make_private_dir(tls_dir));
  std::string address = o.advertise.empty() ? host : o.advertise;
  std::string extra_ca = o.ca_file.empty() ? "" : read_text_file(o.ca_file);
  auto credentials = TRY(host_credentials(o, tls_dir, address, extra_ca));
  if (!credentials && o.cluster_token.empty()) {
    return Error::InvalidArgument("--roles agent needs --join-token and --ca-pin to join the cluster");
  }
  if (!o.cluster_token.empty()) {
    spdlog::warn("--cluster-token is deprecated and goes in the next release: join with 'oriel host join-token "
                 "create' and --join-token/--ca-pin, which give each host its own certificate (mutual TLS)");
  }

  SystemProcessRunner runner;
  auto probe = choose_accelerator(runner, o);
  spdlog::info("accelerator: {} ({})", agent::accelerator_name(probe.accelerator), probe.reason);
  agent::Host this_host(runner, {o.host_name, o.run_dir, disks_dir(o), probe});
  TRY(this_host.start());
  SecureRandom random;

  boost::asio::io_context io;
  net::Router router;
  add_agent_role_routes(router, this_host, o.cluster_token, random.hex(8));
  net::HttpServer server(io, router, static_cast<size_t>(o.http_workers), listener_limits(o));
  server.check_credentials(agent_credentials_check(o.cluster_token));
  std::shared_ptr<net::TlsServer> tls;
  std::shared_ptr<const net::TlsClient> to_controller;
  if (credentials) {
    // Mutual TLS: only certificates of the cluster CA get through, and the
    // routes let in only the controllers' among them.
    auto f = agent::HostCredentials::files_in(tls_dir);
    tls = TRY(net::TlsServer::load({f.cert, f.key, f.ca, true}));
    server.use_tls(tls);
    to_controller = TRY(credentials->client(extra_ca));
  } else {
    to_controller = TRY(net::TlsClient::create({.ca_file = o.ca_file}));
  }
  uint16_t bound = TRY(server.listen(host, port));
  std::string own_url = listener_url(address, bound, tls != nullptr);
  this_host.join(split_urls(o.controller_url), own_url, to_controller);
  std::optional<Renewal> renewal;
  if (credentials) renewal.emplace(io, o, tls_dir, address, extra_ca, *credentials, *tls, this_host);
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
