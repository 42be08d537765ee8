// Golden-image import: validate the source, convert it to qcow2 under a
// temporary name, check the result, seal it read-only and rename it into
// place. Every error path drops the temporary file (ScratchFile), so a failed
// or killed import leaves nothing in the destination directory.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>

#include "disk_files.h"
#include "oriel/agent/disks.h"

namespace oriel::agent {
namespace {

using namespace std::chrono_literals;
using namespace disk_files;

constexpr std::string_view kImportable[] = {"qcow2", "raw", "vpc", "vhdx"};
constexpr size_t kHeadSize = 4096;
constexpr auto kConvertTimeout = std::chrono::hours(12);

// The file to import and the bytes format detection looks at.
struct Source {
  std::string path;  // absolute
  uint64_t size = 0;
  std::string head;  // the first kHeadSize bytes (fewer if the file is smaller)
  std::string tail;  // the last 512 bytes (empty if the file is smaller)
};

Result<std::string> canonical_format(std::string_view requested) {
  if (requested.empty() || requested == "auto") return std::string("auto");
  if (requested == "vhd") return std::string("vpc");
  if (std::find(std::begin(kImportable), std::end(kImportable), requested) != std::end(kImportable)) {
    return std::string(requested);
  }
  return Error::InvalidArgument(
      fmt::format("unknown image format '{}': expected auto, qcow2, raw, vpc (VHD) or vhdx", requested));
}

Result<Source> open_source(const std::string& path) {
  if (path.empty()) return Error::InvalidArgument("no source image path given");
  Source src{absolute_path(path)};
  struct stat st {};
  if (::stat(src.path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Error::NotFound("disk image", src.path);
    return Error::InvalidArgument(fmt::format("cannot access '{}': {}", src.path, errno_text(errno)));
  }
  if (S_ISDIR(st.st_mode))
    return Error::InvalidArgument(fmt::format("'{}' is a directory, not a disk image", src.path));
  if (!S_ISREG(st.st_mode)) return Error::InvalidArgument(fmt::format("'{}' is not a regular file", src.path));
  auto fd = TRY(open_for_reading(src.path));
  src.size = static_cast<uint64_t>(st.st_size);
  src.head = TRY(read_at(fd.get(), 0, static_cast<size_t>(std::min<uint64_t>(src.size, kHeadSize))));
  if (src.size >= 512) src.tail = TRY(read_at(fd.get(), src.size - 512, 512));
  return src;
}

Result<std::string> check_destination(const std::string& dest_path) {
  if (dest_path.empty()) return Error::InvalidArgument("no destination path given");
  std::string dest = absolute_path(dest_path);
  std::string dir = std::filesystem::path(dest).parent_path().string();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error::InvalidArgument(fmt::format("destination directory '{}' does not exist", dir));
  }
  if (::lstat(dest.c_str(), &st) == 0) {
    return Error::Conflict(
        fmt::format("'{}' already exists: a golden image is never overwritten, linked clones may depend on it", dest));
  }
  return dest;
}

// What a file's name promises, for the truncated-fixed-VHD case below.
std::string format_by_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".vhd") return "vpc";
  if (ext == ".vhdx") return "vhdx";
  if (ext == ".qcow2") return "qcow2";
  return "";
}

// How messages name a format: qemu's "vpc" is what users call VHD.
std::string format_name(std::string_view format) {
  if (format == "vpc") return "VHD (vpc)";
  if (format == "vhdx") return "VHDX";
  return std::string(format);
}

Error mismatch(const Source& src, const std::string& requested, const std::string& found) {
  if (requested == "vpc" && found == "raw") {
    return Error::InvalidArgument(fmt::format(
        "'{}' is not a VHD: it has no VHD footer at its start or end (a fixed VHD whose end was cut off, that is "
        "a truncated one, looks like this)",
        src.path));
  }
  return Error::InvalidArgument(
      fmt::format("'{}' is not a {} image: it is a {} image", src.path, format_name(requested), format_name(found)));
}

// qemu's probe, corrected for VHD: QEMU recognises only the footer copy at
// offset 0 (dynamic disks), so a fixed VHD (footer at the end only) probes
// as raw, and a truncated dynamic VHD fails to open; the VHD validator then
// gives the reason.
Result<std::string> probe_format(ProcessRunner& runner, const Source& src) {
  auto probed = inspect_disk(runner, src.path);
  bool vhd_at_end = has_vhd_cookie(src.tail) && (!probed.ok() || probed->format == "raw");
  if (has_vhd_cookie(src.head) || vhd_at_end) return std::string("vpc");
  if (!probed.ok()) return probed.take_error();
  return probed->format;
}

Result<std::string> detect_format(ProcessRunner& runner, const Source& src, const std::string& requested) {
  std::string found = TRY(probe_format(runner, src));
  if (std::find(std::begin(kImportable), std::end(kImportable), found) == std::end(kImportable)) {
    return Error::InvalidArgument(fmt::format(
        "'{}' is a {} image; Oriel imports qcow2, raw, VHD (vpc) and VHDX: convert it first", src.path, found));
  }
  if (requested != "auto" && requested != found) return mismatch(src, requested, found);
  std::string named = format_by_extension(src.path);
  if (requested == "auto" && found == "raw" && !named.empty()) {
    return Error::InvalidArgument(fmt::format(
        "'{}' is named like a {} image but has none of its structure: it is truncated or damaged (to import it "
        "as a raw disk anyway, give the format \"raw\")",
        src.path, format_name(named)));
  }
  return found;
}

// Everything that must hold before qemu-img convert reads the source.
Result<DiskInfo> check_source(ProcessRunner& runner, const Source& src, const std::string& format) {
  if (format == "raw") TRY(check_plausible_raw(src.path, src.size, src.head));
  if (format == "vpc") TRY(validate_vhd_file(src.path));
  DiskInfo info = TRY(inspect_disk(runner, src.path, format));
  if (!info.backing_file.empty()) {
    return Error::InvalidArgument(
        fmt::format("'{}' has a backing file ('{}'); a golden image must stand alone: merge it first (qemu-img convert "
                    "without -B, or qemu-img rebase -b '')",
                    src.path, info.backing_file));
  }
  if (info.encrypted) {
    return Error::InvalidArgument(fmt::format("'{}' is encrypted: import a decrypted copy", src.path));
  }
  if (info.corrupt) return Error::InvalidArgument(fmt::format("'{}' is marked corrupt by qemu", src.path));
  if (info.virtual_size == 0) return Error::InvalidArgument(fmt::format("'{}' is a disk of 0 bytes", src.path));
  if (format == "qcow2" || format == "vhdx") TRY(check_image(runner, src.path, format));
  return info;
}

Error convert_error(const ProcessResult& r, const Source& src) {
  if (r.exit_code > 128) {
    return Error::Internal(fmt::format("qemu-img convert was killed (signal {})", r.exit_code - 128));
  }
  std::string reason = qemu_reason(r.err);
  if (reason.find("No space left") != std::string::npos) {
    return Error::Unavailable(fmt::format("no space left for the golden image: {}", reason));
  }
  if (reason.find("error while reading") != std::string::npos) {
    return Error::InvalidArgument(fmt::format("cannot read '{}': {}", src.path, reason));
  }
  return Error::Internal(fmt::format("qemu-img convert failed: {}", reason));
}

// Reports convert's progress strictly increasing and below 100: 100 is for
// when the golden image is in place.
Result<void> convert(ProcessRunner& runner, const Source& src, const std::string& format, const std::string& to,
                     const std::function<void(double)>& on_progress) {
  double last = 0;
  ProcessOptions options{.timeout = kConvertTimeout};
  options.on_output_line = [&](std::string_view line) {
    auto percent = parse_progress_line(line);
    if (!on_progress || !percent || *percent <= last || *percent >= 100) return;
    last = *percent;
    on_progress(*percent);
  };
  auto r = TRY(run_qemu_img(runner, {"convert", "-p", "-O", "qcow2", "-f", format, src.path, to}, options));
  if (r.exit_code != 0) return convert_error(r, src);
  return Ok();
}

// Checks the converted image, makes it read-only and durable, and gives it
// its final name. On error the caller's ScratchFile removes it.
Result<ImportedDisk> seal(ProcessRunner& runner, ScratchFile& partial, const std::string& dest) {
  auto checked = check_image(runner, partial.path(), "qcow2");
  if (!checked.ok()) return Error::Internal(checked.error().message()).context("the converted image failed its check");
  DiskInfo info = TRY(inspect_disk(runner, partial.path(), "qcow2"));
  TRY(sync_file(partial.path()));
  if (::chmod(partial.path().c_str(), 0400) != 0) {  // read-only, and only for orield's user
    return Error::Internal(fmt::format("cannot make '{}' read-only: {}", partial.path(), errno_text(errno)));
  }
  TRY(move_file(partial.path(), dest, Replace::kNo));
  partial.keep();  // it is dest now
  auto synced = sync_parent_dir(dest);
  struct stat st {};
  if (!synced.ok() || ::stat(dest.c_str(), &st) != 0) {
    ::unlink(dest.c_str());
    return synced.ok() ? Error::Internal(fmt::format("'{}' vanished after the rename", dest)) : synced.take_error();
  }
  return ImportedDisk{"", info.virtual_size, static_cast<uint64_t>(st.st_blocks) * 512};
}

}  // namespace

Result<ImportedDisk> import_disk(ProcessRunner& runner, const ImportRequest& request) {
  std::string requested = TRY(canonical_format(request.format));
  Source src = TRY(open_source(request.source_path));
  std::string dest = TRY(check_destination(request.dest_path));
  std::string format = TRY(detect_format(runner, src, requested));
  TRY(check_source(runner, src, format));
  ScratchFile partial(dest + ".partial");
  TRY(convert(runner, src, format, partial.path(), request.on_progress));
  ImportedDisk imported = TRY(seal(runner, partial, dest));
  imported.source_format = format;
  if (request.on_progress) request.on_progress(100);
  return imported;
}

}  // namespace oriel::agent
