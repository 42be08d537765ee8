// orield: wires the roles together. With no options: controller, agent and
// gateway in one process, SQLite under --data-dir.
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backup.h"
#include "certificates.h"
#include "options.h"
#include "oriel/agent/host.h"
#include "oriel/agent/host_probe.h"
#include "oriel/agent/vm_spec.h"
#include "oriel/api/rest.h"
#include "oriel/common/log.h"
#include "oriel/common/log_context.h"
#include "oriel/controller/controller.h"
#include "oriel/display/gateway.h"
#include "oriel/net/http.h"
#include "oriel/store/store.h"
#include "roles.h"
#include "routes.h"

namespace oriel {
namespace {

namespace fs = std::filesystem;

// The built web client: --web-dir, else web/ beside the binary's bin/ (a
// build tree), else share/oriel/web (the package: /usr/bin/orield).
std::string web_dir(const OrieldOptions& o) {
  if (!o.web_dir.empty()) return o.web_dir;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  fs::path prefix = exe.parent_path().parent_path();
  if (fs::exists(prefix / "web" / "index.html", ec)) return (prefix / "web").string();
  return (prefix / "share" / "oriel" / "web").string();
}

// Where the gateway finds a desktop's screen: the VNC socket of this
// process's agent, or the VNC stream of another host's agent.
std::string vnc_address(const std::string& desktop_id, const std::string& agent_url, const std::string& run_dir) {
  if (agent_url.empty()) return agent::VmPaths::in(run_dir, desktop_id).vnc_socket;
  std::string host = agent_url.substr(agent_url.find("://") + 3);
  return fmt::format("{}://{}/agent/v1/vms/{}/vnc", agent_url.starts_with("https://") ? "wss" : "ws", host, desktop_id);
}

// The gateway reaches the controller through these: tickets, activity, and
// the end of a session's display.
display::GatewayHooks gateway_hooks(controller::Controller& controller, const OrieldOptions& o) {
  display::GatewayHooks hooks;
  hooks.redeem = [&controller, run_dir = o.run_dir, token = o.cluster_token, tls = controller.cluster().agents](
                     const std::string& session_id, const std::string& ticket) -> Result<display::DisplayTarget> {
    auto grant = TRY(controller.sessions().redeem_ticket(ticket));
    if (grant.session.id != session_id) return Error::NotFound("ticket", "(for another session)");
    if (grant.desktop.state != "running") {
      return Error::Unavailable(
          fmt::format("the desktop is not running (it is {}); try again in a moment", grant.desktop.state));
    }
    uint8_t policy = 0;
    if (grant.clipboard == "both" || grant.clipboard == "to-desktop") policy |= display::kClipboardToDesktop;
    if (grant.clipboard == "both" || grant.clipboard == "to-client") policy |= display::kClipboardToClient;
    return display::DisplayTarget{grant.session.id,
                                  grant.desktop.id,
                                  grant.desktop.name,
                                  vnc_address(grant.desktop.id, grant.host_address, run_dir),
                                  token,
                                  tls,
                                  policy};
  };
  hooks.activity = [&controller](const std::string& id) { (void)controller.sessions().activity(id); };
  hooks.disconnected = [&controller](const std::string& id) { (void)controller.sessions().display_closed(id); };
  return hooks;
}

void close_display(display::Gateway& gateway, const std::string& session_id, controller::SessionEnd why) {
  switch (why) {
    case controller::SessionEnd::kLoggedOff:
      return gateway.end_session(session_id, display::CloseCode::kLoggedOff, "you have logged off");
    case controller::SessionEnd::kDisconnected:
      return gateway.end_session(session_id, display::CloseCode::kDisconnected, "the session was disconnected");
    case controller::SessionEnd::kIdle:
      return gateway.end_session(session_id, display::CloseCode::kDisconnected,
                                 "disconnected after a time without input");
  }
}

// The controller and the gateway, with or without the embedded agent.
Result<std::unique_ptr<store::Store>> open_store(const OrieldOptions& o) {
  if (is_sqlite(o.database)) return store::open_sqlite_store(o.data_dir + "/oriel.db");
  return store::open_postgres_store(o.database);
}

Result<int> run_controller(const OrieldOptions& o, const Roles& roles) {
  auto [host, port] = TRY(parse_listen(o.listen));
  TRY(check_listener_options(o, host));
  auto import_dirs = TRY(checked_import_dirs(o));
  TRY(make_private_dir(o.data_dir));
  TRY(make_private_dir(o.run_dir));
  TRY(agent::check_run_dir(o.run_dir));
  if (!o.shared_dir.empty()) TRY(make_private_tree(o.shared_dir));
  auto store = TRY(open_store(o));

  SystemProcessRunner runner;
  auto probe = choose_accelerator(runner, o);
  spdlog::info("accelerator: {} ({})", agent::accelerator_name(probe.accelerator), probe.reason);
  // Without the agent role this agent runs no desktops: it only converts
  // imported images (qemu-img) for the controller.
  agent::Host this_host(runner, {o.host_name, o.run_dir, disks_dir(o), probe});
  TRY(this_host.start());
  agent::HostAgent& agent = this_host.agent();

  SystemClock clock;
  SecureRandom random;
  controller::ControllerOptions copts;
  copts.data_dir = o.data_dir;
  copts.shutdown_timeout = std::chrono::seconds(o.shutdown_timeout_s);
  copts.cpu_overcommit = o.cpu_overcommit;
  copts.memory_overcommit = o.memory_overcommit;
  copts.placement = o.placement;
  copts.ticket_ttl = std::chrono::seconds(o.ticket_ttl_s);
  copts.audit_retention_days = o.audit_retention_days;
  copts.audit_archive_dir = o.audit_archive_dir;
  copts.login_max_delay = std::chrono::seconds(o.login_max_delay_s);
  copts.cluster_token = o.cluster_token;
  if (!o.cluster_token.empty()) {
    spdlog::warn("--cluster-token is deprecated and goes in the next release: hosts join with "
                 "'oriel host join-token create' and get certificates of their own (docs/cluster.md)");
  }
  std::tie(copts.cluster_ca_pem, copts.cluster_ca_key_pem) = existing_ca(o);
  copts.embedded_host = roles.agent;
  copts.shared_dir = o.shared_dir;
  copts.import_dirs = std::move(import_dirs);
  copts.private_dirs = private_dirs(o);
  copts.host_lease = std::chrono::milliseconds(o.host_lease_ms);
  copts.host_grace = std::chrono::milliseconds(o.host_grace_ms);
  copts.migration.downtime_limit_ms = o.migration_downtime_ms;
  copts.parallel_migrations = static_cast<size_t>(o.parallel_migrations);
  controller::Controller controller(*store, agent, clock, random, copts);
  TRY(controller.bootstrap(o.admin_password));
  TRY(install_cluster_ca(o, controller.cluster().ca_pem, controller.cluster().ca_key_pem));
  boost::asio::io_context io;  // before the gateway, whose connections live on it
  size_t encoders = o.encoder_threads > 0 ? o.encoder_threads : std::max(1u, std::thread::hardware_concurrency());
  display::SessionTimings timings;
  timings.ack_timeout = std::chrono::seconds(o.display_ack_timeout_s);
  display::Gateway gateway(gateway_hooks(controller, o), encoders, timings);
  // A desktop that moved host (live migration, or restarted elsewhere): its
  // display sessions reconnect there, the browser keeps its connection.
  controller.set_move_listener([&gateway, run_dir = o.run_dir](const std::string& id, const std::string& agent_url) {
    gateway.move_desktop(id, vnc_address(id, agent_url, run_dir));
  });
  controller.set_session_listener(
      [&gateway](const std::string& id, controller::SessionEnd why) { close_display(gateway, id, why); });
  controller.start();

  net::Router router;
  auto console = add_controller_routes(router, controller, gateway, web_dir(o), o.data_dir + "/uploads", o.public_url,
                                       o.metrics_token);
  net::HttpServer server(io, router, static_cast<size_t>(o.http_workers), listener_limits(o));
  server.check_credentials(credentials_check(controller, o.cluster_token));
  auto tls = TRY(start_listener(server, o, host));
  uint16_t bound = TRY(server.listen(host, port));
  std::string url = listener_url(host, bound, tls != nullptr);
  std::ofstream(o.data_dir + "/orield.url", std::ios::trunc) << url << "\n";
  spdlog::info("orield ready at {} (data {})", url, o.data_dir);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("signal {}: stopping; desktops keep running", sig);
    gateway.stop();
    server.stop();
    io.stop();
  });
  CertificateReloader reloader(io, tls, o, host);
  io.run();
  controller.stop();
  this_host.stop();
  return 0;
}

void say(const std::string& line) { fmt::print("{}\n", line); }

Result<int> run_backup(const OrieldOptions& o) {
  SystemProcessRunner runner;
  BackupOptions b{o.data_dir,    o.database,    o.shared_dir,
                  o.config_file, o.host_name,   o.backup_to,
                  o.with_images, o.backup_keep, std::chrono::system_clock::now()};
  auto started = std::chrono::steady_clock::now();
  auto summary = TRY(make_backup(b, runner, say));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  say(fmt::format("backup: {} ({:.1f} MiB, {} golden images catalogued) in {:.1f} s", summary.file,
                  static_cast<double>(summary.bytes) / 1048576, summary.images, seconds));
  for (const auto& old : summary.removed) say(fmt::format("backup: removed {} (--keep {})", old, o.backup_keep));
  return 0;
}

Result<int> run_restore(const OrieldOptions& o) {
  SystemProcessRunner runner;
  auto summary = TRY(restore_backup({o.restore_from, o.data_dir, o.shared_dir, o.force}, runner, say));
  for (const auto& warning : summary.warnings) say("restore: warning: " + warning);
  if (!summary.config_file.empty()) {
    say(fmt::format("restore: the configuration it ran with is in {}: compare it with yours", summary.config_file));
  }
  say(fmt::format("restore: done (schema {}): start orield with --data-dir {}", summary.schema_version, o.data_dir));
  return 0;
}

// Opens the store by itself: it works whether orield runs or not (SQLite
// takes one writer at a time; PostgreSQL any number).
Result<int> run_reset_password(const OrieldOptions& o) {
  if (o.new_password.empty()) return Error::InvalidArgument("no new password: give --password-file, or one on stdin");
  if (is_sqlite(o.database) && !std::filesystem::exists(o.data_dir + "/oriel.db")) {
    return Error::NotFound("database", o.data_dir + "/oriel.db");
  }
  auto store = TRY(open_store(o));
  TRY(controller::reset_password(*store, o.reset_user, o.new_password));
  say(fmt::format("the password of '{}' is set; its failed logins are cleared and its tokens revoked", o.reset_user));
  return 0;
}

Result<int> run(const OrieldOptions& o) {
  if (o.command == "backup") return run_backup(o);
  if (o.command == "reset-password") return run_reset_password(o);
  if (o.command == "restore") return run_restore(o);
  auto roles = TRY(parse_roles(o));
  if (!roles.controller) return run_agent(o);
  return run_controller(o, roles);
}

}  // namespace
}  // namespace oriel

// An exception that escapes (a bug: every failure is a Result) ends orield
// through std::terminate with its message, which is what it should do.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  // Whatever orield and its children (QEMU, qemu-img, tar) create is this
  // user's alone: desktop disks, images, keys, backups. A directory shared
  // with other users (--shared-dir on a mount) protects nothing by itself.
  ::umask(077);
  oriel::OrieldOptions options;
  if (auto code = oriel::parse_orield_options(argc, argv, options)) return *code;
  oriel::init_logging(options.log_level,
                      options.log_format == "json" ? oriel::LogFormat::kJson : oriel::LogFormat::kText);
  // A peer that goes away must cost one connection, not the process: the
  // write to it fails with EPIPE instead. Asio sends with MSG_NOSIGNAL, and
  // a display session blocks SIGPIPE on its own thread (libvncclient's
  // write() once ended orield when a desktop's QEMU quit); this covers
  // every other writer, such as the log on a pipe whose reader has gone.
  // Children start with the default again (process.cc).
  std::signal(SIGPIPE, SIG_IGN);
  if (options.admin_password_in_argv) {
    spdlog::warn("--admin-password on the command line is visible to every local user (ps, /proc): use "
                 "--admin-password-file or ORIEL_ADMIN_PASSWORD");
  }
  auto result = oriel::run(options);
  if (!result.ok()) {
    spdlog::error("{}", result.error().message());
    return 1;
  }
  return *result;
}
