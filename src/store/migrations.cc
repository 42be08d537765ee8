#include "migrations.h"

namespace oriel::store {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      // 1: users, tokens, hosts, images, desktops.
      {.portable = R"sql(
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
)sql"},
      // 2: the broker: tenants, pools, entitlements, sessions, tickets, audit,
      // usage. Desktops gain a tenant, and their names become unique per
      // tenant (SQLite cannot drop a constraint: the table is rebuilt, which
      // PostgreSQL does as well).
      {.portable = R"sql(
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL
);
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_failed_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX users_tenant ON users(tenant_id);
CREATE TABLE desktops_v2 (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  image_id TEXT NOT NULL REFERENCES images(id),
  vcpus BIGINT NOT NULL,
  memory_mb BIGINT NOT NULL,
  host_id TEXT NOT NULL DEFAULT '',
  pool_id TEXT NOT NULL DEFAULT '',
  tenant_id TEXT NOT NULL DEFAULT '',
  assigned_user TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  desired TEXT NOT NULL,
  pending_op TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  deadline_ms BIGINT NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 0,
  UNIQUE (tenant_id, name)
);
INSERT INTO desktops_v2 (id, name, image_id, vcpus, memory_mb, host_id, pool_id, assigned_user, state, desired,
  pending_op, error, deadline_ms, created_ms, updated_ms, version)
  SELECT id, name, image_id, vcpus, memory_mb, host_id, pool_id, assigned_user, state, desired,
  pending_op, error, deadline_ms, created_ms, updated_ms, version FROM desktops;
DROP TABLE desktops;
ALTER TABLE desktops_v2 RENAME TO desktops;
CREATE INDEX desktops_pool ON desktops(pool_id);
CREATE INDEX desktops_host ON desktops(host_id);
CREATE INDEX desktops_image ON desktops(image_id);
CREATE INDEX desktops_user ON desktops(assigned_user);
CREATE TABLE pools (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  image_id TEXT NOT NULL REFERENCES images(id),
  type TEXT NOT NULL,
  size BIGINT NOT NULL,
  spare BIGINT NOT NULL,
  vcpus BIGINT NOT NULL,
  memory_mb BIGINT NOT NULL,
  idle_timeout_s BIGINT NOT NULL,
  provisioning TEXT NOT NULL,
  state TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  next_index BIGINT NOT NULL DEFAULT 1,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 0,
  UNIQUE (tenant_id, name)
);
CREATE TABLE entitlements (
  pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (pool_id, user_id)
);
CREATE INDEX entitlements_user ON entitlements(user_id);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  pool_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  desktop_id TEXT NOT NULL,
  state TEXT NOT NULL,
  client_address TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL,
  last_activity_ms BIGINT NOT NULL,
  ended_ms BIGINT NOT NULL DEFAULT 0
);
-- The guarantees of the broker, kept by the database itself: one open
-- session per desktop, and one per user in a pool.
CREATE UNIQUE INDEX sessions_open_desktop ON sessions(desktop_id) WHERE state <> 'ended';
CREATE UNIQUE INDEX sessions_open_user ON sessions(pool_id, user_id) WHERE state <> 'ended';
CREATE INDEX sessions_tenant ON sessions(tenant_id, created_ms);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE tickets (
  ticket_hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  desktop_id TEXT NOT NULL,
  expires_ms BIGINT NOT NULL,
  used_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tickets_expiry ON tickets(expires_ms);
CREATE TABLE usage (
  kind TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  pool_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX usage_open ON usage(kind, subject_id) WHERE end_ms = 0;
CREATE INDEX usage_time ON usage(start_ms);
CREATE INDEX usage_tenant_time ON usage(tenant_id, start_ms);
)sql",
       // The audit log: its auto-increment key and the triggers that refuse
       // any change are written differently by each dialect.
       .sqlite = R"sql(
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms BIGINT NOT NULL,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  username TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  address TEXT NOT NULL,
  status BIGINT NOT NULL,
  result TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_tenant_time ON audit(tenant_id, at_ms);
CREATE INDEX audit_time ON audit(at_ms);
CREATE INDEX audit_user_time ON audit(user_id, at_ms);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
       .postgres = R"sql(
CREATE TABLE audit (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at_ms BIGINT NOT NULL,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  username TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  address TEXT NOT NULL,
  status BIGINT NOT NULL,
  result TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_tenant_time ON audit(tenant_id, at_ms);
CREATE INDEX audit_time ON audit(at_ms);
CREATE INDEX audit_user_time ON audit(user_id, at_ms);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
-- TRUNCATE bypasses row triggers: refused on its own.
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
)sql"},
      // 3: the display gateway's clipboard policy, per pool.
      {.portable = R"sql(
ALTER TABLE pools ADD COLUMN clipboard TEXT NOT NULL DEFAULT 'both';
)sql"},
      // 4: the cluster's PKI: its CA, join tokens, the hosts' certificates.
      {.portable = R"sql(
CREATE TABLE cluster_ca (
  id BIGINT PRIMARY KEY CHECK (id = 1),
  cert_pem TEXT NOT NULL,
  key_pem TEXT NOT NULL
);
CREATE TABLE join_tokens (
  token_hash TEXT PRIMARY KEY,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  used_ms BIGINT NOT NULL DEFAULT 0,
  host_name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE host_certificates (
  fingerprint TEXT PRIMARY KEY,
  host_name TEXT NOT NULL,
  serial TEXT NOT NULL,
  not_after_ms BIGINT NOT NULL,
  revoked_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX host_certificates_host ON host_certificates(host_name);
)sql"},
      // 5: images belong to a tenant, or are the platform's and shared
      // explicitly. Those made before were every tenant's: shared.
      {.portable = R"sql(
ALTER TABLE images ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN shared BIGINT NOT NULL DEFAULT 0;
UPDATE images SET shared = 1;
CREATE INDEX images_tenant ON images(tenant_id);
)sql"},
      // 6: each tenant's quota (0: no limit).
      {.portable = R"sql(
ALTER TABLE tenants ADD COLUMN quota_desktops BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN quota_vcpus BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN quota_memory_mb BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN quota_disk_gb BIGINT NOT NULL DEFAULT 0;
)sql"},
      // 7: each pool's desktop network (agent::NetworkSpec). Desktops had
      // user-mode networking that reached the host: now isolated.
      {.portable = R"sql(
ALTER TABLE pools ADD COLUMN network TEXT NOT NULL DEFAULT 'isolated';
)sql"},
      // 8: audit retention. Each tenant keeps its events for a time, or
      // for ever, or under a legal hold. An event leaves the audit table
      // only once an archive (a file, with its hash) that holds it is
      // recorded, and never under a legal hold: the database refuses any
      // other delete. The archives' own record cannot change.
      {.portable = R"sql(
ALTER TABLE tenants ADD COLUMN audit_retention_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN audit_legal_hold BIGINT NOT NULL DEFAULT 0;
CREATE TABLE audit_archives (
  tenant_id TEXT NOT NULL,
  first_seq BIGINT NOT NULL,
  last_seq BIGINT NOT NULL,
  events BIGINT NOT NULL,
  file TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  archived_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, last_seq)
);
)sql",
       .sqlite = R"sql(
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN NOT EXISTS (SELECT 1 FROM audit_archives a
                 WHERE a.tenant_id = OLD.tenant_id AND OLD.seq BETWEEN a.first_seq AND a.last_seq)
  OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = OLD.tenant_id AND t.audit_legal_hold <> 0)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: an event leaves it only archived, and never under a legal hold'); END;
CREATE TRIGGER audit_archives_no_update BEFORE UPDATE ON audit_archives
BEGIN SELECT RAISE(ABORT, 'audit archives are append-only'); END;
CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives
BEGIN SELECT RAISE(ABORT, 'audit archives are append-only'); END;
)sql",
       .postgres = R"sql(
DROP TRIGGER audit_no_delete ON audit;
CREATE FUNCTION audit_delete_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_archives a
                 WHERE a.tenant_id = OLD.tenant_id AND OLD.seq BETWEEN a.first_seq AND a.last_seq)
     OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = OLD.tenant_id AND t.audit_legal_hold <> 0) THEN
    RAISE EXCEPTION 'the audit log is append-only: an event leaves it only archived, and never under a legal hold';
  END IF;
  RETURN OLD;
END
$$;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_delete_archived();
CREATE FUNCTION audit_archives_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit archives are append-only';
END
$$;
CREATE TRIGGER audit_archives_no_update BEFORE UPDATE ON audit_archives
  FOR EACH ROW EXECUTE FUNCTION audit_archives_append_only();
CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives
  FOR EACH ROW EXECUTE FUNCTION audit_archives_append_only();
CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives
  FOR EACH STATEMENT EXECUTE FUNCTION audit_archives_append_only();
)sql"},
      // 9: a username is unique within its tenant, no longer across them,
      // so that a refused create tells a tenant-admin nothing of another
      // tenant's users. SQLite cannot drop the old column's UNIQUE: the
      // column becomes tenant_username, "<tenant id>/<username>", which
      // is exactly as unique as a name must now be.
      {.portable = R"sql(
ALTER TABLE users RENAME COLUMN username TO tenant_username;
ALTER TABLE users ADD COLUMN username TEXT NOT NULL DEFAULT '';
UPDATE users SET username = tenant_username, tenant_username = tenant_id || '/' || tenant_username;
CREATE INDEX users_username ON users(username);
)sql"},
  };
  return kMigrations;
}

std::string migration_sql(const Migration& m, Dialect dialect) {
  std::string sql(m.portable);
  sql += dialect == Dialect::kSqlite ? m.sqlite : m.postgres;
  return sql;
}

}  // namespace oriel::store
