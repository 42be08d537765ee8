// The controller: the single source of truth. It validates commands, writes
// the desired state to the store, and answers at once; its reconciler and
// image importer then drive the hosts towards that state. Every step is
// written before it is acted on, so a crash at any point converges after a
// restart. All public methods are thread-safe (the API calls them from its
// worker threads).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "oriel/agent/agent_wire.h"
#include "oriel/agent/host_agent.h"
#include "oriel/common/clock.h"
#include "oriel/common/random.h"
#include "oriel/controller/broker.h"
#include "oriel/store/store.h"

namespace oriel::controller {

struct ControllerOptions {
  std::string data_dir;                                   // images/ lives here
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(30)};  // ACPI, then hard stop
  std::chrono::milliseconds reconcile_interval{std::chrono::seconds(1)};
  std::chrono::hours token_ttl{12};
  std::chrono::seconds ticket_ttl{60};  // display tickets
  double cpu_overcommit = 4.0;     // vCPUs per host CPU
  double memory_overcommit = 1.0;  // guest memory per host memory
  std::string placement = "spread";  // spread | pack
  size_t reconcile_workers = 4;    // desktops worked on at once
  // Failed logins: after login_delay_after consecutive failures an account
  // takes an attempt only once 1 s (doubling per failure) has passed; after
  // login_lock_after it is locked for login_lock.
  int login_delay_after = 3;
  int login_lock_after = 10;
  std::chrono::seconds login_lock{15 * 60};
  // The fleet (docs/cluster.md). With a cluster token, agents on other hosts
  // join by heartbeat; without one, the embedded host is the only host.
  std::string cluster_token;
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
};

// What a heartbeat gets back: the host's id and its lease.
struct HeartbeatAnswer {
  std::string host_id;
  std::chrono::milliseconds lease;
};

struct Principal {
  std::string user_id;
  std::string username;
  std::string role;       // admin | tenant-admin | user
  std::string tenant_id;
  bool admin() const { return role == "admin"; }
  bool tenant_admin() const { return role == "tenant-admin"; }
};

struct LoginResult {
  std::string token;
  WallTime expires_at;
};

// Commands: what an API request means once parsed. Preconditions are checked
// by the controller against the store, not by the parser.
struct CreateImage {
  std::string name;
  std::string source_path;      // a regular file on the controller's machine
  std::string format = "auto";  // auto | qcow2 | raw | vpc | vhdx
  agent::BootSpec boot;
};

struct CreateDesktop {
  std::string name;
  std::string image_id;  // must be ready
  int vcpus = 1;
  int memory_mb = 1024;
  bool start = true;
};

enum class DesktopAction {
  kStart,   // any state but deleting; clears a failure
  kStop,    // ACPI shutdown, hard stop after the timeout
  kReboot,  // only while running: hard reset, disk kept
  kReset,   // back to the golden image: discards the overlay; restarts if it was to run
};

// The contract's desktop state (provisioning, stopped, starting, running,
// migrating, stopping, failed, deleting) for a stored internal state.
std::string_view public_state_name(std::string_view internal_state);
// The same for a desktop: "migrating" too while a migration is asked for but not under way.
std::string_view public_state_name(const store::DesktopRecord& desktop);

// A desktop's live migration, as the API shows it (the active one, or the last).
struct MigrationView {
  std::string source_host;
  std::string target_host;
  bool active = false;
  agent::MigrationProgress progress;
  WallTime started_at;
};

enum class HostAction {
  kMaintenance,  // no new desktops; running ones migrate away, stopped ones move (shared storage)
  kActivate,     // ready again
};

struct HostView {
  store::HostRecord host;
  int64_t cpus_allocated = 0;       // vCPUs of desktops meant to run there
  int64_t memory_allocated_mb = 0;
  int64_t desktops = 0;
};

class Reconciler;
class Migrations;
class ImageImporter;
class Fleet;
class Scheduler;
class Ticker;
struct HostLoad;

class Controller {
 public:
  Controller(store::Store& store, agent::HostAgent& agent, Clock& clock, Random& random, ControllerOptions options);
  ~Controller();

  // Registers the embedded host and makes sure the admin exists with this
  // password (created, or its password updated when given).
  Result<void> bootstrap(std::string_view admin_password);
  // Starts the importer and, while this controller leads (Store::
  // hold_leadership: always with SQLite), the reconcilers and the broker's
  // loop. Every controller serves the API.
  void start();
  void stop();   // stops them; running desktops keep running
  bool leading() const { return leading_; }

  Result<LoginResult> login(std::string_view username, std::string_view password);
  Result<void> logout(std::string_view token);
  Result<Principal> authenticate(std::string_view token);

  // Every method taking a Principal enforces its role: an object of another
  // tenant is NotFound, exactly as if it did not exist; an action the role
  // may never take is PermissionDenied.
  Result<std::vector<HostView>> hosts(const Principal& who);
  // An agent's heartbeat (authenticated by the cluster token): registers
  // its host on first sight, records that it is alive, and grants its lease.
  Result<HeartbeatAnswer> heartbeat(std::string_view cluster_token, const agent::AgentHello& hello);
  // Maintenance drains the host by live migration (admins only).
  Result<HostView> host_action(const Principal& who, std::string_view id, HostAction action);

  Result<store::ImageRecord> create_image(const Principal& who, CreateImage cmd);
  Result<store::ImageRecord> image(const Principal& who, std::string_view id);
  Result<std::vector<store::ImageRecord>> images(const Principal& who);
  Result<void> delete_image(const Principal& who, std::string_view id);

  Result<store::DesktopRecord> create_desktop(const Principal& who, CreateDesktop cmd);
  Result<store::DesktopRecord> desktop(const Principal& who, std::string_view id);
  Result<std::vector<store::DesktopRecord>> desktops(const Principal& who, store::DesktopFilter filter);
  Result<store::DesktopRecord> desktop_action(const Principal& who, std::string_view id, DesktopAction action);
  Result<store::DesktopRecord> delete_desktop(const Principal& who, std::string_view id);
  Result<std::string> screenshot_png(const Principal& who, std::string_view desktop_id);
  // Live migration of a running desktop (admins only) to `host_id`, or to
  // the host the scheduler picks when it is empty. Returns once it is under
  // way (state migrating); the outcome shows in the desktop and migration().
  Result<store::DesktopRecord> migrate_desktop(const Principal& who, std::string_view id, std::string_view host_id);
  Result<store::DesktopRecord> cancel_migration(const Principal& who, std::string_view id);
  std::optional<MigrationView> migration(std::string_view desktop_id);
  // Told when a desktop's guest runs on another host (a live migration, or
  // a restart elsewhere after its host failed), with that host's agent URL
  // (empty: this process's agent). Set before start().
  using MoveListener = std::function<void(const std::string& desktop_id, const std::string& agent_url)>;
  void set_move_listener(MoveListener listener) { move_listener_ = std::move(listener); }

  // Tenants and users (tenants.cc).
  Result<store::TenantRecord> create_tenant(const Principal& who, std::string name);
  Result<std::vector<store::TenantRecord>> tenants(const Principal& who);
  Result<store::TenantRecord> tenant(const Principal& who, std::string_view id);
  Result<void> delete_tenant(const Principal& who, std::string_view id);
  Result<store::UserRecord> create_user(const Principal& who, CreateUser cmd);
  Result<std::vector<store::UserRecord>> users(const Principal& who, std::string_view tenant_id);
  Result<store::UserRecord> user(const Principal& who, std::string_view id);
  Result<store::UserRecord> update_user(const Principal& who, std::string_view id, UpdateUser cmd);
  Result<void> delete_user(const Principal& who, std::string_view id);

  // Pools and entitlements (pools.cc). A pool converges in the background.
  Result<PoolView> create_pool(const Principal& who, CreatePool cmd);
  Result<std::vector<PoolView>> pools(const Principal& who, std::string_view tenant_id);
  Result<PoolView> pool(const Principal& who, std::string_view id);
  Result<PoolView> update_pool(const Principal& who, std::string_view id, UpdatePool cmd);
  Result<PoolView> delete_pool(const Principal& who, std::string_view id);  // Conflict while sessions are open
  Result<store::UserRecord> entitle(const Principal& who, std::string_view pool_id, std::string_view user_id);
  Result<void> unentitle(const Principal& who, std::string_view pool_id, std::string_view user_id);
  Result<std::vector<store::UserRecord>> entitlements(const Principal& who, std::string_view pool_id);

  // Sessions (sessions.cc). logon assigns a desktop and issues a display
  // ticket, or gives back the caller's open session in that pool.
  Result<SessionView> logon(const Principal& who, std::string_view pool_id, std::string_view client_address);
  Result<std::vector<SessionView>> sessions(const Principal& who, store::SessionFilter filter);
  Result<SessionView> session(const Principal& who, std::string_view id);
  Result<SessionView> new_ticket(const Principal& who, std::string_view session_id);
  Result<SessionView> disconnect(const Principal& who, std::string_view session_id);
  Result<SessionView> logoff(const Principal& who, std::string_view session_id);
  // For the display gateway: redeems a ticket once (NotFound if unknown,
  // expired or used) and marks the session connected.
  Result<TicketGrant> redeem_ticket(std::string_view ticket);
  Result<void> session_activity(std::string_view session_id);
  // The session's browser went away: a connected session is disconnected.
  Result<void> display_closed(std::string_view session_id);
  // Told when a session's display must close (logoff, disconnect, idle
  // timeout). Set before start(); called on the thread that ended it.
  void set_session_listener(SessionListener listener) { session_listener_ = std::move(listener); }

  // Audit and usage (audit.cc). Events are appended by the API layer, which
  // sees every request; `event.at` is set here.
  void audit(store::AuditEvent event);
  Result<std::vector<store::AuditEvent>> audit_events(const Principal& who, store::AuditFilter filter);
  Result<UsageReport> usage(const Principal& who, const UsageQuery& query);

  // One pass of the broker's loop, normally run in the background: pools to
  // their targets, usage meter, idle sessions, expired tickets.
  void reconcile_broker();

 private:
  Result<void> require_admin(const Principal& who);
  WallTime next_login_allowed(const store::UserRecord& user) const;
  Result<store::DesktopRecord> change_desktop(std::string_view id,
                                              const std::function<Result<void>(store::DesktopRecord&)>& change);
  // Placement (desktops.cc); callers hold placement_mu_.
  Result<std::vector<HostLoad>> host_loads();
  Result<void> check_room_to_run(const store::DesktopRecord& d);
  // A host for a new desktop: with room to run it now if it is to run, else
  // any ready host it could ever run on.
  Result<std::string> place(const store::DesktopRecord& d);
  Result<store::DesktopRecord> visible_desktop(const Principal& who, std::string_view id);
  // A host for a desktop whose host is down, or the reason there is none.
  Result<std::string> relocate(const store::DesktopRecord& d);
  // Declares down the remote hosts whose lease and grace have run out, and
  // drains those in maintenance.
  void watch_hosts();
  void drain(const store::HostRecord& host);
  // Takes or keeps leadership (the store's lock), starting or stopping the loops.
  void lead();
  // Records that `d` (running) is to migrate to `target` (empty: the
  // scheduler's choice); callers hold placement_mu_. The leader's
  // reconciler then calls begin_migration.
  Result<store::DesktopRecord> start_migration(store::DesktopRecord d, std::string target);
  Result<void> begin_migration(store::DesktopRecord d);

  // Access (access.cc).
  Result<store::TenantRecord> visible_tenant(const Principal& who, std::string_view id);
  Result<store::UserRecord> visible_user(const Principal& who, std::string_view id);
  Result<store::PoolRecord> visible_pool(const Principal& who, std::string_view id);
  Result<store::PoolRecord> managed_pool(const Principal& who, std::string_view id);
  Result<store::SessionRecord> visible_session(const Principal& who, std::string_view id);
  Result<PoolView> pool_view(store::PoolRecord pool);
  Result<SessionView> session_view(store::SessionRecord session, std::optional<DisplayTicket> ticket = {});
  // A user's name, looked up once per request for lists and reports.
  using UsernameCache = std::map<std::string, std::string>;
  const std::string& username_of(const std::string& user_id, UsernameCache& known);

  // The broker's internals (pools.cc, sessions.cc, metering.cc).
  Result<store::DesktopRecord> new_pool_desktop(store::PoolRecord& pool, bool run);
  Result<void> reconcile_pool(std::string_view pool_id);
  Result<PoolView> change_pool(const Principal& who, std::string_view id,
                               const std::function<Result<void>(store::PoolRecord&)>& change);
  Result<void> check_pool_image(const store::PoolRecord& pool);
  Result<DisplayTicket> issue_ticket(const store::SessionRecord& session);
  // One attempt at a logon: (session, whether it is new). A new session is
  // stored with `ticket`; a reconnect leaves the ticket to the caller.
  // Conflict: a race, retry.
  Result<std::pair<store::SessionRecord, bool>> try_logon(const Principal& who, std::string_view pool_id,
                                                          std::string_view client_address,
                                                          const DisplayTicket& ticket);
  void meter_usage(const std::vector<store::DesktopRecord>& desktops);
  void session_ended(const std::string& session_id, SessionEnd why) {
    if (session_listener_) session_listener_(session_id, why);
  }
  void expire_idle_sessions(const std::vector<store::SessionRecord>& open_sessions,
                            const std::vector<store::DesktopRecord>& desktops,
                            const std::vector<store::PoolRecord>& pools);

  store::Store& store_;
  agent::HostAgent& agent_;
  Clock& clock_;
  Random& random_;
  ControllerOptions options_;
  std::string host_id_;
  std::unique_ptr<Fleet> fleet_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<Migrations> migrations_;
  std::unique_ptr<Ticker> leadership_;
  std::atomic<bool> leading_ = false;
  MoveListener move_listener_;
  std::unique_ptr<ImageImporter> importer_;
  std::unique_ptr<Ticker> broker_loop_;
  SessionListener session_listener_;
  // Serializes decisions that spend host capacity, so two of them never see
  // the same room. Logons and the pool loop also hold their pool's lock
  // (taken first), so two of them never pick the same free desktop; logons to
  // different pools run side by side. The store's compare-and-swap and unique
  // indexes guard the same rules across processes.
  std::mutex placement_mu_;
  std::mutex& pool_lock(std::string_view pool_id);
  std::mutex pool_locks_mu_;
  std::map<std::string, std::unique_ptr<std::mutex>, std::less<>> pool_locks_;  // GUARDED_BY(pool_locks_mu_)
};

}  // namespace oriel::controller
