#include "oriel/controller/controller.h"

#include <sys/stat.h>

#include <filesystem>

#include "auth.h"
#include "checks.h"
#include "image_importer.h"
#include "oriel/common/log.h"
#include "reconciler.h"

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
  reconciler_ = std::make_unique<Reconciler>(
      store_, agent_, clock_,
      ReconcilerOptions{options_.shutdown_timeout, options_.reconcile_interval, options_.reconcile_workers});
  importer_ = std::make_unique<ImageImporter>(store_, agent_, clock_, options_.data_dir + "/images");
  agent_.set_exit_handler([this](const std::string& id, agent::VmExit why) { reconciler_->on_vm_exit(id, why); });
}

Controller::~Controller() { stop(); }

Result<void> Controller::bootstrap(std::string_view admin_password) {
  auto report = agent_.report();
  // The embedded host keeps one id for its life: derived from its name.
  host_id_ = "h-" + token_hash(report.name).substr(0, 16);
  store::HostRecord host{host_id_, report.name, "ready", std::string(agent::accelerator_name(report.accelerator)),
                         report.cpus, report.memory_mb, "", clock_.now()};
  if (auto old = store_.host(host_id_); old.ok()) host.state = old->state;
  TRY(store_.upsert_host(host));

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
  reconciler_->start();
}

void Controller::stop() {
  if (reconciler_) reconciler_->stop();
  if (importer_) importer_->stop();
}

Result<LoginResult> Controller::login(std::string_view username, std::string_view password) {
  auto user = store_.user_by_name(username);
  // The same answer whether the user exists or not.
  if (!user.ok() || !verify_password(user->password_hash, password)) {
    return Error::Unauthenticated("wrong username or password");
  }
  LoginResult result{random_.token(32), clock_.now() + options_.token_ttl};
  TRY(store_.insert_token({token_hash(result.token), user->id, clock_.now(), result.expires_at}));
  (void)store_.delete_expired_tokens(clock_.now());
  return result;
}

Result<void> Controller::logout(std::string_view token) { return store_.delete_token(token_hash(token)); }

Result<Principal> Controller::authenticate(std::string_view token) {
  if (token.empty()) return Error::Unauthenticated("missing bearer token");
  auto record = store_.token_by_hash(token_hash(token));
  if (!record.ok() || record->expires_at <= clock_.now()) {
    return Error::Unauthenticated("invalid or expired token");
  }
  auto user = TRY(store_.user_by_id(record->user_id));
  return Principal{user.id, user.username, user.role, user.tenant_id};
}

Result<void> Controller::require_admin(const Principal& who) {
  if (who.role != "admin") return Error::PermissionDenied("this needs the admin role");
  return Ok();
}

Result<std::vector<HostView>> Controller::hosts() {
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

Result<store::ImageRecord> Controller::image(std::string_view id) { return store_.image(id); }

Result<std::vector<store::ImageRecord>> Controller::images() { return store_.images(); }

Result<void> Controller::delete_image(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  TRY(store_.delete_unused_image(id));
  std::error_code ec;
  fs::remove_all(importer_->image_dir(std::string(id)), ec);
  return Ok();
}

}  // namespace oriel::controller
