// The Store: everything the controller decides is written here before it
// acts. Split by entity so each interface stays narrow; one object
// implements all of them per backend (SQLite, PostgreSQL for HA).
// Implementations are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "oriel/common/result.h"
#include "oriel/store/records.h"

namespace oriel::store {

class UserStore {
 public:
  virtual ~UserStore() = default;
  // Conflict when the tenant (or, for admins, the platform) has a user of that name.
  virtual Result<void> insert_user(const UserRecord& user) = 0;
  // The user called `username` in the tenant ("" for admins).
  virtual Result<UserRecord> user_by_name(std::string_view tenant_id, std::string_view username) = 0;
  // Every user called `username`, whatever their tenant.
  virtual Result<std::vector<UserRecord>> users_named(std::string_view username) = 0;
  virtual Result<UserRecord> user_by_id(std::string_view id) = 0;
  virtual Result<std::vector<UserRecord>> users(std::string_view tenant_id) = 0;  // empty: all
  virtual Result<void> set_password_hash(std::string_view user_id, std::string_view hash) = 0;
  // Stores failed_logins, last_failed_at and locked_until of `user`.
  virtual Result<void> set_login_state(const UserRecord& user) = 0;
  virtual Result<void> delete_user(std::string_view id) = 0;  // with its tokens and entitlements
  virtual Result<void> insert_token(const TokenRecord& token) = 0;
  virtual Result<TokenRecord> token_by_hash(std::string_view token_hash) = 0;
  virtual Result<void> delete_token(std::string_view token_hash) = 0;
  // Every token of a user but `except_hash` (empty: all of them).
  virtual Result<void> delete_user_tokens(std::string_view user_id, std::string_view except_hash) = 0;
  virtual Result<void> delete_expired_tokens(WallTime now) = 0;
};

class TenantStore {
 public:
  virtual ~TenantStore() = default;
  virtual Result<void> insert_tenant(const TenantRecord& tenant) = 0;  // Conflict on duplicate name
  virtual Result<TenantRecord> tenant(std::string_view id) = 0;
  virtual Result<std::vector<TenantRecord>> tenants() = 0;
  virtual Result<void> delete_tenant(std::string_view id) = 0;  // Conflict while it has users, pools or images
  virtual Result<void> set_tenant_quota(std::string_view id, const Quota& quota) = 0;                // NotFound if gone
  virtual Result<void> set_tenant_audit_policy(std::string_view id, const AuditPolicy& policy) = 0;  // NotFound if gone
};

class HostStore {
 public:
  virtual ~HostStore() = default;
  virtual Result<void> upsert_host(const HostRecord& host) = 0;  // by id
  virtual Result<HostRecord> host(std::string_view id) = 0;
  virtual Result<std::vector<HostRecord>> hosts() = 0;
  // Forgets a host; Conflict while desktops are placed on it.
  virtual Result<void> delete_host(std::string_view id) = 0;
};

// The cluster's PKI: its CA, join tokens and the hosts' certificates.
class ClusterStore {
 public:
  virtual ~ClusterStore() = default;
  // Keeps `candidate` as the cluster CA unless there is one; returns the one
  // kept (the first of controllers starting together wins).
  virtual Result<ClusterCaRecord> keep_cluster_ca(const ClusterCaRecord& candidate) = 0;
  virtual Result<void> insert_join_token(const JoinTokenRecord& token) = 0;
  // Marks the token used by `host_name`: once, before it expires. NotFound
  // for a token unknown, used or expired (one answer for all three).
  virtual Result<void> use_join_token(std::string_view token_hash, std::string_view host_name, WallTime now) = 0;
  virtual Result<void> insert_host_certificate(const HostCertificateRecord& certificate) = 0;
  virtual Result<HostCertificateRecord> host_certificate(std::string_view fingerprint) = 0;
  // Revokes every certificate of the host (it was removed).
  virtual Result<void> revoke_host_certificates(std::string_view host_name, WallTime now) = 0;
};

class ImageStore {
 public:
  virtual ~ImageStore() = default;
  virtual Result<void> insert_image(const ImageRecord& image) = 0;
  // The import's progress: all but the name and the sharing. NotFound if gone.
  virtual Result<void> update_image(const ImageRecord& image) = 0;
  // The administrator's settings, name and sharing, only. NotFound if gone.
  virtual Result<void> update_image_settings(const ImageRecord& image) = 0;
  virtual Result<ImageRecord> image(std::string_view id) = 0;
  virtual Result<std::vector<ImageRecord>> images() = 0;
  // Deletes the image unless a desktop uses it (Conflict naming how many do).
  virtual Result<void> delete_unused_image(std::string_view id) = 0;
};

struct DesktopFilter {
  std::string pool_id;        // empty: any
  std::string host_id;        // empty: any
  std::string tenant_id;      // empty: any
  std::string assigned_user;  // empty: any
};

// What the desktops meant to run on a host add up to.
struct HostAllocation {
  std::string host_id;
  int64_t vcpus = 0;
  int64_t memory_mb = 0;
};

class DesktopStore {
 public:
  virtual ~DesktopStore() = default;
  virtual Result<void> insert_desktop(const DesktopRecord& desktop) = 0;  // Conflict on duplicate name
  // Compare-and-swap on `version`: succeeds only if the stored version equals
  // desktop.version, then stores version + 1 and returns the new record.
  // A concurrent change gives Conflict; re-read and decide again.
  virtual Result<DesktopRecord> update_desktop(const DesktopRecord& desktop) = 0;
  virtual Result<DesktopRecord> desktop(std::string_view id) = 0;
  virtual Result<std::vector<DesktopRecord>> desktops(const DesktopFilter& filter) = 0;
  virtual Result<void> delete_desktop(std::string_view id, int64_t version) = 0;  // CAS like update
  virtual Result<std::vector<HostAllocation>> host_allocations() = 0;             // desktops with desired = running
  virtual Result<TenantAllocation> tenant_allocation(std::string_view tenant_id) = 0;
};

class PoolStore {
 public:
  virtual ~PoolStore() = default;
  virtual Result<void> insert_pool(const PoolRecord& pool) = 0;        // Conflict on a duplicate name in the tenant
  virtual Result<PoolRecord> update_pool(const PoolRecord& pool) = 0;  // compare-and-swap on version
  virtual Result<PoolRecord> pool(std::string_view id) = 0;
  virtual Result<std::vector<PoolRecord>> pools(std::string_view tenant_id) = 0;  // empty: all
  virtual Result<void> delete_pool(std::string_view id) = 0;                      // with its entitlements
  virtual Result<void> add_entitlement(std::string_view pool_id, std::string_view user_id) = 0;  // idempotent
  virtual Result<void> remove_entitlement(std::string_view pool_id, std::string_view user_id) = 0;
  virtual Result<std::vector<UserRecord>> entitled_users(std::string_view pool_id) = 0;
  virtual Result<std::vector<std::string>> entitled_pool_ids(std::string_view user_id) = 0;
};

struct SessionFilter {
  std::string tenant_id;  // empty: any
  std::string user_id;
  std::string pool_id;
  std::string desktop_id;
  bool include_ended = false;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // In one transaction: compare-and-swap `desktop` (its assignment), insert
  // the session, its first ticket and its open usage interval. Conflict if
  // the desktop changed or already has an open session, or the user already
  // has an open session in the pool: nothing is written then.
  virtual Result<DesktopRecord> open_session(const SessionRecord& session, const DesktopRecord& desktop,
                                             const TicketRecord& ticket) = 0;
  // In one transaction: mark the session ended at `ended_at`, close its usage
  // interval and, if given, compare-and-swap the desktop. Conflict if the
  // session had already ended or the desktop changed.
  virtual Result<void> end_session(std::string_view session_id, WallTime ended_at, const DesktopRecord* desktop) = 0;
  virtual Result<void> update_session(const SessionRecord& session) = 0;  // state, last_activity_at
  virtual Result<SessionRecord> session(std::string_view id) = 0;
  virtual Result<std::vector<SessionRecord>> sessions(const SessionFilter& filter) = 0;
  virtual Result<void> insert_ticket(const TicketRecord& ticket) = 0;
  // Marks the ticket used and returns it, once: NotFound if unknown, expired
  // at `now` or already used (one answer for all three).
  virtual Result<TicketRecord> redeem_ticket(std::string_view ticket_hash, WallTime now) = 0;
  virtual Result<void> delete_expired_tickets(WallTime now) = 0;
};

struct AuditFilter {
  std::optional<std::string> tenant_id;  // nullopt: any (admin); "" is the events of no tenant
  std::string user_id;
  std::string action;
  std::optional<WallTime> since;  // inclusive
  std::optional<WallTime> until;  // exclusive
  int64_t before_seq = 0;         // 0: from the newest
  int64_t limit = 100;
};

// The append-only audit log and the usage meter.
class AuditStore {
 public:
  virtual ~AuditStore() = default;
  virtual Result<void> append_audit(const AuditEvent& event) = 0;
  virtual Result<std::vector<AuditEvent>> audit_events(const AuditFilter& filter) = 0;  // newest first
  // One tenant's ("" the platform's) events before `before`, oldest first.
  virtual Result<std::vector<AuditEvent>> oldest_audit_events(std::string_view tenant_id, WallTime before,
                                                              int64_t limit) = 0;
  // In one transaction: records the archive and deletes its events; returns
  // how many went. The database refuses (the whole transaction) if an
  // event is under its tenant's legal hold.
  virtual Result<int64_t> prune_audit(const AuditArchive& archive) = 0;
  // Newest first; nullopt: every tenant's and the platform's.
  virtual Result<std::vector<AuditArchive>> audit_archives(const std::optional<std::string>& tenant_id) = 0;
  // Opens an interval unless one is open for (kind, subject_id).
  virtual Result<void> open_usage(const UsageInterval& interval) = 0;
  virtual Result<void> close_usage(std::string_view kind, std::string_view subject_id, WallTime end) = 0;
  virtual Result<std::vector<UsageInterval>> open_usage(std::string_view kind) = 0;
  // Intervals overlapping [from, to), open ones included; tenant empty: all.
  virtual Result<std::vector<UsageInterval>> usage(WallTime from, WallTime to, std::string_view tenant_id) = 0;
};

class Store : public UserStore,
              public TenantStore,
              public HostStore,
              public ClusterStore,
              public ImageStore,
              public DesktopStore,
              public PoolStore,
              public SessionStore,
              public AuditStore {
 public:
  virtual int schema_version() = 0;

  // Leadership among the controllers that share this store: one of them
  // runs the control loops. True while this process holds it, taking it
  // when it is free; false while another process holds it, or when the
  // holder's connection failed (the lock went with it). Called about once a
  // second. SQLite: always true (one orield per database file). PostgreSQL:
  // a session advisory lock on a connection of its own, checked on each call.
  virtual bool hold_leadership() = 0;
  // Gives leadership up at once (a controller shutting down).
  virtual void release_leadership() = 0;
};

// Opens (creating if needed) a SQLite store at path and brings its schema up
// to date. WAL journal; safe against a crash at any point.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

// Opens a store on a PostgreSQL database and brings its schema up to date
// (the same migrations as SQLite; controllers starting together take turns).
// `conninfo` is a libpq connection string, "host=db1 dbname=oriel user=oriel"
// or "postgresql://oriel@db1/oriel"; a connect timeout and TCP keepalives are
// added where it names none. Calls run on a small pool of connections; one
// lost (the server restarted) is replaced on a later call, and a call while
// the server is unreachable fails with Unavailable. Unavailable too if it
// cannot connect now; InvalidArgument for a malformed `conninfo`.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& conninfo);

// The schema version this build writes (its number of migrations).
int latest_schema_version();

// Backups of a SQLite store (orield backup/restore).
struct DatabaseCopy {
  int schema_version = 0;
  uint64_t bytes = 0;
  std::string images_json;  // the golden-image catalogue: [{"id","name","path","state"}]
};
// Copies the database at `from`, in use or not, to a new file `to` with
// SQLite's online backup API: one consistent moment of it, while its orield
// goes on reading and writing. NotFound when there is no database.
Result<DatabaseCopy> backup_sqlite_database(const std::string& from, const std::string& to);
// Checks a copy (SQLite's quick_check, and that it is Oriel's) and says its
// schema version. InvalidArgument for a damaged or foreign file.
Result<DatabaseCopy> inspect_sqlite_database(const std::string& path);
// Points the golden images under `from_dir` at the same files under
// `to_dir` (a restore into another data directory). Returns how many moved.
Result<int64_t> rebase_sqlite_image_paths(const std::string& path, const std::string& from_dir,
                                          const std::string& to_dir);

}  // namespace oriel::store
