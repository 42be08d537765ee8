#include "oriel/controller/controller.h"

#include <sys/stat.h>

#include <filesystem>

#include "auth.h"
#include "checks.h"
#include "fleet.h"
#include "image_importer.h"
#include "migrations.h"
#include "oriel/common/log.h"
#include "reconciler.h"
#include "scheduler.h"
#include "ticker.h"

namespace oriel::controller {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFormats[] = {"auto", "qcow2", "raw", "vpc", "vhdx"};

Result<void> check_readable_file(std::string_view field, const std::string& path) {
  if (path.empty()) return Error::InvalidArgument(fmt::format("{} is empty", field));
  if (path[0] != '/') return Error::InvalidArgument(fmt::format("{} '{}' must be an absolute path", field, path));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error::InvalidArgument(fmt::format("{} '{}' does not exist on the controller", field, path));
  }
  if (!S_ISREG(st.st_mode)) return Error::InvalidArgument(fmt::format("{} '{}' is not a regular file", field, path));
  if (::access(path.c_str(), R_OK) != 0) {
    return Error::InvalidArgument(fmt::format("{} '{}' is not readable by orield", field, path));
  }
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

Controller::Controller(store::Store& store, agent::HostAgent& agent, Clock& clock, Random& random,
                       ControllerOptions options)
    : store_(store), agent_(agent), clock_(clock), random_(random), options_(std::move(options)) {
  auto policy = parse_placement_policy(options_.placement);
  scheduler_ = std::make_unique<Scheduler>(SchedulerOptions{options_.cpu_overcommit, options_.memory_overcommit,
                                                            policy.ok() ? *policy : PlacementPolicy::kSpread});
  broker_loop_ = std::make_unique<Ticker>(
      [this] {
        watch_hosts();
        reconcile_broker();
      },
      options_.reconcile_interval, std::chrono::milliseconds(25));
  leadership_ = std::make_unique<Ticker>([this] { lead(); }, options_.leader_check_interval,
                                        options_.leader_check_interval);
  fleet_ = std::make_unique<Fleet>(random_, options_.cluster_token);
  reconciler_ = std::make_unique<Reconciler>(
      store_, *fleet_, clock_,
      ReconcilerOptions{options_.shutdown_timeout, options_.reconcile_interval, options_.reconcile_workers,
                        [this](const store::DesktopRecord& d) { return relocate(d); },
                        [this](const store::DesktopRecord& d) { return begin_migration(d); },
                        [this](const store::DesktopRecord& d) { return migrations_->settle(d); }});
  MigrationHooks hooks;
  hooks.moved = [this](const std::string& desktop_id, const std::string& host_id) {
    if (move_listener_) move_listener_(desktop_id, fleet_->address(host_id));
  };
  hooks.ended = [this] { reconciler_->poke(); };
  migrations_ = std::make_unique<Migrations>(store_, *fleet_, clock_, std::move(hooks), options_.migration,
                                             options_.parallel_migrations);
  std::string images = (options_.shared_dir.empty() ? options_.data_dir : options_.shared_dir) + "/images";
  importer_ = std::make_unique<ImageImporter>(store_, agent_, clock_, images);
  fleet_->set_exit_handler([this](const std::string& id, agent::VmExit why) { reconciler_->on_vm_exit(id, why); });
}

Controller::~Controller() { stop(); }

Result<void> Controller::bootstrap(std::string_view admin_password) {
  if (options_.embedded_host) {
    auto report = agent_.report();
    host_id_ = host_id_for(report.name);
    store::HostRecord host{host_id_, report.name, "ready", std::string(agent::accelerator_name(report.accelerator)),
                           report.cpus, report.memory_mb, "", clock_.now()};
    if (auto old = store_.host(host_id_); old.ok()) host.state = old->state;
    TRY(store_.upsert_host(host));
    fleet_->add_local(host_id_, agent_);
  }

  auto admin = store_.user_by_name("admin");
  if (admin.ok()) {
    if (!admin_password.empty() && !verify_password(admin->password_hash, admin_password)) {
      TRY(store_.set_password_hash(admin->id, TRY(hash_password(admin_password))));
      spdlog::info("admin password updated from --admin-password");
    }
    return Ok();
  }
  if (admin_password.empty()) {
    return Error::InvalidArgument("no admin user yet: start orield once with --admin-password");
  }
  store::UserRecord user{new_id(random_, "u"), "admin", TRY(hash_password(admin_password)), "admin", "",
                         clock_.now()};
  return store_.insert_user(user);
}

void Controller::start() {
  importer_->start();
  lead();
  leadership_->start();
}

void Controller::lead() {
  bool now = store_.hold_leadership();
  if (now == leading_) return;
  if (now) {
    spdlog::info("this controller leads: it runs the control loops");
    reconciler_->start();
    broker_loop_->start();
  } else {
    spdlog::warn("this controller no longer leads: another one runs the control loops");
    broker_loop_->stop();
    reconciler_->stop();
  }
  leading_ = now;
}

void Controller::stop() {
  if (leadership_) leadership_->stop();
  if (broker_loop_) broker_loop_->stop();
  if (migrations_) migrations_->stop();
  if (reconciler_) reconciler_->stop();
  if (importer_) importer_->stop();
  if (leading_.exchange(false)) store_.release_leadership();
}

Result<LoginResult> Controller::login(std::string_view username, std::string_view password) {
  // Every failure gets this one answer, after one argon2id check, whether the
  // user is unknown, throttled, locked or just mistyped.
  const Error kWrong = Error::Unauthenticated("wrong username or password");
  auto user = store_.user_by_name(username);
  if (!user.ok()) {
    (void)verify_password(dummy_password_hash(), password);
    return kWrong;
  }
  WallTime now = clock_.now();
  if (now < user->locked_until || now < next_login_allowed(*user)) {
    (void)verify_password(dummy_password_hash(), password);
    return kWrong;
  }
  if (!verify_password(user->password_hash, password)) {
    user->failed_logins += 1;
    user->last_failed_at = now;
    if (user->failed_logins >= options_.login_lock_after) {
      user->locked_until = now + options_.login_lock;
      user->failed_logins = 0;
      spdlog::warn("user {} locked for {} s after {} failed logins", user->username, options_.login_lock.count(),
                   options_.login_lock_after);
    }
    TRY(store_.set_login_state(*user));
    return kWrong;
  }
  if (user->failed_logins != 0 || user->locked_until != WallTime{}) {
    user->failed_logins = 0;
    user->locked_until = WallTime{};
    TRY(store_.set_login_state(*user));
  }
  LoginResult result{random_.token(32), now + options_.token_ttl};
  TRY(store_.insert_token({token_hash(result.token), user->id, now, result.expires_at}));
  (void)store_.delete_expired_tokens(now);
  return result;
}

WallTime Controller::next_login_allowed(const store::UserRecord& user) const {
  int over = static_cast<int>(user.failed_logins) - options_.login_delay_after;
  if (over < 0) return WallTime{};
  return user.last_failed_at + std::chrono::seconds(int64_t{1} << std::min(over, 20));
}

Result<void> Controller::logout(std::string_view token) { return store_.delete_token(token_hash(token)); }

Result<Principal> Controller::authenticate(std::string_view token) {
  if (token.empty()) return Error::Unauthenticated("missing bearer token");
  auto record = store_.token_by_hash(token_hash(token));
  if (!record.ok() || record->expires_at <= clock_.now()) {
    return Error::Unauthenticated("invalid or expired token");
  }
  auto user = store_.user_by_id(record->user_id);
  if (!user.ok()) return Error::Unauthenticated("invalid or expired token");  // the user was deleted
  return Principal{user->id, user->username, user->role, user->tenant_id};
}

Result<std::vector<HostView>> Controller::hosts(const Principal& who) {
  TRY(require_admin(who));
  auto hosts = TRY(store_.hosts());
  auto desktops = TRY(store_.desktops({}));
  std::vector<HostView> views;
  for (auto& h : hosts) {
    HostView v{std::move(h)};
    for (const auto& d : desktops) {
      if (d.host_id != v.host.id) continue;
      ++v.desktops;
      if (d.desired == "running") {
        v.cpus_allocated += d.vcpus;
        v.memory_allocated_mb += d.memory_mb;
      }
    }
    views.push_back(std::move(v));
  }
  return views;
}

Result<store::ImageRecord> Controller::create_image(const Principal& who, CreateImage cmd) {
  TRY(require_admin(who));
  TRY(check_name("image", cmd.name));
  if (std::find(std::begin(kFormats), std::end(kFormats), cmd.format) == std::end(kFormats)) {
    return Error::InvalidArgument(fmt::format("format '{}' is not one of auto, qcow2, raw, vpc, vhdx", cmd.format));
  }
  TRY(check_readable_file("source_path", cmd.source_path));
  if (cmd.boot.kind == agent::BootSpec::Kind::kDirectKernel) {
    TRY(check_readable_file("boot.kernel", cmd.boot.kernel));
    if (!cmd.boot.initrd.empty()) TRY(check_readable_file("boot.initrd", cmd.boot.initrd));
  }
  store::ImageRecord image;
  image.id = new_id(random_, "i");
  image.name = cmd.name;
  image.state = "importing";
  image.source_path = cmd.source_path;
  image.requested_format = cmd.format;
  image.boot_json = cmd.boot.to_json().dump();
  image.created_at = image.updated_at = clock_.now();
  TRY(store_.insert_image(image));
  importer_->enqueue(image.id);
  return image;
}

// Images are global golden images: tenant-admins read them to build pools.
Result<store::ImageRecord> Controller::image(const Principal& who, std::string_view id) {
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("images are for administrators");
  return store_.image(id);
}

Result<std::vector<store::ImageRecord>> Controller::images(const Principal& who) {
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("images are for administrators");
  return store_.images();
}

Result<void> Controller::delete_image(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  TRY(store_.delete_unused_image(id));
  std::error_code ec;
  fs::remove_all(importer_->image_dir(std::string(id)), ec);
  return Ok();
}

}  // namespace oriel::controller
