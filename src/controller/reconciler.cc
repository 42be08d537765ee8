#include "reconciler.h"

#include <boost/asio/post.hpp>

#include <algorithm>

#include "oriel/common/log.h"
#include "oriel/common/log_context.h"
#include "oriel/common/metrics.h"

namespace oriel::controller {

Reconciler::Reconciler(store::Store& store, Fleet& fleet, Clock& clock, ReconcilerOptions options)
    : store_(store),
      fleet_(fleet),
      clock_(clock),
      options_(std::move(options)),
      ticker_([this] { scan(); }, options_.interval, std::chrono::milliseconds(25)) {}

Reconciler::~Reconciler() { stop(); }

void Reconciler::start() {
  {
    MutexLock lock(mu_);
    stopping_ = false;
  }
  pool_ = std::make_unique<boost::asio::thread_pool>(options_.workers);
  ticker_.start();
}

void Reconciler::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  ticker_.stop();
  if (pool_) pool_->join();
  pool_.reset();
}

void Reconciler::poke() { ticker_.poke(); }

void Reconciler::poke_for(const std::string& desktop_id) {
  if (const auto& id = current_request_id(); !id.empty()) {
    MutexLock lock(mu_);
    origins_[desktop_id] = id;
  }
  poke();
}

void Reconciler::on_vm_exit(const std::string& vm_id, agent::VmExit why) {
  spdlog::info("desktop {}: QEMU exited ({})", vm_id, agent::vm_exit_name(why));
  {
    MutexLock lock(mu_);
    last_exit_[vm_id] = why;
  }
  poke();
}

Result<Reconciler::HostStates> Reconciler::host_states() {
  HostStates states;
  for (auto& h : TRY(store_.hosts())) states[h.id] = std::move(h.state);
  return states;
}

void Reconciler::scan() {
  static auto& queue = metrics::gauge("oriel_reconciler_queue", "Desktops with a step to take or in one");
  static auto& lag = metrics::gauge("oriel_reconciler_lag_seconds",
                                    "How long the longest-waiting desktop with a step to take has waited since its "
                                    "last change");
  auto all = store_.desktops({});
  auto hosts = host_states();
  if (!all.ok() || !hosts.ok()) {
    spdlog::warn("reconciler: cannot read the store: {}", (all.ok() ? hosts.error() : all.error()).message());
    return;
  }
  // Desktops in a session first: when a host fails, its users' desktops
  // come back before the spares do.
  std::stable_partition(all->begin(), all->end(), [](const auto& d) { return !d.assigned_user.empty(); });
  size_t pending = 0;
  auto now = clock_.now();
  WallTime oldest = now;
  for (const auto& d : *all) {
    {
      MutexLock lock(mu_);
      if (stopping_) continue;
      if (busy_.count(d.id)) {
        ++pending;
        continue;
      }
    }
    if (next_step(d, observe(d, *hosts)).kind == StepKind::kNone) {
      MutexLock lock(mu_);
      origins_.erase(d.id);  // done: later work on it is no longer that request's
      continue;
    }
    ++pending;
    oldest = std::min(oldest, d.updated_at);
    {
      MutexLock lock(mu_);
      busy_.insert(d.id);
    }
    boost::asio::post(*pool_, [this, id = d.id] { work(id); });
  }
  queue.Add({}).Set(static_cast<double>(pending));
  lag.Add({}).Set(std::chrono::duration<double>(now - oldest).count());
  sweep_strays(*all, *hosts);
}

Observation Reconciler::observe(const store::DesktopRecord& d, const HostStates& hosts) {
  Observation o;
  o.now_ms = to_unix_ms(clock_.now());
  auto host = hosts.find(d.host_id);
  auto agent = fleet_.agent(d.host_id);
  if (host != hosts.end() && host->second == "down") {
    o.host = HostHealth::kDown;
  } else if (!agent) {
    o.host = HostHealth::kUnknown;
    return o;
  }
  o.vm = agent && o.host == HostHealth::kUp ? agent->vm_status(d.id) : agent::VmStatus::kAbsent;
  MutexLock lock(mu_);
  if (auto it = last_exit_.find(d.id); it != last_exit_.end()) o.last_exit = it->second;
  return o;
}

void Reconciler::work(const std::string& desktop_id) {
  std::string origin;
  {
    MutexLock lock(mu_);
    if (auto it = origins_.find(desktop_id); it != origins_.end()) origin = it->second;
  }
  RequestIdScope scope(std::move(origin));
  bool progressed = false;
  // Re-read: the record may have changed since the scan.
  auto d = store_.desktop(desktop_id);
  auto hosts = host_states();
  if (d.ok() && hosts.ok()) {
    Observation o = observe(*d, *hosts);
    Step step = next_step(*d, o);
    if (step.kind != StepKind::kNone) {
      auto r = apply(*d, step, o.host);
      if (!r.ok() && r.error().code() != ErrorCode::kConflict) {
        spdlog::warn("desktop {}: {}", desktop_id, r.error().message());
      }
      progressed = r.ok();
    }
  }
  {
    MutexLock lock(mu_);
    busy_.erase(desktop_id);
  }
  if (progressed) poke();  // the next step can follow at once
}

void Reconciler::sweep_strays(const std::vector<store::DesktopRecord>& all, const HostStates& hosts) {
  std::map<std::string, const store::DesktopRecord*> by_id;
  for (const auto& d : all) by_id[d.id] = &d;
  for (const auto& [host_id, state] : hosts) {
    if (state == "down") continue;
    auto agent = fleet_.agent(host_id);
    if (!agent) continue;
    for (const auto& [vm_id, status] : agent->vms()) {
      auto it = by_id.find(vm_id);
      // A migrating desktop runs on its source and waits on its target.
      if (it != by_id.end() && (it->second->host_id == host_id || it->second->state == "migrating")) continue;
      {
        MutexLock lock(mu_);
        if (stopping_ || busy_.count(vm_id)) continue;
      }
      spdlog::warn("host {}: VM {} belongs to no desktop of this host; stopping it", host_id, vm_id);
      boost::asio::post(*pool_, [agent, id = vm_id] { (void)agent->kill_vm(id); });
    }
  }
}

Result<store::DesktopRecord> Reconciler::write(store::DesktopRecord d, std::string_view state) {
  d.state = std::string(state);
  d.updated_at = clock_.now();
  return store_.update_desktop(d);
}

Result<std::string> golden_path_of(store::ImageStore& images, const store::DesktopRecord& d) {
  auto image = TRY(images.image(d.image_id));
  if (image.state != "ready") return Error::Conflict(fmt::format("image '{}' is not ready", image.id));
  return image.path;
}

Result<agent::VmSpec> vm_spec_for(store::Store& store, const store::DesktopRecord& d, agent::HostAgent& agent) {
  auto image = TRY(store.image(d.image_id));
  agent::VmSpec spec;
  spec.id = d.id;
  spec.name = d.name;
  spec.vcpus = static_cast<int>(d.vcpus);
  spec.memory_mb = static_cast<int>(d.memory_mb);
  spec.disk_path = agent.disk_path(d.id);
  auto boot = parse_json(image.boot_json);
  if (boot.ok()) spec.boot = TRY(agent::BootSpec::from_json(*boot));
  // A pool's desktops are on its network; a standalone desktop is isolated.
  if (!d.pool_id.empty()) spec.network = TRY(agent::NetworkSpec::parse(TRY(store.pool(d.pool_id)).network));
  return spec;
}

}  // namespace oriel::controller
