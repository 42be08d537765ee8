// The agent's disk layer: golden images imported with qemu-img, and linked
// clones (qcow2 overlays backed by a read-only golden image).
//
// Image files are untrusted input: every malformed case is an error with a
// reason, never an assert, and a failed import leaves no file behind. Files
// appear at their final names only complete (written under a temporary name,
// synced, renamed), so a crash at any point never leaves a half image or a
// half overlay where the agent would use it.
//
// Functions hold no shared state and are thread-safe, except that two calls
// must not target the same destination path at once. They block on qemu-img;
// callers run them off the event loop. Paths may be relative (they are made
// absolute against the working directory before qemu-img sees them, which
// also keeps qemu from reading "json:{...}" or "nbd:..." names as protocols).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "oriel/common/process.h"
#include "oriel/common/result.h"

namespace oriel::agent {

// ---------------------------------------------------------------- inspecting

// What `qemu-img info --output=json` says about an image.
struct DiskInfo {
  std::string format;          // qemu's driver name: qcow2, raw, vpc, vhdx, vmdk, ...
  uint64_t virtual_size = 0;   // bytes the guest sees
  uint64_t actual_size = 0;    // bytes allocated on the host
  uint64_t cluster_size = 0;   // 0 when the format has none (raw, fixed VHD)
  std::string backing_file;    // as recorded in the image; empty if standalone
  std::string backing_format;  // empty if unrecorded
  bool encrypted = false;
  bool dirty = false;    // not closed cleanly (qcow2 lazy refcounts, VHDX log)
  bool corrupt = false;  // qcow2's own "corrupt" bit
};

// Runs `qemu-img info`. An empty format lets qemu probe. An image qemu cannot
// open is InvalidArgument with qemu's reason; a missing file is NotFound.
Result<DiskInfo> inspect_disk(ProcessRunner& runner, const std::string& path, const std::string& format = "");

// Parses `qemu-img info --output=json` (one image, not --backing-chain).
// Malformed or mistyped output is an error, never an exception.
Result<DiskInfo> parse_disk_info(std::string_view json);

// ------------------------------------------------------------------- import

// Imports an external image as a golden image. Formats: "auto" (qemu's probe,
// plus the checks below), "qcow2", "raw", "vpc" (VHD; "vhd" is accepted as an
// alias) and "vhdx". Precondition: dest_path does not exist and its directory
// does; concurrent imports to the same dest_path are not supported.
struct ImportRequest {
  std::string source_path;
  std::string format = "auto";
  std::string dest_path;  // the golden image to write, a .qcow2 in the agent's image dir
  // Optional. Called on the calling thread with strictly increasing values,
  // ending with exactly 100 once the image is in place (and only then).
  std::function<void(double percent)> on_progress;
};

struct ImportedDisk {
  std::string source_format;  // the detected or confirmed source format (qemu's name)
  uint64_t virtual_size = 0;  // bytes the guest sees
  uint64_t size_on_disk = 0;  // bytes allocated by the golden image
};

// Validates the source (see below), converts it with `qemu-img convert` to
// dest_path + ".partial", checks the result, makes it read-only (0444) and
// renames it to dest_path. Errors:
//   NotFound         the source does not exist
//   InvalidArgument  not a regular readable file, not a disk image, a format
//                    that does not match the file, a damaged or truncated
//                    image, a backing file, encryption, an unknown format name
//   Conflict         dest_path already exists (clones may depend on it)
//   Unavailable      no space left, or qemu-img cannot be run
//   Timeout/Internal qemu-img killed or failing for another reason
// Validation: raw must be a plausible disk (check_plausible_raw); VHD gets the
// structural check of validate_vhd_file (qemu-img check does not support
// vpc, and qemu reads a fixed VHD without its footer as raw); qcow2 and vhdx
// get `qemu-img check` (corruption fails, leaked clusters are fine).
Result<ImportedDisk> import_disk(ProcessRunner& runner, const ImportRequest& request);

// ------------------------------------------------------------ linked clones

// Creates a qcow2 overlay at overlay_path backed by golden_path (recorded as
// an absolute path, backing format qcow2), with the golden image's size. The
// overlay is made under overlay_path + ".tmp" and linked into place, so a
// crash never leaves a half overlay. NotFound if the golden image is missing,
// Conflict if overlay_path exists (use reset_linked_clone to replace it).
Result<void> create_linked_clone(ProcessRunner& runner, const std::string& golden_path,
                                 const std::string& overlay_path);

// Discards everything written to the overlay: a fresh overlay is made beside
// it and renamed over it, so at every instant overlay_path is either the old
// overlay or the new one. Creates the overlay if it does not exist.
// Precondition: no QEMU has the overlay open (the caller stops the VM first).
Result<void> reset_linked_clone(ProcessRunner& runner, const std::string& golden_path, const std::string& overlay_path);

// ----------------------------------------------- pure helpers (unit-tested)

// One line of `qemu-img convert -p` output, "    (45.12/100%)" → 45.12.
// Anything else, or a value outside [0, 100], is std::nullopt.
std::optional<double> parse_progress_line(std::string_view line);

// Whether bytes (the start of a file) are plainly text: printable ASCII,
// whitespace and well-formed UTF-8, with no NUL. A multi-byte sequence cut by
// the end of the buffer is allowed. Empty is not text.
bool looks_like_text(std::string_view bytes);

// QEMU probes any file it does not recognise as "raw". This rejects what
// cannot be a raw disk: an empty file, a size that is not a whole number of
// 512-byte sectors, or a start (`head`, up to 4 KiB) that is plainly text.
Result<void> check_plausible_raw(std::string_view path, uint64_t size, std::string_view head);

// VHD, after Microsoft's "Virtual Hard Disk Image Format Specification"
// (October 2006): a 512-byte footer ends every VHD; dynamic and differencing
// disks also copy it at offset 0 and add a 1024-byte dynamic header and a
// Block Allocation Table (BAT) of big-endian sector numbers, each allocated
// block being a sector bitmap followed by the block's data.
enum class VhdType : uint32_t { kFixed = 2, kDynamic = 3, kDifferencing = 4 };

// The "Hard Disk Footer Format" fields Oriel relies on.
struct VhdFooter {
  VhdType type = VhdType::kFixed;
  uint64_t current_size = 0;  // the disk's size in bytes
  uint64_t data_offset = 0;   // where the dynamic header is (dynamic and differencing)
};

// The "Dynamic Disk Header Format" fields Oriel relies on.
struct VhdDynamicHeader {
  uint64_t table_offset = 0;       // where the BAT is
  uint32_t max_table_entries = 0;  // BAT entries
  uint32_t block_size = 0;         // data bytes per block (a power of two)
};

// Whether a 512-byte sector starts with the footer cookie "conectix".
bool has_vhd_cookie(std::string_view sector);

// Parse and verify cookie, checksum (one's complement of the byte sum) and
// the fields' ranges. `bytes` is the 512-byte footer or the 1024-byte header.
Result<VhdFooter> parse_vhd_footer(std::string_view bytes);
Result<VhdDynamicHeader> parse_vhd_dynamic_header(std::string_view bytes);

struct VhdSummary {
  VhdType type = VhdType::kFixed;
  uint64_t current_size = 0;
  uint32_t block_size = 0;        // 0 for a fixed disk
  uint64_t allocated_blocks = 0;  // 0 for a fixed disk
};

// Reads exactly `length` bytes at `offset`; the validator asks only for
// ranges inside [0, file_size). A short read is an error.
using VhdReader = std::function<Result<std::string>(uint64_t offset, size_t length)>;

// Structural check of a whole VHD: footer(s), dynamic header, BAT, and every
// allocated block inside the file. Rejects differencing disks (they need
// their parent). A truncated file fails with a reason that says so, e.g.
// "VHD is truncated: block 12 at offset 25167872 lies beyond the end of the
// file (4196608 bytes)". Memory use is bounded whatever the header claims.
Result<VhdSummary> validate_vhd(const VhdReader& read, uint64_t file_size);
Result<VhdSummary> validate_vhd_file(const std::string& path);

}  // namespace oriel::agent
