// The agent's disk layer: golden images imported with qemu-img, and linked
// clones (qcow2 overlays backed by a read-only golden image). Image files
// are untrusted input: every malformed case is an error with a reason,
// never an assert, and a failed import leaves no file behind.
// Functions are thread-safe (no shared state); they block on qemu-img.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "oriel/common/process.h"
#include "oriel/common/result.h"

namespace oriel::agent {

struct DiskInfo {
  std::string format;        // qemu's driver name: qcow2, raw, vpc, vhdx, ...
  uint64_t virtual_size = 0;
  uint64_t actual_size = 0;  // bytes on disk
  std::string backing_file;  // empty if standalone
  bool encrypted = false;
};

// qemu-img info --output=json; format empty = let qemu probe.
Result<DiskInfo> inspect_disk(ProcessRunner& runner, const std::string& path, const std::string& format = "");

struct ImportRequest {
  std::string source_path;
  std::string format = "auto";  // auto | qcow2 | raw | vpc | vhdx
  std::string dest_path;        // the golden image to write (qcow2)
  std::function<void(double percent)> on_progress;  // optional; increasing, ends at 100
};

struct ImportedDisk {
  std::string source_format;
  uint64_t virtual_size = 0;
  uint64_t size_on_disk = 0;
};

// Detects and checks the source, converts it to a standalone qcow2 at
// dest_path (through dest_path.partial, renamed into place when verified),
// and makes it read-only.
Result<ImportedDisk> import_disk(ProcessRunner& runner, const ImportRequest& request);

// A qcow2 overlay on the golden image, created under a temporary name and
// renamed, so a crash never leaves a half-made overlay at overlay_path.
Result<void> create_linked_clone(ProcessRunner& runner, const std::string& golden_path,
                                 const std::string& overlay_path);
// Discards everything written to the overlay: a fresh overlay replaces it atomically.
Result<void> reset_linked_clone(ProcessRunner& runner, const std::string& golden_path,
                                const std::string& overlay_path);

// Pure helpers, exposed for tests.
std::optional<double> parse_progress_line(std::string_view line);  // "    (45.12/100%)" → 45.12
// Structural check of a VHD (Microsoft VHD spec: footer, dynamic header, BAT):
// catches truncation, which qemu's vpc driver reads silently as zeros.
Result<void> validate_vhd(const std::string& path);
// Whether a file qemu probes as "raw" can really be a disk (not text, not empty).
Result<void> check_plausible_raw(const std::string& path);

}  // namespace oriel::agent
