// The rows the controller keeps. Plain values: the controller owns the
// meaning, the store only persists them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "oriel/common/clock.h"

namespace oriel::store {

struct UserRecord {
  std::string id;
  std::string username;
  std::string password_hash;  // argon2id string (libsodium crypto_pwhash_str)
  std::string role;           // admin | tenant-admin | user
  std::string tenant_id;      // empty for admin
  WallTime created_at;
  int64_t failed_logins = 0;  // consecutive failures since the last success
  WallTime last_failed_at;
  WallTime locked_until;  // epoch when not locked
};

// A tenant's limits, kept where desktops are placed; 0 is no limit.
struct Quota {
  int64_t desktops = 0;   // desktops that exist, running or not
  int64_t vcpus = 0;      // of the running ones
  int64_t memory_mb = 0;  // of the running ones
  int64_t disk_gb = 0;    // what their disks may grow to: their images' virtual size
  bool operator==(const Quota&) const = default;
};

// How long a tenant's audit events stay in the store. Older ones are
// archived to a file and only then pruned; under a legal hold none is, and
// the database itself refuses to delete an event that is not archived or is
// held (migration 8).
struct AuditPolicy {
  int64_t retention_days = 0;  // 0: kept for ever
  bool legal_hold = false;
  bool operator==(const AuditPolicy&) const = default;
};

struct TenantRecord {
  std::string id;
  std::string name;
  WallTime created_at;
  Quota quota;
  AuditPolicy audit;
};

// What a tenant's desktops hold, as its Quota counts it: every desktop not
// being deleted, its image's virtual size as disk; vCPUs and memory of
// those meant to run.
struct TenantAllocation {
  int64_t desktops = 0;
  int64_t vcpus = 0;
  int64_t memory_mb = 0;
  int64_t disk_bytes = 0;
};

struct TokenRecord {
  std::string token_hash;  // hex SHA-256 of the bearer token; the token itself is never stored
  std::string user_id;
  WallTime created_at;
  WallTime expires_at;
};

struct HostRecord {
  std::string id;
  std::string name;
  std::string state;        // ready | maintenance | down
  std::string accelerator;  // kvm | tcg
  int64_t cpus = 0;
  int64_t memory_mb = 0;
  std::string address;  // where its agent listens; empty for the embedded agent
  WallTime last_heartbeat_at;
};

struct ImageRecord {
  std::string id;
  std::string name;
  std::string state;    // importing | ready | failed
  double progress = 0;  // percent
  std::string source_path;
  std::string requested_format;  // auto | qcow2 | raw | vpc | vhdx
  std::string source_format;     // detected, once known
  std::string path;              // the golden image, once imported
  int64_t virtual_size_bytes = 0;
  int64_t size_bytes = 0;
  std::string boot_json;  // {"kernel","initrd","cmdline"} or {"firmware"}
  std::string error;      // why it failed
  // Whose: a tenant's own image (only its tenant-admins see it and only its
  // pools use it), or the platform's (empty), which tenants see and use
  // only once the platform admin shares it.
  std::string tenant_id;
  bool shared = false;
  WallTime created_at;
  WallTime updated_at;
};

struct DesktopRecord {
  std::string id;
  std::string name;
  std::string image_id;
  int64_t vcpus = 1;
  int64_t memory_mb = 512;
  std::string host_id;
  std::string pool_id;
  std::string tenant_id;      // the pool's tenant; empty for an admin's standalone desktop
  std::string assigned_user;  // user id
  std::string state;          // internal state machine (controller/desktop_state.h)
  std::string desired;        // running | stopped | deleted
  std::string pending_op;     // "" | reboot | reset
  std::string error;
  int64_t deadline_ms = 0;  // when the current step times out (e.g. ACPI shutdown)
  WallTime created_at;
  WallTime updated_at;
  int64_t version = 0;  // optimistic concurrency: bumped by every update
};

struct PoolRecord {
  std::string id;
  std::string name;
  std::string tenant_id;
  std::string image_id;
  std::string type;   // pooled | persistent
  int64_t size = 0;   // most desktops
  int64_t spare = 0;  // started, unassigned desktops kept ready
  int64_t vcpus = 1;
  int64_t memory_mb = 512;
  int64_t idle_timeout_s = 0;
  std::string provisioning;          // on-demand | up-front
  std::string clipboard = "both";    // both | to-desktop | to-client | none
  std::string network = "isolated";  // none | isolated | bridge:NAME (agent::NetworkSpec)
  std::string state;                 // active | deleting
  std::string message;               // why the pool is short of its target; empty when it is not
  int64_t next_index = 1;            // for desktop names "<pool>-<n>"
  WallTime created_at;
  WallTime updated_at;
  int64_t version = 0;  // optimistic concurrency, as for desktops
};

struct SessionRecord {
  std::string id;
  std::string pool_id;
  std::string tenant_id;
  std::string user_id;
  std::string desktop_id;
  std::string state;  // connecting | connected | disconnected | ended
  std::string client_address;
  WallTime created_at;
  WallTime last_activity_at;
  WallTime ended_at;  // epoch while open
};

struct TicketRecord {
  std::string ticket_hash;  // hex SHA-256; the ticket itself is only in the display_url
  std::string session_id;
  std::string desktop_id;
  WallTime expires_at;
  WallTime used_at;  // epoch until redeemed
};

// The cluster's certificate authority: it signs the hosts' certificates and
// the controllers' own, and every controller on one database shares it.
struct ClusterCaRecord {
  std::string cert_pem;
  std::string key_pem;
};

// A one-time token an agent joins the cluster with (`oriel host join-token create`).
struct JoinTokenRecord {
  std::string token_hash;  // hex SHA-256; the token itself is shown once
  WallTime created_at;
  WallTime expires_at;
  WallTime used_at;       // epoch until used
  std::string host_name;  // the host that used it
};

// A certificate the cluster CA issued to a host's agent. A host's
// certificates stop working together when the host is removed.
struct HostCertificateRecord {
  std::string fingerprint;  // "sha256:..." of the certificate
  std::string host_name;
  std::string serial;
  WallTime not_after;
  WallTime revoked_at;  // epoch while valid
};

struct AuditEvent {
  int64_t seq = 0;  // assigned by the store, increasing
  WallTime at;
  std::string tenant_id;
  std::string user_id;
  std::string username;
  std::string action;   // "pool.create"
  std::string target;   // the object's id, or what was named
  std::string address;  // the client's IP
  int64_t status = 0;   // HTTP status
  std::string result;   // "ok" or the error code
  std::string detail;   // the error message, if any
};

// Audit events written to a file before they left the store: one tenant's
// ("" the platform's), seq first_seq to last_seq.
struct AuditArchive {
  std::string tenant_id;
  int64_t first_seq = 0;
  int64_t last_seq = 0;
  int64_t events = 0;
  std::string file;    // where the archiver wrote it (on the controller that did)
  std::string sha256;  // of the file, hex
  WallTime archived_at;
};

// A stretch of metered time: a desktop running, or a session open.
struct UsageInterval {
  std::string kind;        // desktop | session
  std::string subject_id;  // desktop or session id
  std::string tenant_id;
  std::string pool_id;
  std::string user_id;  // sessions only
  WallTime start;
  WallTime end;  // epoch while open
};

}  // namespace oriel::store
