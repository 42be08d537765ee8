#include "migrations.h"

#include <boost/asio/post.hpp>

#include <thread>

#include "desktop_state.h"
#include "oriel/common/log.h"
#include "oriel/common/metrics.h"
#include "oriel/common/mutex.h"
#include "reconciler.h"

namespace oriel::controller {

namespace {

// Live migrations by result, and the guest's pause in the completed ones.
void count_migration(const std::string& result, int64_t downtime_ms) {
  static auto& migrations = metrics::counter("oriel_migrations_total", "Live migrations, by result");
  static auto& downtime = metrics::histogram("oriel_migration_downtime_seconds",
                                             "How long the guest was paused in a completed live migration");
  migrations.Add({{"result", result}}).Increment();
  if (result == "completed") {
    downtime.Add({}, metrics::seconds_buckets()).Observe(static_cast<double>(downtime_ms) / 1000);
  }
}

constexpr auto kPollInterval = std::chrono::milliseconds(100);
// How long the target may take to report a completed migration as its own.
constexpr auto kFinishIncoming = std::chrono::seconds(10);

}  // namespace

struct Migrations::Active {
  store::DesktopRecord desktop;  // as it was when the migration started
  std::string target;
  Mutex mu;
  MigrationView view ORIEL_GUARDED_BY(mu);
  bool cancel ORIEL_GUARDED_BY(mu) = false;
};

Migrations::Migrations(store::Store& store, Fleet& fleet, Clock& clock, MigrationHooks hooks,
                       agent::MigrationOptions options, size_t parallel)
    : store_(store),
      fleet_(fleet),
      clock_(clock),
      hooks_(std::move(hooks)),
      options_(options),
      pool_(std::max<size_t>(1, parallel)) {}

Migrations::~Migrations() { stop(); }

void Migrations::start(const store::DesktopRecord& d) {
  auto m = std::make_shared<Active>();
  m->desktop = d;
  m->target = migration_target(d).value_or("");
  {
    MutexLock lock(m->mu);  // not shared yet, but the view is m->mu's
    m->view.source_host = d.host_id;
    m->view.target_host = m->target;
    m->view.active = true;
    m->view.started_at = clock_.now();
  }
  {
    MutexLock lock(mu_);
    if (stopping_ || active_.count(d.id)) return;
    active_[d.id] = m;
  }
  boost::asio::post(pool_, [this, m] { run(m); });
}

bool Migrations::active(const std::string& desktop_id) {
  MutexLock lock(mu_);
  return active_.count(desktop_id) > 0;
}

std::map<std::string, std::pair<int64_t, int64_t>> Migrations::reserved() {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  MutexLock lock(mu_);
  for (const auto& [id, m] : active_) {
    auto& r = out[m->target];
    r.first += m->desktop.vcpus;
    r.second += m->desktop.memory_mb;
  }
  return out;
}

Result<void> Migrations::cancel(const std::string& desktop_id) {
  MutexLock lock(mu_);
  auto it = active_.find(desktop_id);
  if (it == active_.end()) return Error::NotFound("migration of desktop", desktop_id);
  MutexLock mlock(it->second->mu);
  it->second->cancel = true;
  return Ok();
}

std::optional<MigrationView> Migrations::view(const std::string& desktop_id) {
  MutexLock lock(mu_);
  if (auto it = active_.find(desktop_id); it != active_.end()) {
    MutexLock mlock(it->second->mu);
    return it->second->view;
  }
  if (auto it = last_.find(desktop_id); it != last_.end()) return it->second;
  return std::nullopt;
}

void Migrations::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  pool_.join();
}

std::string Migrations::listen_host(const std::string& host_id) {
  // The target listens where the source reaches it: its agent's address.
  std::string url = fleet_.address(host_id);
  if (url.empty()) return "127.0.0.1";  // the embedded agent: one machine
  auto start = url.find("://");
  std::string hostport = start == std::string::npos ? url : url.substr(start + 3);
  if (!hostport.empty() && hostport[0] == '[') return hostport.substr(1, hostport.find(']') - 1);
  return hostport.substr(0, hostport.rfind(':'));
}

void Migrations::run(std::shared_ptr<Active> m) {
  const store::DesktopRecord& d = m->desktop;
  auto source = fleet_.agent(d.host_id);
  auto target = fleet_.agent(m->target);
  auto give_up = [&](const std::string& why) {
    agent::MigrationProgress p;
    p.state = agent::MigrationState::kFailed;
    p.error = why;
    finish(m, p, true);
  };
  if (!source || !target || m->target == d.host_id) {
    return give_up(fmt::format("host '{}' cannot be reached", !source ? d.host_id : m->target));
  }
  auto spec = vm_spec_for(store_, d, *target);
  if (!spec.ok()) return give_up(spec.error().message());
  agent::IncomingRequest request;
  request.spec = std::move(*spec);
  bool shared = source->disk_path(d.id) == target->disk_path(d.id);
  request.storage = shared ? agent::MigrationStorage::kShared : agent::MigrationStorage::kCopy;
  if (!shared) {
    auto golden = golden_path_of(store_, d);
    if (!golden.ok()) return give_up(golden.error().message());
    request.golden_path = *golden;
  }
  request.listen_host = listen_host(m->target);
  spdlog::info("desktop {}: migrating from host {} to host {} ({} storage)", d.id, d.host_id, m->target,
               agent::migration_storage_name(request.storage));
  auto where = target->prepare_incoming(request);
  if (!where.ok()) return give_up("the target host could not prepare: " + where.error().message());
  if (auto sent = source->migrate(d.id, *where, options_); !sent.ok()) {
    (void)target->abort_incoming(d.id);
    return give_up(sent.error().message());
  }
  bool cancel_sent = false;
  agent::MigrationProgress p;
  for (;;) {
    auto now = source->migration_progress(d.id);
    if (now.ok()) p = *now;
    bool cancel = false;
    {
      MutexLock lock(m->mu);
      if (now.ok()) m->view.progress = p;
      cancel = m->cancel;
    }
    if (now.ok() && agent::is_final(p.state)) break;
    {
      MutexLock lock(mu_);
      if (stopping_) return;  // the agents finish it; settle() after a restart
    }
    if (cancel && !cancel_sent) {
      cancel_sent = true;
      spdlog::info("desktop {}: cancelling its migration", d.id);
      if (auto r = source->cancel_migration(d.id); !r.ok()) {
        spdlog::warn("desktop {}: cancel: {}", d.id, r.error().message());
      }
      continue;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  finish(m, p, shared);
}

void Migrations::finish(const std::shared_ptr<Active>& m, const agent::MigrationProgress& p, bool shared) {
  const store::DesktopRecord& d = m->desktop;
  bool moved = p.state == agent::MigrationState::kCompleted;
  if (moved) {
    // The source has let go; the record moves once the target says the VM
    // runs there. Moved before, a reconciler could look at the target's
    // last heartbeat, not find the VM in it, and restart it as crashed.
    auto target = fleet_.agent(m->target);
    Result<void> there = target ? target->finish_incoming(d.id, kFinishIncoming)
                                : Result<void>(Error::Unavailable("its agent is not connected"));
    if (!there.ok()) {
      spdlog::warn("desktop {}: host {} did not confirm it runs the desktop: {}", d.id, m->target,
                   there.error().message());
    }
    spdlog::info("desktop {}: runs on host {} now (downtime {} ms, total {} ms)", d.id, m->target, p.downtime_ms,
                 p.total_time_ms);
    count_migration("completed", p.downtime_ms);
    record(d.id, m->target, "");
    if (!shared) {
      if (auto source = fleet_.agent(d.host_id)) (void)source->delete_disk(d.id);
    }
    if (hooks_.moved) hooks_.moved(d.id, m->target);
  } else {
    if (auto target = fleet_.agent(m->target)) (void)target->abort_incoming(d.id);
    std::string why = p.state == agent::MigrationState::kCancelled
                          ? "cancelled"
                          : (p.error.empty() ? std::string("migration failed") : p.error);
    spdlog::warn("desktop {}: stays on host {}: migration to host {} {}", d.id, d.host_id, m->target, why);
    count_migration(p.state == agent::MigrationState::kCancelled ? "cancelled" : "failed", 0);
    record(d.id, d.host_id,
           p.state == agent::MigrationState::kCancelled
               ? std::string()
               : fmt::format("live migration to host {} failed, the desktop stays where it was: {}", m->target, why));
  }
  {
    MutexLock lock(mu_);
    MigrationView view;
    {
      MutexLock mlock(m->mu);
      m->view.active = false;
      m->view.progress = p;
      view = m->view;
    }
    last_[d.id] = view;
    active_.erase(d.id);
  }
  if (hooks_.ended) hooks_.ended();
}

void Migrations::record(const std::string& desktop_id, const std::string& host_id, const std::string& error) {
  // Retried: another writer (a session, a pool change) may bump the version.
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto d = store_.desktop(desktop_id);
    if (!d.ok()) return;
    if (d->state != state_name(DesktopState::kMigrating)) return;
    d->host_id = host_id;
    d->state = std::string(state_name(DesktopState::kRunning));
    d->pending_op.clear();
    d->error = error;
    d->updated_at = clock_.now();
    auto written = store_.update_desktop(*d);
    if (written.ok() || written.error().code() != ErrorCode::kConflict) return;
  }
}

Result<void> Migrations::settle(const store::DesktopRecord& d) {
  if (active(d.id)) {
    // A thread here follows it; a cancel asked for on any controller reaches it here.
    if (migration_cancel_asked(d)) (void)cancel(d.id);
    return Error::Conflict("a migration is under way");
  }
  auto target_id = migration_target(d);
  auto source = fleet_.agent(d.host_id);
  auto target = target_id ? fleet_.agent(*target_id) : nullptr;
  if (target && target->vm_status(d.id) != agent::VmStatus::kAbsent) {
    spdlog::info("desktop {}: its migration completed while no controller watched: host {}", d.id, *target_id);
    record(d.id, *target_id, "");
    if (hooks_.moved) hooks_.moved(d.id, *target_id);
    return Ok();
  }
  if (source) {
    auto p = source->migration_progress(d.id);
    if (p.ok() && !agent::is_final(p->state)) return Error::Conflict("the source still migrates");  // look again later
  }
  if (target) (void)target->abort_incoming(d.id);
  spdlog::info("desktop {}: its migration did not complete; it stays on host {}", d.id, d.host_id);
  // Running on the source, or gone: "running" either way; the reconciler
  // starts it again if the VM is not there.
  record(d.id, d.host_id, "");
  return Ok();
}

}  // namespace oriel::controller
