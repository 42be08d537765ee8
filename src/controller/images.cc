// Golden images: checked and recorded here, imported by the ImageImporter.
#include "oriel/controller/images.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "access.h"
#include "checks.h"
#include "core.h"
#include "image_importer.h"
#include "oriel/common/files.h"

namespace oriel::controller {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kOnlyPlatformShared = "a tenant's image is its own: only the platform's are shared";

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

// The file an import may read for `field`: `path` with its links resolved,
// inside one of the administrator's import directories and outside
// orield's own. The importer then opens the resolved path.
Result<std::string> importable_file(const ControllerOptions& o, std::string_view field, const std::string& path) {
  TRY(check_readable_file(field, path));
  std::string real = resolved_path(path);
  if (real.empty()) return Error::InvalidArgument(fmt::format("{} '{}' cannot be resolved", field, path));
  for (const auto& dir : o.private_dirs) {
    if (path_within(dir, real)) {
      return Error::PermissionDenied(
          fmt::format("{} '{}' is in orield's own directory {}: never imported", field, path, dir));
    }
  }
  if (o.import_dirs.empty()) {
    return Error::PermissionDenied(fmt::format(
        "{} '{}': importing a file from the server needs orield --import-dir; upload the file instead", field, path));
  }
  for (const auto& dir : o.import_dirs) {
    if (path_within(dir, real)) return real;
  }
  return Error::PermissionDenied(
      fmt::format("{} '{}' is outside the import directories ({})", field, path, fmt::join(o.import_dirs, ", ")));
}

Result<void> require_image_reader(const Principal& who) {
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("images are for administrators");
  return Ok();
}

// What a tenant role sees of an image: no path on the server (the boot
// files by their names only) and no import error, which may name one.
store::ImageRecord redacted(store::ImageRecord i) {
  i.source_path.clear();
  i.path.clear();
  if (!i.error.empty()) i.error = "the import failed";
  auto parsed = parse_json(i.boot_json);
  if (auto boot = agent::BootSpec::from_json(parsed.ok() ? *parsed : Json::object()); boot.ok()) {
    if (!boot->kernel.empty()) boot->kernel = fs::path(boot->kernel).filename().string();
    if (!boot->initrd.empty()) boot->initrd = fs::path(boot->initrd).filename().string();
    i.boot_json = boot->to_json().dump();
  } else {
    i.boot_json = "{}";
  }
  return i;
}

Result<store::ImageRecord> shown_to(const Principal& who, store::ImageRecord image) {
  if (who.admin()) return image;
  if (!image_serves(image, who.tenant_id)) return Error::NotFound("image", image.id);
  return redacted(std::move(image));
}

}  // namespace

Result<store::ImageRecord> Images::create(const Principal& who, CreateImage cmd) {
  return add(who, std::move(cmd), false);
}

Result<store::ImageRecord> Images::create_uploaded(const Principal& who, CreateImage cmd) {
  return add(who, std::move(cmd), true);
}

Result<store::ImageRecord> Images::add(const Principal& who, CreateImage cmd, bool uploaded) {
  TRY(require_admin(who));
  TRY(check_name("image", cmd.name));
  if (std::find(std::begin(kFormats), std::end(kFormats), cmd.format) == std::end(kFormats)) {
    return Error::InvalidArgument(fmt::format("format '{}' is not one of auto, qcow2, raw, vpc, vhdx", cmd.format));
  }
  if (!cmd.tenant_id.empty()) {
    TRY(visible_tenant(core_.store, who, cmd.tenant_id));
    if (cmd.shared) return Error::InvalidArgument(std::string(kOnlyPlatformShared));
  }
  const auto& o = core_.options;
  if (uploaded) {
    TRY(check_readable_file("source_path", cmd.source_path));
  } else {
    cmd.source_path = TRY(importable_file(o, "source_path", cmd.source_path));
  }
  if (cmd.boot.kind == agent::BootSpec::Kind::kDirectKernel) {
    cmd.boot.kernel = TRY(importable_file(o, "boot.kernel", cmd.boot.kernel));
    if (!cmd.boot.initrd.empty()) cmd.boot.initrd = TRY(importable_file(o, "boot.initrd", cmd.boot.initrd));
  }
  store::ImageRecord image;
  image.id = new_id(core_.random, "i");
  image.name = cmd.name;
  image.state = "importing";
  image.source_path = cmd.source_path;
  image.requested_format = cmd.format;
  image.boot_json = cmd.boot.to_json().dump();
  image.tenant_id = cmd.tenant_id;
  image.shared = cmd.shared;
  image.created_at = image.updated_at = core_.clock.now();
  TRY(core_.store.insert_image(image));
  core_.importer->enqueue(image.id);
  return image;
}

Result<store::ImageRecord> Images::update(const Principal& who, std::string_view id, const UpdateImage& cmd) {
  TRY(require_admin(who));
  auto image = TRY(core_.store.image(id));
  if (cmd.name) {
    TRY(check_name("image", *cmd.name));
    image.name = *cmd.name;
  }
  if (cmd.shared && *cmd.shared != image.shared) {
    if (!image.tenant_id.empty()) {
      return Error::InvalidArgument(std::string(kOnlyPlatformShared));
    }
    if (!*cmd.shared) {
      // Unsharing takes the image from the tenants: refused while their pools use it.
      for (const auto& pool : TRY(core_.store.pools(""))) {
        if (pool.image_id == image.id) {
          return Error::Conflict(fmt::format("pool '{}' of tenant '{}' uses image '{}': move it to another image first",
                                             pool.id, pool.tenant_id, image.id));
        }
      }
    }
    image.shared = *cmd.shared;
  }
  image.updated_at = core_.clock.now();
  TRY(core_.store.update_image_settings(image));
  return image;
}

Result<store::ImageRecord> Images::get(const Principal& who, std::string_view id) {
  TRY(require_image_reader(who));
  return shown_to(who, TRY(core_.store.image(id)));
}

Result<std::vector<store::ImageRecord>> Images::list(const Principal& who) {
  TRY(require_image_reader(who));
  auto all = TRY(core_.store.images());
  if (who.admin()) return all;
  std::vector<store::ImageRecord> shown;
  for (auto& image : all) {
    if (image_serves(image, who.tenant_id)) shown.push_back(redacted(std::move(image)));
  }
  return shown;
}

Result<void> Images::remove(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  TRY(core_.store.delete_unused_image(id));
  std::error_code ec;
  fs::remove_all(core_.importer->image_dir(std::string(id)), ec);
  return Ok();
}

}  // namespace oriel::controller
