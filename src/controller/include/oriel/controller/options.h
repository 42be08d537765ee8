// How a controller is set up: orield's options, as the controller reads them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "oriel/agent/migration.h"

namespace oriel::controller {

struct ControllerOptions {
  std::string data_dir;  // images/ lives here
  // Where image files may be imported from (--import-dir; none: uploads
  // only), and orield's own directories that an import never reads even
  // inside one of those (data, run, shared, its TLS key's and database's).
  std::vector<std::string> import_dirs;
  std::vector<std::string> private_dirs;
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(30)};  // ACPI, then hard stop
  std::chrono::milliseconds reconcile_interval{std::chrono::seconds(1)};
  std::chrono::hours token_ttl{12};
  std::chrono::seconds ticket_ttl{60};  // display tickets
  double cpu_overcommit = 4.0;          // vCPUs per host CPU
  double memory_overcommit = 1.0;       // guest memory per host memory
  std::string placement = "spread";     // spread | pack
  size_t reconcile_workers = 4;         // desktops worked on at once
  // Failed logins: after login_delay_after consecutive failures of an
  // account (login_address_delay_after from one client address) the next
  // attempt waits 1 s, doubling per failure, at most login_max_delay.
  int login_delay_after = 3;
  int login_address_delay_after = 20;
  std::chrono::seconds login_max_delay{5 * 60};
  // The fleet (docs/cluster.md). With a cluster token, agents on other hosts
  // join by heartbeat; without one, the embedded host is the only host.
  std::string cluster_token;  // deprecated: the cluster's PKI replaces it
  // The CA to keep as the cluster's when the store has none yet (an older
  // orield's own CA under DATA/tls); empty: a new one.
  std::string cluster_ca_pem, cluster_ca_key_pem;
  bool embedded_host = true;  // this process runs the agent role as well
  // Granted to every agent with each heartbeat: an agent that hears nothing
  // for that long stops its VMs (fencing). A host silent for lease + grace
  // is declared down and its desktops start elsewhere.
  std::chrono::milliseconds host_lease{std::chrono::seconds(6)};
  std::chrono::milliseconds host_grace{std::chrono::seconds(2)};
  // Storage every host sees: golden images go to SHARED/images (and agents
  // keep their overlays in SHARED/disks), so any host can run any desktop.
  std::string shared_dir;
  // Live migration: QEMU's parameters (a 50 ms downtime limit,
  // auto-converge, no bandwidth cap) and how many migrate at once.
  agent::MigrationOptions migration;
  size_t parallel_migrations = 2;
  // Several controllers on one PostgreSQL database: how often each checks
  // (and the followers try to take) the leader lock.
  std::chrono::milliseconds leader_check_interval{std::chrono::seconds(1)};
  // Audit retention: the leader writes the events older than their
  // tenant's retention (audit_retention_days for the platform's own; 0
  // keeps them) to files under audit_archive_dir, then prunes them; at
  // most every audit_archive_interval, and never under a legal hold.
  int64_t audit_retention_days = 0;
  std::string audit_archive_dir;  // empty: DATA/audit-archive
  std::chrono::milliseconds audit_archive_interval{std::chrono::hours(1)};
};

}  // namespace oriel::controller
