// Golden images: imported in the background from a file on the controller's
// machine (qcow2, raw, VHD, VHDX) or an upload, read-only once ready.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/agent/vm_spec.h"
#include "oriel/common/result.h"
#include "oriel/controller/principal.h"
#include "oriel/store/records.h"

namespace oriel::controller {

struct Core;

struct CreateImage {
  std::string name;
  std::string source_path;      // a regular file on the controller's machine, under an --import-dir
  std::string format = "auto";  // auto | qcow2 | raw | vpc | vhdx
  agent::BootSpec boot;         // its kernel and initrd under an --import-dir too
  std::string tenant_id;        // whose image; empty: the platform's
  bool shared = false;          // a platform image that every tenant sees and uses
};

struct UpdateImage {
  std::optional<std::string> name;
  std::optional<bool> shared;
};

// Images belong to a tenant or to the platform. Admins create, change and
// delete them; a tenant-admin sees (and builds pools on) its tenant's own
// images and the platform's shared ones, never a path on the server.
// Thread-safe.
class Images {
 public:
  explicit Images(Core& core) : core_(core) {}
  Images(const Images&) = delete;
  Images& operator=(const Images&) = delete;

  // Answers at once with the image "importing"; the importer takes it from
  // there. The files are read only from the administrator's import
  // directories, never from orield's own (data, run, shared), with their
  // symbolic links resolved first.
  Result<store::ImageRecord> create(const Principal& who, CreateImage cmd);
  // The same from a finished upload: its file is orield's own staging copy.
  Result<store::ImageRecord> create_uploaded(const Principal& who, CreateImage cmd);
  Result<store::ImageRecord> update(const Principal& who, std::string_view id, const UpdateImage& cmd);
  Result<store::ImageRecord> get(const Principal& who, std::string_view id);
  Result<std::vector<store::ImageRecord>> list(const Principal& who);
  // Conflict while a desktop uses it.
  Result<void> remove(const Principal& who, std::string_view id);

 private:
  Result<store::ImageRecord> add(const Principal& who, CreateImage cmd, bool uploaded);

  Core& core_;
};

}  // namespace oriel::controller
