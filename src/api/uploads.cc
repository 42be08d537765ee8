// The upload registry: files in one directory, chunks written with pwrite at
// the offset the upload has reached, the sidecar JSON rewritten only when the
// upload is created or finished (the data file's size is what has arrived).
#include "uploads.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "oriel/common/log.h"

namespace oriel::api {
namespace {

namespace fs = std::filesystem;
using controller::Principal;

Result<void> require_admin(const Principal& who) {
  if (!who.admin()) return Error::PermissionDenied("image uploads are for administrators");
  return Ok();
}

// An fd closed on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<void> write_at(int fd, int64_t offset, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::Unavailable(fmt::format("cannot store the chunk: {}", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  return Ok();
}

// Administrators may always see how an upload they did not start is doing;
// the principal of its owner is rebuilt to ask the controller about it.
Principal owner_of(const UploadRecord& u) { return Principal{u.owner_id, u.owner_name, "admin", ""}; }

}  // namespace

UploadRegistry::UploadRegistry(std::string dir, UploadLimits limits, ImportHooks hooks, Clock& clock, Random& random)
    : dir_(std::move(dir)), limits_(limits), hooks_(std::move(hooks)), clock_(clock), random_(random) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) {
    spdlog::warn("uploads: cannot create {}: {}; image uploads will fail", dir_, ec.message());
    return;
  }
  ::chmod(dir_.c_str(), 0700);
  load();
}

std::string UploadRegistry::data_path(const UploadRecord& u) const {
  return dir_ + "/" + u.id + upload_extension(u.spec.format, u.spec.filename);
}

std::string UploadRegistry::meta_path(const std::string& id) const { return dir_ + "/" + id + ".json"; }

Result<void> UploadRegistry::save(const UploadRecord& u) const {
  // Written aside and renamed, so a crash leaves the old or the new file.
  std::string path = meta_path(u.id), tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << upload_meta_json(u).dump();
    if (!out.flush()) return Error::Unavailable(fmt::format("cannot write {}", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Error::Unavailable(fmt::format("cannot write {}: {}", path, ec.message()));
  return Ok();
}

// Takes back the uploads of an earlier run; anything else in the directory
// (a data file without its description, a half-written one) goes.
void UploadRegistry::load() {
  MutexLock lock(mu_);  // uncontended: the constructor calls it
  std::set<std::string> keep;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto json = parse_json(text.str());
    auto record = json.ok() ? upload_from_meta(*json) : Result<UploadRecord>(json.error());
    if (!record.ok() || entry.path().filename() != record->id + ".json") {
      spdlog::warn("uploads: {} is not an upload's description; removed", entry.path().string());
      continue;
    }
    record->received = static_cast<int64_t>(fs::file_size(data_path(*record), ec));
    if (ec) record->received = 0;
    keep.insert(fs::path(meta_path(record->id)).filename().string());
    keep.insert(fs::path(data_path(*record)).filename().string());
    auto e = std::make_shared<Entry>();
    e->record = std::move(*record);
    uploads_[e->record.id] = std::move(e);
  }
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (!keep.count(entry.path().filename().string())) fs::remove(entry.path(), ec);
  }
  if (!uploads_.empty()) spdlog::info("uploads: {} upload(s) taken back from {}", uploads_.size(), dir_);
}

void UploadRegistry::erase_files(const UploadRecord& u) const {
  std::error_code ec;
  fs::remove(data_path(u), ec);
  fs::remove(meta_path(u.id), ec);
}

Result<void> UploadRegistry::check_room(int64_t size) const {
  size_t active = 0;
  int64_t promised = 0;
  for (const auto& [id, e] : uploads_) {
    if (e->record.state != "uploading") continue;
    ++active;
    promised += e->record.spec.size - e->record.received;
  }
  if (active >= limits_.max_active) {
    return Error::Unavailable(
        fmt::format("{} uploads are in progress, the most at once: finish or cancel one first", active));
  }
  struct statvfs fsinfo {};
  if (::statvfs(dir_.c_str(), &fsinfo) != 0) {
    return Error::Unavailable(fmt::format("cannot use {}: {}", dir_, std::strerror(errno)));
  }
  int64_t free = static_cast<int64_t>(fsinfo.f_bavail) * static_cast<int64_t>(fsinfo.f_frsize);
  if (free - promised < size) {
    return Error::Unavailable(fmt::format("not enough free space for {} bytes: {} bytes free, {} of them promised "
                                          "to uploads in progress",
                                          size, free, promised));
  }
  return Ok();
}

Result<UploadRecord> UploadRegistry::create(const Principal& who, NewUpload spec) {
  TRY(require_admin(who));
  if (spec.size > limits_.max_bytes) {
    return Error::InvalidArgument(fmt::format("an upload is at most {} bytes", limits_.max_bytes));
  }
  UploadRecord u;
  u.id = new_id(random_, "up");
  u.spec = std::move(spec);
  u.owner_id = who.user_id;
  u.owner_name = who.username;
  u.created_at = u.updated_at = clock_.now();
  MutexLock lock(mu_);
  TRY(check_room(u.spec.size));
  Fd fd(::open(data_path(u).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Error::Unavailable(fmt::format("cannot create the upload's file: {}", std::strerror(errno)));
  if (auto saved = save(u); !saved.ok()) {
    erase_files(u);
    return saved.take_error();
  }
  auto e = std::make_shared<Entry>();
  e->record = u;
  uploads_[u.id] = std::move(e);
  return u;
}

Result<std::vector<UploadRecord>> UploadRegistry::list(const Principal& who) {
  TRY(require_admin(who));
  std::vector<UploadRecord> out;
  MutexLock lock(mu_);
  for (const auto& [id, e] : uploads_) out.push_back(e->record);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
  return out;
}

Result<std::shared_ptr<UploadRegistry::Entry>> UploadRegistry::find(const Principal& who, const std::string& id) {
  TRY(require_admin(who));
  MutexLock lock(mu_);
  auto it = uploads_.find(id);
  if (it == uploads_.end()) return Error::NotFound("upload", id);
  return it->second;
}

Result<UploadRecord> UploadRegistry::get(const Principal& who, const std::string& id) {
  auto e = TRY(find(who, id));
  MutexLock lock(mu_);
  return e->record;
}

Result<UploadRecord> UploadRegistry::write(const Principal& who, const std::string& id, int64_t offset,
                                           std::string_view bytes) {
  auto e = TRY(find(who, id));
  std::unique_lock writing(e->writing, std::try_to_lock);
  if (!writing.owns_lock()) return Error::Conflict("another chunk of this upload is being written: send one at a time");
  UploadRecord u;
  {
    MutexLock lock(mu_);
    if (!uploads_.count(id)) return Error::NotFound("upload", id);  // cancelled meanwhile
    u = e->record;
  }
  if (u.state != "uploading") return Error::Conflict("the upload is complete and its image is being imported");
  TRY(check_chunk(offset, static_cast<int64_t>(bytes.size()), u.received, u.spec.size));
  Fd fd(::open(data_path(u).c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return Error::Unavailable(fmt::format("cannot open the upload's file: {}", std::strerror(errno)));
  if (auto w = write_at(fd.get(), offset, bytes); !w.ok()) {
    // What was half written goes, so the upload stays at a chunk boundary.
    if (::ftruncate(fd.get(), static_cast<off_t>(offset)) != 0) spdlog::warn("uploads: {}: truncate failed", id);
    return w.take_error();
  }
  MutexLock lock(mu_);
  e->record.received = offset + static_cast<int64_t>(bytes.size());
  e->record.updated_at = clock_.now();
  return e->record;
}

Result<store::ImageRecord> UploadRegistry::finish(const Principal& who, const std::string& id) {
  auto e = TRY(find(who, id));
  std::lock_guard writing(e->writing);
  UploadRecord u;
  {
    MutexLock lock(mu_);
    if (!uploads_.count(id)) return Error::NotFound("upload", id);
    u = e->record;
  }
  if (u.state != "uploading") return Error::Conflict("the upload is already finished");
  if (u.received != u.spec.size) {
    return Error::Conflict(
        fmt::format("the upload has {} of its {} bytes: send the rest first", u.received, u.spec.size));
  }
  {
    Fd fd(::open(data_path(u).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
      return Error::Unavailable(fmt::format("cannot sync the upload's file: {}", std::strerror(errno)));
    }
  }
  controller::CreateImage cmd{u.spec.name, data_path(u), u.spec.format, u.spec.boot, u.spec.tenant_id, u.spec.shared};
  auto image = TRY(hooks_.start(who, std::move(cmd)));
  MutexLock lock(mu_);
  e->record.state = "importing";
  e->record.image_id = image.id;
  e->record.updated_at = clock_.now();
  if (auto saved = save(e->record); !saved.ok()) spdlog::warn("uploads: {}: {}", id, saved.error().message());
  return image;
}

Result<void> UploadRegistry::remove(const Principal& who, const std::string& id) {
  auto e = TRY(find(who, id));
  std::lock_guard writing(e->writing);
  UploadRecord u;
  {
    MutexLock lock(mu_);
    u = e->record;
  }
  if (u.state == "importing" && hooks_.importing(who, u.image_id)) {
    return Error::Conflict(
        fmt::format("image '{}' is being imported from this upload: delete the image instead", u.image_id));
  }
  MutexLock lock(mu_);
  if (uploads_.erase(id) == 0) return Error::NotFound("upload", id);
  erase_files(u);
  return Ok();
}

void UploadRegistry::sweep() {
  std::vector<std::shared_ptr<Entry>> all;
  {
    MutexLock lock(mu_);
    for (const auto& [id, e] : uploads_) all.push_back(e);
  }
  WallTime now = clock_.now();
  for (const auto& e : all) {
    std::unique_lock writing(e->writing, std::try_to_lock);
    if (!writing.owns_lock()) continue;  // busy: not abandoned
    UploadRecord u;
    {
      MutexLock lock(mu_);
      u = e->record;
    }
    bool done =
        u.state == "importing" ? !hooks_.importing(owner_of(u), u.image_id) : abandoned(u, now, limits_.idle_limit);
    if (!done) continue;
    MutexLock lock(mu_);
    if (uploads_.erase(u.id) == 0) continue;
    erase_files(u);
    spdlog::info("uploads: {} removed ({})", u.id, u.state == "importing" ? "imported" : "abandoned");
  }
}

}  // namespace oriel::api
