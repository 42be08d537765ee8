#include "options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "oriel/common/files.h"

namespace oriel {
namespace {

std::string default_data_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return std::string(xdg) + "/oriel";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/share/oriel";
  return "/var/lib/oriel";
}

std::string default_host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf[0] ? buf : "localhost";
}

// A password file's first line (or stdin's), without its line break.
std::string first_line(const std::string& text) { return text.substr(0, text.find_first_of("\r\n")); }

}  // namespace

std::optional<int> parse_orield_options(int argc, char** argv, OrieldOptions& o) {
  CLI::App app{"orield: the Oriel daemon. Runs the controller (REST API, reconcilers), the host agent (QEMU) and the\n"
               "display gateway. With no options it runs all roles on this machine with SQLite in --data-dir."};
  app.set_config("--config", "", "Read options from a TOML/INI file (same names as the long options)");
  app.add_option("--data-dir", o.data_dir, "State directory: database, golden images, desktop disks")
      ->default_str(default_data_dir());
  app.add_option("--database", o.database,
                 "For a controller: sqlite (DATA-DIR/oriel.db, the default) or a PostgreSQL connection string "
                 "(postgresql://USER:PASSWORD@HOST/DB or host=... dbname=...); controllers sharing one PostgreSQL "
                 "database elect a leader that runs the control loops, and all serve the API")
      ->envname("ORIEL_DATABASE");
  app.add_option("--run-dir", o.run_dir, "Runtime directory for QEMU sockets and pidfiles (default DATA-DIR/run)");
  app.add_option("--listen", o.listen, "Address for the REST API and web UI, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--tls-cert", o.tls_cert,
                 "PEM certificate (with its chain) to serve HTTPS and WSS with; without it orield makes its own CA "
                 "and certificate under DATA-DIR/tls (clients trust DATA-DIR/tls/ca.pem). SIGHUP reloads it");
  app.add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert");
  app.add_flag("--insecure-http", o.insecure_http,
               "Serve plain HTTP instead of HTTPS: only on a loopback address, or behind the reverse proxy named "
               "with --trusted-proxy");
  app.add_option("--trusted-proxy", o.trusted_proxies,
                 "A reverse proxy (CIDR, repeatable) whose X-Forwarded-For and X-Forwarded-Proto are believed");
  app.add_option("--public-url", o.public_url,
                 "The URL users reach orield at (behind a proxy, the proxy's): display URLs and the certificate's "
                 "names come from it");
  app.add_option("--metrics-token", o.metrics_token,
                 "A secret Prometheus presents as a bearer token to scrape GET /metrics; without it /metrics "
                 "answers only on loopback")
      ->envname("ORIEL_METRICS_TOKEN");
  app.add_option("--ca-file", o.ca_file,
                 "For an agent: the CA (PEM) that an https --controller's certificate is checked against (default: "
                 "the system's CAs)");
  app.add_option("--admin-password", o.admin_password,
                 "Password of the 'admin' user; creates it on first start, updates it when changed (any local user "
                 "sees it in ps: prefer --admin-password-file or the environment)")
      ->envname("ORIEL_ADMIN_PASSWORD");
  app.add_option("--admin-password-file", o.admin_password_file,
                 "A file whose first line is the admin's password (keep it 0600)");
  app.add_option("--roles", o.roles,
                 "Roles to run: controller,agent,gateway (everything on this machine), controller,gateway (the hosts "
                 "are agents elsewhere), or agent (a host of a fleet; needs --controller, and --join-token with "
                 "--ca-pin to join)")
      ->capture_default_str();
  app.add_option("--controller", o.controller_url,
                 "For an agent: the controller's URL (several, comma-separated, for controllers sharing one database)");
  app.add_option("--join-token", o.join_token,
                 "For an agent joining the cluster: a one-time token from 'oriel host join-token create' (with "
                 "--ca-pin); the agent keeps the certificate it gets under DATA-DIR/tls and needs no token again")
      ->envname("ORIEL_JOIN_TOKEN");
  app.add_option("--ca-pin", o.ca_pin,
                 "For an agent joining the cluster: the cluster CA's pin (sha256:HEX) that 'oriel host join-token "
                 "create' printed; the agent sends its token only to a controller whose CA it is");
  app.add_option("--cluster-token", o.cluster_token,
                 "Deprecated (use join tokens): a secret shared by the controller and its agents, which then speak "
                 "plain HTTP to each other")
      ->envname("ORIEL_CLUSTER_TOKEN");
  app.add_option("--shared-dir", o.shared_dir,
                 "Storage every host mounts at the same path: golden images and desktop disks go there, so any host "
                 "can run (and take over) any desktop");
  app.add_option("--import-dir", o.import_dirs,
                 "A directory that images may be imported from by path (repeatable); without one, images come "
                 "as uploads only. orield's own directories are never read, even inside one");
  app.add_option("--advertise", o.advertise,
                 "For an agent: the address the controller should call it at (default: the host of --listen)");
  app.add_option("--host-lease-ms", o.host_lease_ms,
                 "For a controller: the lease each heartbeat grants an agent; an agent that hears nothing for that "
                 "long stops its desktops (fencing)")
      ->check(CLI::Range(500, 600000))
      ->capture_default_str();
  app.add_option("--host-grace-ms", o.host_grace_ms,
                 "For a controller: how long after a lease ran out a silent host is declared down and its desktops "
                 "start elsewhere")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  app.add_option("--migration-downtime-ms", o.migration_downtime_ms,
                 "For a controller: the longest pause live migration may plan for the guest (QEMU's downtime limit; "
                 "QEMU's own default is 300)")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  app.add_option("--parallel-migrations", o.parallel_migrations,
                 "For a controller: live migrations at once (a host in maintenance is drained this many at a time)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--host-name", o.host_name, "This host's name in the fleet")->default_str(default_host_name());
  app.add_option("--accelerator", o.accelerator, "auto (probe KVM, fall back to TCG), kvm or tcg")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
      ->capture_default_str();
  app.add_option("--probe-kernel", o.probe_kernel, "Linux kernel the KVM probe boots (default: the test guest's)");
  app.add_option("--shutdown-timeout", o.shutdown_timeout_s, "Seconds an ACPI shutdown may take before a hard stop")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--http-workers", o.http_workers, "Threads that run API handlers")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--max-connections", o.max_connections,
                 "Connections (WebSockets included) open at once; beyond it new ones are closed")
      ->check(CLI::Range(16, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-connections-per-address", o.max_connections_per_address,
                 "Connections open at once from one client address (an IPv6 /64); a --trusted-proxy has no limit")
      ->check(CLI::Range(4, 1 << 20))
      ->capture_default_str();
  app.add_option("--cpu-overcommit", o.cpu_overcommit, "vCPUs allowed per host CPU")
      ->check(CLI::Range(0.1, 64.0))
      ->capture_default_str();
  app.add_option("--memory-overcommit", o.memory_overcommit, "Guest memory allowed per host memory")
      ->check(CLI::Range(0.1, 8.0))
      ->capture_default_str();
  app.add_option("--placement", o.placement,
                 "Where new desktops go: spread (least loaded host) or pack (fullest host that fits)")
      ->check(CLI::IsMember({"spread", "pack"}))
      ->capture_default_str();
  app.add_option("--ticket-ttl-s", o.ticket_ttl_s, "Seconds a one-time display ticket stays valid")
      ->check(CLI::Range(5, 3600))
      ->capture_default_str();
  app.add_option("--audit-retention-days", o.audit_retention_days,
                 "Days the platform's own audit events (logins and changes outside any tenant) stay in the store "
                 "before they are archived and pruned; 0 keeps them. Each tenant has its own (oriel tenant audit)")
      ->check(CLI::Range(0, 36600))
      ->capture_default_str();
  app.add_option("--audit-archive-dir", o.audit_archive_dir,
                 "Where audit events are archived (gzip'd JSON lines, 0600) before they are pruned; default "
                 "DATA/audit-archive");
  app.add_option("--login-max-delay-s,--login-lock-s", o.login_max_delay_s,
                 "Longest wait, in seconds, that failed logins impose on an account's or an address's next attempt "
                 "(--login-lock-s is its old name)")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--web-dir", o.web_dir,
                 "Directory of the built web client and portal, served at / (default: ../web beside bin/orield, else "
                 "../share/oriel/web)");
  app.add_option("--encoder-threads", o.encoder_threads, "Threads that encode desktop screens (0: one per core)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--display-ack-timeout-s", o.display_ack_timeout_s,
                 "Seconds a browser may leave frames unacknowledged before the gateway closes it")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", o.log_format,
                 "text, or json: one JSON object per line (time, level, request_id, msg) for log shippers")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.footer("The REST API is described in docs/api.md; GET /healthz answers 200 once orield is ready.\n"
             "Backups: 'orield backup --help' and 'orield restore --help' (docs/operations.md).");
  // The subcommands take the daemon's own options too (--config, --data-dir,
  // --database, --shared-dir), before or after their name.
  auto* backup =
      app.add_subcommand("backup", "Write a consistent copy of this orield's state (database, keys, config, image "
                                   "catalogue) to a tarball, while orield runs")
          ->fallthrough();
  backup->add_option("--to", o.backup_to, "The backup file, or a directory that gets oriel-backup-TIME.tar.zst")
      ->required();
  backup->add_option("--keep", o.backup_keep, "With a directory: keep this many backups there, removing older ones")
      ->check(CLI::Range(0, 100000));
  backup->add_flag("--with-images", o.with_images, "Include the golden image files (large)");
  auto* restore =
      app.add_subcommand("restore", "Unpack a backup into --data-dir (an empty one, or with --force); start orield "
                                    "on it afterwards")
          ->fallthrough();
  restore->add_option("--from", o.restore_from, "The backup file")->required();
  restore->add_flag("--force", o.force, "Replace the database already in --data-dir (it is kept beside, renamed)");
  auto* admin = app.add_subcommand("admin", "Recovery on this machine, straight on the database")->fallthrough();
  admin->require_subcommand(1);
  std::string password_file;
  auto* reset = admin
                    ->add_subcommand("reset-password",
                                     "Set a user's password (the built-in admin's by default), clear its failed "
                                     "logins and revoke its tokens; reads the new password from --password-file, "
                                     "else from the first line of standard input")
                    ->fallthrough();
  reset->add_option("--user", o.reset_user, "Whose password: a name, or name@tenant where several tenants have it")
      ->capture_default_str();
  reset->add_option("--password-file", password_file, "A file whose first line is the new password");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!o.admin_password_file.empty()) {
    if (!o.admin_password.empty()) {
      std::fprintf(stderr, "orield: give --admin-password-file or --admin-password (ORIEL_ADMIN_PASSWORD), not both\n");
      return 2;
    }
    o.admin_password = first_line(read_text_file(o.admin_password_file));
    if (o.admin_password.empty()) {
      std::fprintf(stderr, "orield: --admin-password-file %s is missing, unreadable or empty\n",
                   o.admin_password_file.c_str());
      return 2;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    o.admin_password_in_argv |= arg == "--admin-password" || arg.starts_with("--admin-password=");
  }
  if (backup->parsed()) o.command = "backup";
  if (restore->parsed()) o.command = "restore";
  if (reset->parsed()) {
    o.command = "reset-password";
    std::string text;
    if (!password_file.empty()) {
      text = read_text_file(password_file);
    } else {
      std::getline(std::cin, text);
    }
    o.new_password = first_line(text);
  }
  if (auto* config = app.get_config_ptr(); config && config->count() > 0) o.config_file = config->as<std::string>();
  if (o.data_dir.empty()) o.data_dir = default_data_dir();
  if (o.host_name.empty()) o.host_name = default_host_name();
  if (o.run_dir.empty()) o.run_dir = o.data_dir + "/run";
  return std::nullopt;
}

std::vector<std::string> private_dirs(const OrieldOptions& o) {
  std::vector<std::string> dirs = {o.data_dir, o.run_dir};
  if (!o.shared_dir.empty()) dirs.push_back(o.shared_dir);
  if (!o.audit_archive_dir.empty()) dirs.push_back(o.audit_archive_dir);
  for (const auto* file : {&o.tls_key, &o.config_file, &o.admin_password_file}) {
    if (!file->empty()) dirs.push_back(std::filesystem::absolute(*file).parent_path().string());
  }
  return dirs;
}

Result<std::vector<std::string>> checked_import_dirs(const OrieldOptions& o) {
  namespace fs = std::filesystem;
  std::vector<std::string> dirs;
  const auto own_dirs = private_dirs(o);
  for (const auto& dir : o.import_dirs) {
    std::error_code ec;
    auto real = fs::canonical(dir, ec);
    if (ec || !fs::is_directory(real, ec)) {
      return Error::InvalidArgument(fmt::format("--import-dir {} is not an existing directory", dir));
    }
    for (const auto& own : own_dirs) {
      if (path_within(own, real.string())) {
        return Error::InvalidArgument(
            fmt::format("--import-dir {} is inside orield's own directory {}: choose another", dir, own));
      }
    }
    dirs.push_back(real.string());
  }
  return dirs;
}

Result<std::pair<std::string, uint16_t>> parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Error::InvalidArgument(fmt::format("--listen '{}' must be HOST:PORT", listen));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long port = std::strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535 || colon + 1 == listen.size()) {
    return Error::InvalidArgument(fmt::format("--listen '{}' has no valid port", listen));
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

}  // namespace oriel
