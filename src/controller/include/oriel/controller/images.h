// Golden images: imported in the background from a file on the controller's
// machine (qcow2, raw, VHD, VHDX), read-only once ready.
#pragma once

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
  std::string source_path;      // a regular file on the controller's machine
  std::string format = "auto";  // auto | qcow2 | raw | vpc | vhdx
  agent::BootSpec boot;
};

// Images are global: admins create and delete them, tenant-admins read them
// to build pools. Thread-safe.
class Images {
 public:
  explicit Images(Core& core) : core_(core) {}
  Images(const Images&) = delete;
  Images& operator=(const Images&) = delete;

  // Answers at once with the image "importing"; the importer takes it from there.
  Result<store::ImageRecord> create(const Principal& who, CreateImage cmd);
  Result<store::ImageRecord> get(const Principal& who, std::string_view id);
  Result<std::vector<store::ImageRecord>> list(const Principal& who);
  // Conflict while a desktop uses it.
  Result<void> remove(const Principal& who, std::string_view id);

 private:
  Core& core_;
};

}  // namespace oriel::controller
