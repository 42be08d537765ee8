#include "image_importer.h"

#include <filesystem>

#include "oriel/common/log.h"

namespace oriel::controller {
namespace {

namespace fs = std::filesystem;

// Copies a boot file next to the golden image so the image never depends on
// the source path staying put.
Result<std::string> copy_boot_file(const std::string& from, const std::string& dir, const std::string& name) {
  if (from.empty()) return std::string();
  std::error_code ec;
  fs::path to = fs::path(dir) / name;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return Error::InvalidArgument(fmt::format("cannot copy boot file '{}': {}", from, ec.message()));
  // The copy takes the source's mode, umask or not: made orield's user's only.
  fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, ec);
  return to.string();
}

}  // namespace

ImageImporter::ImageImporter(store::ImageStore& images, agent::HostAgent& agent, Clock& clock, std::string images_dir)
    : images_(images), agent_(agent), clock_(clock), images_dir_(std::move(images_dir)) {}

ImageImporter::~ImageImporter() { stop(); }

std::string ImageImporter::image_dir(const std::string& image_id) const { return images_dir_ + "/" + image_id; }

void ImageImporter::start() {
  if (auto all = images_.images(); all.ok()) {
    for (const auto& image : *all) {
      if (image.state == "importing") enqueue(image.id);
    }
  }
  thread_ = std::thread([this] { loop(); });
}

void ImageImporter::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ImageImporter::enqueue(const std::string& image_id) {
  {
    MutexLock lock(mu_);
    queue_.push_back(image_id);
  }
  cv_.notify_all();
}

void ImageImporter::loop() {
  UniqueMutexLock lock(mu_);
  while (true) {
    cv_.wait(lock, [this]() ORIEL_REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::string id = queue_.front();
    queue_.pop_front();
    lock.unlock();
    import(id);
    lock.lock();
  }
}

void ImageImporter::import(const std::string& image_id) {
  auto image = images_.image(image_id);
  if (!image.ok() || image->state != "importing") return;  // deleted meanwhile
  spdlog::info("image {}: importing {} ({})", image_id, image->source_path, image->requested_format);
  auto result = run_import(*image);
  image->updated_at = clock_.now();
  if (result.ok()) {
    image->state = "ready";
    image->progress = 100;
    spdlog::info("image {}: ready ({} bytes virtual)", image_id, image->virtual_size_bytes);
  } else {
    image->state = "failed";
    image->error = result.error().message();
    std::error_code ec;
    fs::remove_all(image_dir(image_id), ec);  // a failed import leaves nothing behind
    spdlog::warn("image {}: import failed: {}", image_id, image->error);
  }
  if (!images_.update_image(*image).ok()) {
    std::error_code ec;
    fs::remove_all(image_dir(image_id), ec);  // deleted while importing
  }
}

Result<void> ImageImporter::run_import(store::ImageRecord& image) {
  std::string dir = image_dir(image.id);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return Error::Internal(fmt::format("cannot create {}: {}", dir, ec.message()));
  auto boot_json = TRY(parse_json(image.boot_json));
  auto boot = TRY(agent::BootSpec::from_json(boot_json));
  boot.kernel = TRY(copy_boot_file(boot.kernel, dir, "vmlinuz"));
  boot.initrd = TRY(copy_boot_file(boot.initrd, dir, "initrd.img"));

  auto last_write = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  agent::ImageImportRequest request{image.source_path, image.requested_format, dir + "/disk.qcow2", nullptr};
  request.on_progress = [&](double percent) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_write < std::chrono::milliseconds(250) && percent < 100) return;
    last_write = now;
    image.progress = percent;
    image.updated_at = clock_.now();
    (void)images_.update_image(image);
  };
  auto imported = TRY(agent_.import_image(request));
  image.source_format = imported.source_format;
  image.virtual_size_bytes = imported.virtual_size_bytes;
  image.size_bytes = imported.size_bytes;
  image.path = request.dest_path;
  image.boot_json = boot.to_json().dump();
  return Ok();
}

}  // namespace oriel::controller
