// Linked clones: a qcow2 overlay whose backing file is the read-only golden
// image. The overlay is created beside its final name and moved into place,
// so the name only ever holds a complete overlay.
#include <sys/stat.h>

#include <cerrno>
#include <chrono>

#include "disk_files.h"
#include "oriel/agent/disks.h"

namespace oriel::agent {
namespace {

using namespace std::chrono_literals;
using namespace disk_files;

Result<std::string> golden_image(const std::string& golden_path) {
  if (golden_path.empty()) return Error::InvalidArgument("no golden image path given");
  std::string golden = absolute_path(golden_path);
  struct stat st {};
  if (::stat(golden.c_str(), &st) != 0) return Error::NotFound("golden image", golden);
  if (!S_ISREG(st.st_mode)) return Error::InvalidArgument(fmt::format("golden image '{}' is not a file", golden));
  return golden;
}

// Writes a complete, synced overlay at `path` (removed by the caller's
// ScratchFile on failure). The backing path is absolute, so the overlay
// works from any working directory and wherever QEMU is started.
Result<void> write_overlay(ProcessRunner& runner, const std::string& golden, const std::string& path) {
  auto r =
      TRY(run_qemu_img(runner, {"create", "-q", "-f", "qcow2", "-b", golden, "-F", "qcow2", path}, {.timeout = 60s}));
  if (r.exit_code != 0) {
    return Error::Internal(fmt::format("cannot create an overlay on '{}': {}", golden, qemu_reason(r.err)));
  }
  return sync_file(path);
}

Result<void> place_overlay(ProcessRunner& runner, const std::string& golden_path, const std::string& overlay_path,
                           Replace replace) {
  std::string golden = TRY(golden_image(golden_path));
  if (overlay_path.empty()) return Error::InvalidArgument("no overlay path given");
  std::string overlay = absolute_path(overlay_path);
  if (overlay == golden) return Error::InvalidArgument(fmt::format("'{}' cannot be its own overlay", golden));
  ScratchFile tmp(overlay + ".tmp");
  TRY(write_overlay(runner, golden, tmp.path()));
  TRY(move_file(tmp.path(), overlay, replace));
  tmp.keep();  // it is the overlay now
  return sync_parent_dir(overlay);
}

}  // namespace

Result<void> create_linked_clone(ProcessRunner& runner, const std::string& golden_path,
                                 const std::string& overlay_path) {
  struct stat st {};
  if (!overlay_path.empty() && ::lstat(absolute_path(overlay_path).c_str(), &st) == 0) {
    return Error::Conflict(fmt::format("overlay '{}' already exists", absolute_path(overlay_path)));
  }
  return place_overlay(runner, golden_path, overlay_path, Replace::kNo);
}

Result<void> reset_linked_clone(ProcessRunner& runner, const std::string& golden_path,
                                const std::string& overlay_path) {
  return place_overlay(runner, golden_path, overlay_path, Replace::kYes);
}

}  // namespace oriel::agent
