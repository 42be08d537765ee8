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
  std::string address;      // where its agent listens; empty for the embedded agent
  WallTime last_heartbeat_at;
};

struct ImageRecord {
  std::string id;
  std::string name;
  std::string state;             // importing | ready | failed
  double progress = 0;           // percent
  std::string source_path;
  std::string requested_format;  // auto | qcow2 | raw | vpc | vhdx
  std::string source_format;     // detected, once known
  std::string path;              // the golden image, once imported
  int64_t virtual_size_bytes = 0;
  int64_t size_bytes = 0;
  std::string boot_json;         // {"kernel","initrd","cmdline"} or {"firmware"}
  std::string error;             // why it failed
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
  std::string assigned_user;
  std::string state;          // internal state machine (controller/desktop_state.h)
  std::string desired;        // running | stopped | deleted
  std::string pending_op;     // "" | reboot | reset
  std::string error;
  int64_t deadline_ms = 0;    // when the current step times out (e.g. ACPI shutdown)
  WallTime created_at;
  WallTime updated_at;
  int64_t version = 0;        // optimistic concurrency: bumped by every update
};

}  // namespace oriel::store
