// Resumable image uploads from the browser (docs/api.md, "Uploads"): an
// administrator declares a file (name, size, format), sends it in chunks at
// increasing offsets, and finishes it, which starts the normal image import
// from the assembled file. Internal to src/api.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http_types.h"
#include "oriel/common/clock.h"
#include "oriel/common/json.h"
#include "oriel/common/mutex.h"
#include "oriel/common/random.h"
#include "oriel/controller/controller.h"

namespace oriel::api {

// ------------------------------------------------------------ pure parts

// POST /api/v1/uploads: what the administrator declares up front. The image
// the upload becomes is described here too, so that finishing needs nothing.
struct NewUpload {
  std::string name;      // the image's name
  std::string filename;  // the file's name on the client, for its extension and for people
  int64_t size = 0;      // bytes, exactly
  std::string format = "auto";
  agent::BootSpec boot;
  std::string tenant_id;  // whose image; empty: the platform's
  bool shared = false;    // a platform image for every tenant
};

// Parses the body; sizes are checked against `max_bytes` by the caller (413).
Result<NewUpload> parse_create_upload(std::string_view body);
// The `offset` query parameter of a chunk: a decimal byte offset.
Result<int64_t> parse_chunk_offset(const std::map<std::string, std::string>& query);
// Whether a chunk of `length` bytes at `offset` continues an upload that has
// `received` of `size` bytes: Conflict when it is not where the upload stands
// (the message says where it does), InvalidArgument when it is empty or would
// end past the declared size.
Result<void> check_chunk(int64_t offset, int64_t length, int64_t received, int64_t size);
// The extension the assembled file gets, so that the importer's checks by name
// apply (".vhd", ".vhdx", ".qcow2", ".raw", ".img"), or "" when neither the
// format nor the client's file name says.
std::string upload_extension(std::string_view format, std::string_view filename);

// One upload as the registry keeps it (and writes to <dir>/<id>.json).
struct UploadRecord {
  std::string id;
  NewUpload spec;
  std::string state = "uploading";   // uploading | importing
  std::string image_id;              // once finished
  std::string owner_id, owner_name;  // the administrator who started it
  WallTime created_at, updated_at;   // updated_at: the last chunk
  int64_t received = 0;              // bytes on disk (the data file's size)
};

// An upload no chunk has reached for `idle_limit` is abandoned.
bool abandoned(const UploadRecord& u, WallTime now, std::chrono::seconds idle_limit);
Json upload_json(const UploadRecord& u, std::chrono::seconds idle_limit);
// The sidecar file's content, and back (InvalidArgument on anything malformed).
Json upload_meta_json(const UploadRecord& u);
Result<UploadRecord> upload_from_meta(const Json& j);

// --------------------------------------------------------------- registry

struct UploadLimits {
  int64_t max_bytes = int64_t{256} << 30;  // one upload
  size_t max_active = 4;                   // uploads still receiving chunks, all administrators together
  std::chrono::seconds idle_limit{24 * 3600};
};

// What an upload becomes: the image import (Images::create), and
// whether it is still reading the file.
struct ImportHooks {
  std::function<Result<store::ImageRecord>(const controller::Principal&, controller::CreateImage)> start;
  std::function<bool(const controller::Principal&, const std::string& image_id)> importing;
};

// The uploads in a directory: <id>.json describes each, <id><ext> holds its
// bytes. State survives a restart of orield (the directory is read at
// construction), so a browser can resume after one. Uploads are for
// administrators only; every method checks.
//
// Thread-safe: chunks of different uploads are written in parallel; a second
// chunk for an upload that is being written is a Conflict.
class UploadRegistry {
 public:
  UploadRegistry(std::string dir, UploadLimits limits, ImportHooks hooks, Clock& clock, Random& random);

  Result<UploadRecord> create(const controller::Principal& who, NewUpload spec);
  Result<std::vector<UploadRecord>> list(const controller::Principal& who);
  Result<UploadRecord> get(const controller::Principal& who, const std::string& id);
  Result<UploadRecord> write(const controller::Principal& who, const std::string& id, int64_t offset,
                             std::string_view bytes);
  // Starts the import from the complete file; returns the new image.
  Result<store::ImageRecord> finish(const controller::Principal& who, const std::string& id);
  Result<void> remove(const controller::Principal& who, const std::string& id);
  // Deletes abandoned uploads and those whose import is over.
  void sweep();

  const UploadLimits& limits() const { return limits_; }

 private:
  // `record` is guarded by the registry's mu_, by convention only: an
  // ORIEL_GUARDED_BY here would name a mutex in the Entry itself.
  struct Entry {
    UploadRecord record;  // guarded by UploadRegistry::mu_
    std::mutex writing;   // held while a chunk is written
  };
  std::string data_path(const UploadRecord& u) const;
  std::string meta_path(const std::string& id) const;
  Result<void> save(const UploadRecord& u) const;
  void load();
  void erase_files(const UploadRecord& u) const;
  Result<std::shared_ptr<Entry>> find(const controller::Principal& who, const std::string& id);
  Result<void> check_room(int64_t size) const ORIEL_REQUIRES(mu_);

  std::string dir_;
  UploadLimits limits_;
  ImportHooks hooks_;
  Clock& clock_;
  Random& random_;
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> uploads_ ORIEL_GUARDED_BY(mu_);
};

void add_upload_routes(Router& router, controller::Controller& c, UploadRegistry& uploads);

}  // namespace oriel::api
