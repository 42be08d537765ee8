#include "reconciler.h"

#include <boost/asio/post.hpp>

#include "oriel/common/log.h"

namespace oriel::controller {

Reconciler::Reconciler(store::Store& store, agent::HostAgent& agent, Clock& clock, ReconcilerOptions options)
    : store_(store),
      agent_(agent),
      clock_(clock),
      options_(options),
      ticker_([this] { scan(); }, options.interval, std::chrono::milliseconds(25)) {}

Reconciler::~Reconciler() { stop(); }

void Reconciler::start() {
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  pool_ = std::make_unique<boost::asio::thread_pool>(options_.workers);
  ticker_.start();
}

void Reconciler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  ticker_.stop();
  if (pool_) pool_->join();
  pool_.reset();
}

void Reconciler::poke() { ticker_.poke(); }

void Reconciler::on_vm_exit(const std::string& vm_id, agent::VmExit why) {
  spdlog::info("desktop {}: QEMU exited ({})", vm_id, agent::vm_exit_name(why));
  {
    std::lock_guard lock(mu_);
    last_exit_[vm_id] = why;
  }
  poke();
}

void Reconciler::scan() {
  auto all = store_.desktops({});
  if (!all.ok()) {
    spdlog::warn("reconciler: cannot list desktops: {}", all.error().message());
    return;
  }
  for (const auto& d : *all) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || busy_.count(d.id)) continue;
    }
    if (next_step(d, observe(d.id)).kind == StepKind::kNone) continue;
    {
      std::lock_guard lock(mu_);
      busy_.insert(d.id);
    }
    boost::asio::post(*pool_, [this, id = d.id] { work(id); });
  }
}

Observation Reconciler::observe(const std::string& desktop_id) {
  Observation o;
  o.vm = agent_.vm_status(desktop_id);
  o.now_ms = to_unix_ms(clock_.now());
  std::lock_guard lock(mu_);
  if (auto it = last_exit_.find(desktop_id); it != last_exit_.end()) o.last_exit = it->second;
  return o;
}

void Reconciler::work(const std::string& desktop_id) {
  bool progressed = false;
  // Re-read: the record may have changed since the scan.
  if (auto d = store_.desktop(desktop_id); d.ok()) {
    Step step = next_step(*d, observe(desktop_id));
    if (step.kind != StepKind::kNone) {
      auto r = apply(*d, step);
      if (!r.ok() && r.error().code() != ErrorCode::kConflict) {
        spdlog::warn("desktop {}: {}", desktop_id, r.error().message());
      }
      progressed = r.ok();
    }
  }
  {
    std::lock_guard lock(mu_);
    busy_.erase(desktop_id);
  }
  if (progressed) poke();  // the next step can follow at once
}

Result<store::DesktopRecord> Reconciler::write(store::DesktopRecord d, std::string_view state) {
  d.state = std::string(state);
  d.updated_at = clock_.now();
  return store_.update_desktop(d);
}

Result<std::string> Reconciler::golden_path(const store::DesktopRecord& d) {
  auto image = TRY(store_.image(d.image_id));
  if (image.state != "ready") return Error::Conflict(fmt::format("image '{}' is not ready", image.id));
  return image.path;
}

Result<agent::VmSpec> Reconciler::spec_for(const store::DesktopRecord& d) {
  auto image = TRY(store_.image(d.image_id));
  agent::VmSpec spec;
  spec.id = d.id;
  spec.name = d.name;
  spec.vcpus = static_cast<int>(d.vcpus);
  spec.memory_mb = static_cast<int>(d.memory_mb);
  spec.disk_path = agent_.disk_path(d.id);
  auto boot = parse_json(image.boot_json);
  if (boot.ok()) spec.boot = TRY(agent::BootSpec::from_json(*boot));
  return spec;
}

}  // namespace oriel::controller
