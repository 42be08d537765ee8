// orield: wires the roles together. With no options: controller, agent and
// gateway in one process, SQLite under --data-dir.
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <filesystem>
#include <fstream>

#include "oriel/agent/host_probe.h"
#include "oriel/agent/local_agent.h"
#include "oriel/api/http.h"
#include "oriel/api/rest.h"
#include "oriel/common/log.h"
#include "oriel/controller/controller.h"
#include "oriel/store/store.h"
#include "options.h"

namespace oriel {
namespace {

namespace fs = std::filesystem;

Result<void> make_private_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::InvalidArgument(fmt::format("cannot create {}: {}", dir, ec.message()));
  ::chmod(dir.c_str(), 0700);
  return Ok();
}

agent::ProbeResult choose_accelerator(ProcessRunner& runner, const OrieldOptions& o) {
  if (o.accelerator == "kvm") return {agent::Accelerator::kKvm, "--accelerator kvm"};
  if (o.accelerator == "tcg") return {agent::Accelerator::kTcg, "--accelerator tcg"};
  return agent::probe_accelerator(runner, {o.probe_kernel, o.data_dir + "/accelerator-probe"});
}

Result<void> check_roles(const OrieldOptions& o) {
  std::string roles = "," + o.roles + ",";
  for (std::string_view role : {"controller", "agent", "gateway"}) {
    if (roles.find(fmt::format(",{},", role)) == std::string::npos) {
      return Error::InvalidArgument(fmt::format(
          "--roles {}: this version runs all roles together (controller,agent,gateway); separate agents and "
          "gateways come with multi-host support",
          o.roles));
    }
  }
  return Ok();
}

Result<int> run(const OrieldOptions& o) {
  TRY(check_roles(o));
  auto [host, port] = TRY(parse_listen(o.listen));
  TRY(make_private_dir(o.data_dir));
  TRY(make_private_dir(o.run_dir));
  TRY(agent::check_run_dir(o.run_dir));
  auto store = TRY(store::open_sqlite_store(o.data_dir + "/oriel.db"));

  SystemProcessRunner runner;
  auto probe = choose_accelerator(runner, o);
  spdlog::info("accelerator: {} ({})", agent::accelerator_name(probe.accelerator), probe.reason);
  agent::LocalAgent agent(runner, {o.host_name, o.run_dir, o.data_dir + "/disks", probe});
  TRY(agent.start());

  SystemClock clock;
  SecureRandom random;
  controller::ControllerOptions copts;
  copts.data_dir = o.data_dir;
  copts.shutdown_timeout = std::chrono::seconds(o.shutdown_timeout_s);
  copts.cpu_overcommit = o.cpu_overcommit;
  copts.memory_overcommit = o.memory_overcommit;
  copts.placement = o.placement;
  copts.ticket_ttl = std::chrono::seconds(o.ticket_ttl_s);
  copts.login_lock = std::chrono::seconds(o.login_lock_s);
  controller::Controller controller(*store, agent, clock, random, copts);
  TRY(controller.bootstrap(o.admin_password));
  controller.start();

  boost::asio::io_context io;
  api::Router router;
  api::add_rest_routes(router, controller);
  api::HttpServer server(io, router, static_cast<size_t>(o.http_workers));
  uint16_t bound = TRY(server.listen(host, port));
  std::string url = fmt::format("http://{}:{}", host.find(':') != std::string::npos ? "[" + host + "]" : host, bound);
  std::ofstream(o.data_dir + "/orield.url", std::ios::trunc) << url << "\n";
  spdlog::info("orield ready at {} (data {})", url, o.data_dir);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("signal {}: stopping; desktops keep running", sig);
    server.stop();
    io.stop();
  });
  io.run();
  controller.stop();
  agent.stop();
  return 0;
}

}  // namespace
}  // namespace oriel

int main(int argc, char** argv) {
  oriel::OrieldOptions options;
  if (auto code = oriel::parse_orield_options(argc, argv, options)) return *code;
  oriel::init_logging(options.log_level);
  auto result = oriel::run(options);
  if (!result.ok()) {
    spdlog::error("{}", result.error().message());
    return 1;
  }
  return *result;
}
