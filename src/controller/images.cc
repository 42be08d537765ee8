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

Result<void> require_image_reader(const Principal& who) {
  if (!who.admin() && !who.tenant_admin()) return Error::PermissionDenied("images are for administrators");
  return Ok();
}

}  // namespace

Result<store::ImageRecord> Images::create(const Principal& who, CreateImage cmd) {
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
  image.id = new_id(core_.random, "i");
  image.name = cmd.name;
  image.state = "importing";
  image.source_path = cmd.source_path;
  image.requested_format = cmd.format;
  image.boot_json = cmd.boot.to_json().dump();
  image.created_at = image.updated_at = core_.clock.now();
  TRY(core_.store.insert_image(image));
  core_.importer->enqueue(image.id);
  return image;
}

// Images are global golden images: tenant-admins read them to build pools.
Result<store::ImageRecord> Images::get(const Principal& who, std::string_view id) {
  TRY(require_image_reader(who));
  return core_.store.image(id);
}

Result<std::vector<store::ImageRecord>> Images::list(const Principal& who) {
  TRY(require_image_reader(who));
  return core_.store.images();
}

Result<void> Images::remove(const Principal& who, std::string_view id) {
  TRY(require_admin(who));
  TRY(core_.store.delete_unused_image(id));
  std::error_code ec;
  fs::remove_all(core_.importer->image_dir(std::string(id)), ec);
  return Ok();
}

}  // namespace oriel::controller
