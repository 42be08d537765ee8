#include "migrations.h"

namespace oriel::store {

const std::vector<std::string_view>& migrations() {
  static const std::vector<std::string_view> kMigrations = {
      // 1: users, tokens, hosts, images, desktops.
      R"sql(
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  tenant_id TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL
);
CREATE TABLE tokens (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL
);
CREATE INDEX tokens_expiry ON tokens(expires_ms);
CREATE TABLE hosts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  accelerator TEXT NOT NULL,
  cpus BIGINT NOT NULL,
  memory_mb BIGINT NOT NULL,
  address TEXT NOT NULL DEFAULT '',
  heartbeat_ms BIGINT NOT NULL
);
CREATE TABLE images (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  progress DOUBLE PRECISION NOT NULL DEFAULT 0,
  source_path TEXT NOT NULL,
  requested_format TEXT NOT NULL,
  source_format TEXT NOT NULL DEFAULT '',
  path TEXT NOT NULL DEFAULT '',
  virtual_size_bytes BIGINT NOT NULL DEFAULT 0,
  size_bytes BIGINT NOT NULL DEFAULT 0,
  boot_json TEXT NOT NULL DEFAULT '{}',
  error TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE TABLE desktops (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  image_id TEXT NOT NULL REFERENCES images(id),
  vcpus BIGINT NOT NULL,
  memory_mb BIGINT NOT NULL,
  host_id TEXT NOT NULL DEFAULT '',
  pool_id TEXT NOT NULL DEFAULT '',
  assigned_user TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  desired TEXT NOT NULL,
  pending_op TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  deadline_ms BIGINT NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX desktops_pool ON desktops(pool_id);
CREATE INDEX desktops_host ON desktops(host_id);
CREATE INDEX desktops_image ON desktops(image_id);
)sql",
  };
  return kMigrations;
}

}  // namespace oriel::store
