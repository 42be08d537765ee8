// The Controller: builds the parts and what they share, and runs the
// control loops while it leads.
#include "oriel/controller/controller.h"

#include "auth.h"
#include "checks.h"
#include "cluster_pki.h"
#include "core.h"
#include "image_importer.h"
#include "loops.h"
#include "migrations.h"
#include "oriel/common/log.h"
#include "reconciler.h"
#include "ticker.h"

namespace oriel::controller {
namespace {

SchedulerOptions scheduler_options(const ControllerOptions& o) {
  auto policy = parse_placement_policy(o.placement);
  return {o.cpu_overcommit, o.memory_overcommit, policy.ok() ? *policy : PlacementPolicy::kSpread};
}

// The built-in admin is held to what every password must be (security probe
// #8) whenever its password is set; one it already has is kept.
Result<void> check_admin_password(std::string_view password) {
  auto rules = check_password(password, "admin");
  if (!rules.ok()) return rules.error().context("the admin password");
  return Ok();
}

}  // namespace

// A host keeps one id for its life: derived from its name.
std::string host_id_for(std::string_view host_name) { return "h-" + token_hash(host_name).substr(0, 16); }

Result<void> check_name(std::string_view what, const std::string& name) {
  if (name.empty() || name.size() > 200) {
    return Error::InvalidArgument(fmt::format("{} name must be 1 to 200 bytes", what));
  }
  if (name.find('\0') != std::string::npos) return Error::InvalidArgument(fmt::format("{} name has a NUL byte", what));
  return Ok();
}

Core::Core(store::Store& store, agent::HostAgent& agent, Clock& clock, Random& random, ControllerOptions options)
    : store(store),
      embedded_agent(agent),
      clock(clock),
      random(random),
      options(std::move(options)),
      fleet(random, this->options.cluster_token),
      placement(store, scheduler_options(this->options)) {}

Core::~Core() = default;

std::mutex& PoolLocks::of(std::string_view pool_id) {
  MutexLock lock(mu_);
  auto it = locks_.find(pool_id);
  if (it == locks_.end()) it = locks_.emplace(std::string(pool_id), std::make_unique<std::mutex>()).first;
  return *it->second;
}

Result<store::DesktopRecord> Core::change_desktop(std::string_view id,
                                                  const std::function<Result<void>(store::DesktopRecord&)>& change,
                                                  const Asker* asker) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto d = store.desktop(id);
    if (asker && (!d.ok() || !sees(asker->who, *d))) return Error::NotFound("desktop", id);
    if (!d.ok()) return d.take_error();
    if (asker && !asker->allowed.ok()) return asker->allowed.error();
    if (d->desired == "deleted") return Error::Conflict(fmt::format("desktop '{}' is being deleted", id));
    TRY(change(*d));
    d->updated_at = clock.now();
    auto updated = store.update_desktop(*d);
    if (updated.ok()) {
      poke_desktop(d->id);
      return updated;
    }
    if (updated.error().code() != ErrorCode::kConflict) return updated.take_error();
  }
  return Error::Conflict(fmt::format("desktop '{}' is changing too fast; try again", id));
}

void Core::poke_desktops() { reconciler->poke(); }
void Core::poke_desktop(const std::string& desktop_id) { reconciler->poke_for(desktop_id); }
void Core::poke_broker() { broker_loop->poke(); }

Controller::Controller(store::Store& store, agent::HostAgent& agent, Clock& clock, Random& random,
                       ControllerOptions options)
    : core_(std::make_unique<Core>(store, agent, clock, random, std::move(options))) {
  Core& core = *core_;
  const ControllerOptions& o = core.options;
  core.broker_loop = std::make_unique<Ticker>(
      [this] {
        watch_hosts(*core_);
        reconcile_broker();
      },
      o.reconcile_interval, std::chrono::milliseconds(25));
  core.leadership = std::make_unique<Ticker>([this] { lead(); }, o.leader_check_interval, o.leader_check_interval);
  core.reconciler = std::make_unique<Reconciler>(
      store, core.fleet, clock,
      ReconcilerOptions{o.shutdown_timeout, o.reconcile_interval, o.reconcile_workers,
                        [&core](const store::DesktopRecord& d) { return relocate(core, d); },
                        [&core](const store::DesktopRecord& d) { return begin_migration(core, d); },
                        [&core](const store::DesktopRecord& d) { return core.migrations->settle(d); }});
  MigrationHooks hooks;
  hooks.moved = [&core](const std::string& desktop_id, const std::string& host_id) {
    core.desktop_moved(desktop_id, host_id);
  };
  hooks.ended = [&core] { core.poke_desktops(); };
  core.migrations =
      std::make_unique<Migrations>(store, core.fleet, clock, std::move(hooks), o.migration, o.parallel_migrations);
  core.placement.set_reservations([&core] { return core.migrations->reserved(); });
  std::string images = (o.shared_dir.empty() ? o.data_dir : o.shared_dir) + "/images";
  core.importer = std::make_unique<ImageImporter>(store, agent, clock, images);
  core.fleet.set_exit_handler(
      [&core](const std::string& id, agent::VmExit why) { core.reconciler->on_vm_exit(id, why); });

  sessions_ = std::make_unique<Sessions>(core);
  identity_ = std::make_unique<Identity>(core, *sessions_);
  hosts_ = std::make_unique<Hosts>(core);
  images_ = std::make_unique<Images>(core);
  desktops_ = std::make_unique<Desktops>(core);
  pools_ = std::make_unique<Pools>(core);
  audit_ = std::make_unique<AuditLog>(core);
}

Controller::~Controller() { stop(); }

const ClusterCredentials& Controller::cluster() const { return core_->cluster; }

Result<void> Controller::bootstrap(std::string_view admin_password) {
  Core& core = *core_;
  auto report = core.embedded_agent.report();
  core.cluster = TRY(load_cluster_credentials(core, report.name));
  core.fleet.set_tls(core.cluster.agents);
  if (core.options.embedded_host) {
    core.host_id = host_id_for(report.name);
    store::HostRecord host{
        core.host_id, report.name,      "ready", std::string(agent::accelerator_name(report.accelerator)),
        report.cpus,  report.memory_mb, "",      core.clock.now()};
    if (auto old = core.store.host(core.host_id); old.ok()) host.state = old->state;
    TRY(core.store.upsert_host(host));
    core.fleet.add_local(core.host_id, core.embedded_agent);
  }

  auto admin = core.store.user_by_name("", "admin");
  if (admin.ok()) {
    if (!admin_password.empty() && !verify_password(admin->password_hash, admin_password)) {
      TRY(check_admin_password(admin_password));
      TRY(core.store.set_password_hash(admin->id, TRY(hash_password(admin_password))));
      spdlog::info("admin password updated from --admin-password");
    }
    // The break-glass way in: whoever starts orield with the admin's
    // password controls the machine, so a lock strangers caused with wrong
    // guesses (security probe #8) ends here.
    if (!admin_password.empty() && (admin->failed_logins > 0 || admin->locked_until > core.clock.now())) {
      TRY(clear_login_failures(core.store, *admin));
      spdlog::warn("admin: failed logins cleared and the account unlocked (its password was given at start)");
    }
    return Ok();
  }
  if (admin_password.empty()) {
    return Error::InvalidArgument("no admin user yet: start orield once with --admin-password");
  }
  TRY(check_admin_password(admin_password));
  store::UserRecord user{new_id(core.random, "u"), "admin", TRY(hash_password(admin_password)), "admin", "",
                         core.clock.now()};
  return core.store.insert_user(user);
}

void Controller::start() {
  core_->importer->start();
  lead();
  core_->leadership->start();
}

bool Controller::leading() const { return core_->leading; }

void Controller::lead() {
  Core& core = *core_;
  bool now = core.store.hold_leadership();
  if (now == core.leading) return;
  if (now) {
    spdlog::info("this controller leads: it runs the control loops");
    core.reconciler->start();
    core.broker_loop->start();
  } else {
    spdlog::warn("this controller no longer leads: another one runs the control loops");
    core.broker_loop->stop();
    core.reconciler->stop();
  }
  core.leading = now;
}

void Controller::stop() {
  Core& core = *core_;
  core.leadership->stop();
  core.broker_loop->stop();
  core.migrations->stop();
  core.reconciler->stop();
  core.importer->stop();
  if (core.leading.exchange(false)) core.store.release_leadership();
}

void Controller::set_move_listener(MoveListener listener) { core_->move_listener = std::move(listener); }
void Controller::set_session_listener(SessionListener listener) { core_->session_listener = std::move(listener); }

void Controller::reconcile_broker() {
  Core& core = *core_;
  auto pools = core.store.pools("");
  if (pools.ok()) {
    for (const auto& pool : *pools) {
      if (auto r = reconcile_pool(core, pool.id); !r.ok() && r.error().code() != ErrorCode::kNotFound) {
        spdlog::warn("pool {}: {}", pool.id, r.error().message());
      }
    }
  }
  // Sessions before desktops: a session opened in between is left for the
  // next pass, never taken for one whose desktop is gone.
  auto open = core.store.sessions({});
  auto desktops = core.store.desktops({});
  if (pools.ok() && open.ok() && desktops.ok()) expire_idle_sessions(core, *open, *desktops, *pools);
  if (desktops.ok()) meter_usage(core, *desktops);
  (void)core.store.delete_expired_tickets(core.clock.now());
  archive_audit(core);
}

}  // namespace oriel::controller
