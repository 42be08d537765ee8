// orield's command line and config file (CLI11; --config FILE takes the same
// options in TOML/INI form).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oriel/common/result.h"

namespace oriel {

struct OrieldOptions {
  std::string data_dir;
  std::string run_dir;  // default <data-dir>/run
  std::string listen = "127.0.0.1:8080";
  std::string admin_password;
  std::string admin_password_file;      // read into admin_password
  bool admin_password_in_argv = false;  // given as --admin-password: visible in ps
  std::string roles = "controller,agent,gateway";
  std::string controller_url;
  std::string cluster_token;  // deprecated: --join-token and --ca-pin
  std::string join_token, ca_pin;
  std::string host_name;
  std::string accelerator = "auto";  // auto | kvm | tcg
  std::string probe_kernel;
  std::string log_level = "info";
  std::string log_format = "text";  // text | json
  int shutdown_timeout_s = 30;
  int http_workers = 4;
  int max_connections = 8192;             // connections and WebSockets open at once
  int max_connections_per_address = 256;  // from one client address (an IPv6 /64)
  double cpu_overcommit = 4.0;
  double memory_overcommit = 1.0;
  std::string placement = "spread";  // spread | pack
  int ticket_ttl_s = 60;
  int audit_retention_days = 0;   // the platform's own audit events; 0: for ever
  std::string audit_archive_dir;  // default: DATA/audit-archive
  int login_max_delay_s = 5 * 60;
  std::string web_dir;      // default: the web/ build next to the binary's bin/
  int encoder_threads = 0;  // 0: one per core
  int display_ack_timeout_s = 30;
  std::string database;                  // "" or "sqlite": DATA/oriel.db; else a PostgreSQL connection string
  std::string shared_dir;                // storage all hosts see (images, overlays); empty: none
  std::vector<std::string> import_dirs;  // image files are imported only from under these
  std::string advertise;  // the agent's address as the controller should call it (default: --listen's host)
  int host_lease_ms = 6000;
  int host_grace_ms = 2000;
  int migration_downtime_ms = 50;            // QEMU's downtime limit for live migration
  int parallel_migrations = 2;               // migrations at once (maintenance drains)
  std::string tls_cert, tls_key;             // PEM files served; empty: orield's own under DATA/tls
  bool insecure_http = false;                // plain HTTP (loopback or behind --trusted-proxy only)
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For/-Proto are believed
  std::string ca_file;        // for an agent: the CA an https controller's certificate is checked against
  std::string public_url;     // the address users reach; display_url and certificate names come from it
  std::string metrics_token;  // GET /metrics wants it as a bearer token; empty: loopback only

  std::string command;      // "" (run the daemon), "backup", "restore" or "reset-password"
  std::string config_file;  // the --config file, if any
  std::string backup_to;    // backup: a file, or a directory for a timestamped one
  int backup_keep = 0;      // backup: backups kept in that directory (0: all)
  bool with_images = false;
  std::string restore_from;          // restore: the backup file
  bool force = false;                // restore: replace a database already in --data-dir
  std::string reset_user = "admin";  // admin reset-password: whose
  std::string new_password;          // admin reset-password: read from --password-file or stdin
};

// Parses argv. Returns the exit code to leave with when parsing ends the
// program (--help, a bad option), or nothing to go on.
std::optional<int> parse_orield_options(int argc, char** argv, OrieldOptions& options);

// orield's own directories (data, run, shared, and those of its TLS key,
// config and password files): an image import never reads from them.
std::vector<std::string> private_dirs(const OrieldOptions& o);
// The --import-dir directories with their links resolved: each must be an
// existing directory outside orield's own.
Result<std::vector<std::string>> checked_import_dirs(const OrieldOptions& o);

// Splits "host:port" ("[::1]:80" too); port 0 means any free port.
Result<std::pair<std::string, uint16_t>> parse_listen(const std::string& listen);

}  // namespace oriel
