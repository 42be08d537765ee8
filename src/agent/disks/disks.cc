#include "oriel/agent/disks.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "oriel/common/json.h"

namespace oriel::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view kFormats[] = {"qcow2", "raw", "vpc", "vhdx"};

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.empty() ? "no message" : line;
}

Result<ProcessResult> qemu_img(ProcessRunner& runner, std::vector<std::string> args, ProcessOptions options = {}) {
  args.insert(args.begin(), "qemu-img");
  return runner.run(args, options);
}

Result<void> check_source_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Error::InvalidArgument(fmt::format("'{}' does not exist", path));
  if (!S_ISREG(st.st_mode)) return Error::InvalidArgument(fmt::format("'{}' is not a regular file", path));
  if (::access(path.c_str(), R_OK) != 0) return Error::InvalidArgument(fmt::format("'{}' is not readable", path));
  return Ok();
}

// qemu-img check: 0 clean, 1 check failed, 2 corrupt, 3 leaked clusters only, 63 unsupported.
Result<void> check_consistency(ProcessRunner& runner, const std::string& path, const std::string& format) {
  auto r = TRY(qemu_img(runner, {"check", "-q", "-f", format, path}, {.timeout = 30min}));
  switch (r.exit_code) {
    case 0:
    case 3:
    case 63:
      return Ok();
    case 2:
      return Error::InvalidArgument(fmt::format("the {} image is corrupt: {}", format, first_line(r.err + r.out)));
    default:
      return Error::InvalidArgument(fmt::format("the {} image cannot be checked: {}", format, first_line(r.err)));
  }
}

// QEMU's probe looks at the start of a file only, so a fixed VHD (footer at
// the end) probes as raw: look for the footer ourselves.
bool has_vhd_footer_at_end(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  auto size = static_cast<int64_t>(in.tellg());
  if (!in || size < 512) return false;
  char cookie[8] = {};
  in.seekg(size - 512);
  in.read(cookie, sizeof cookie);
  return std::string_view(cookie, sizeof cookie) == "conectix";
}

// The format a file's name promises, if any.
std::string format_by_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".vhd") return "vpc";
  if (ext == ".vhdx") return "vhdx";
  if (ext == ".qcow2") return "qcow2";
  return "";
}

Result<std::string> detect_format(ProcessRunner& runner, const std::string& path, const std::string& requested) {
  auto info = inspect_disk(runner, path);
  if (!info.ok()) return Error::InvalidArgument(fmt::format("not a disk image: {}", info.error().message()));
  if (info->format == "raw" && has_vhd_footer_at_end(path)) info->format = "vpc";
  if (std::find(std::begin(kFormats), std::end(kFormats), info->format) == std::end(kFormats)) {
    return Error::InvalidArgument(fmt::format("'{}' is a {} image; Oriel imports qcow2, raw, vpc (VHD) and vhdx",
                                              path, info->format));
  }
  if (requested != "auto" && requested != info->format) {
    return Error::InvalidArgument(fmt::format("'{}' is not {}: it looks like {}", path, requested, info->format));
  }
  if (std::string named = format_by_extension(path); requested == "auto" && !named.empty() && named != info->format) {
    return Error::InvalidArgument(fmt::format(
        "'{}' is named like a {} image but reads as {}: the file is truncated or damaged (or pass the format)",
        path, named, info->format));
  }
  if (!info->backing_file.empty()) {
    return Error::InvalidArgument(fmt::format(
        "'{}' depends on a backing file ({}); a golden image must stand alone: convert it first", path,
        info->backing_file));
  }
  if (info->encrypted) return Error::InvalidArgument(fmt::format("'{}' is encrypted", path));
  return info->format;
}

Result<void> verify_source(ProcessRunner& runner, const std::string& path, const std::string& format) {
  if (format == "raw") return check_plausible_raw(path);
  if (format == "vpc") return validate_vhd(path);
  return check_consistency(runner, path, format);
}

Result<void> convert(ProcessRunner& runner, const ImportRequest& req, const std::string& format,
                     const std::string& partial) {
  double last = 0;
  ProcessOptions options;
  options.timeout = 12h;
  options.on_output_line = [&](std::string_view line) {
    auto p = parse_progress_line(line);
    if (p && *p > last && *p < 100 && req.on_progress) req.on_progress(last = *p);
  };
  auto r = TRY(qemu_img(runner, {"convert", "-p", "-f", format, "-O", "qcow2", req.source_path, partial}, options));
  if (r.exit_code != 0) {
    return Error::InvalidArgument(fmt::format("conversion failed: {}", first_line(r.err)));
  }
  return Ok();
}

}  // namespace

std::optional<double> parse_progress_line(std::string_view line) {
  auto open = line.find('(');
  auto slash = line.find("/100%)", open);
  if (open == std::string_view::npos || slash == std::string_view::npos) return std::nullopt;
  std::string number(line.substr(open + 1, slash - open - 1));
  char* end = nullptr;
  double v = std::strtod(number.c_str(), &end);
  if (end == number.c_str() || *end != '\0' || !std::isfinite(v) || v < 0 || v > 100) return std::nullopt;
  return v;
}

Result<void> check_plausible_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Error::InvalidArgument(fmt::format("cannot open '{}'", path));
  auto size = static_cast<uint64_t>(in.tellg());
  if (size == 0) return Error::InvalidArgument(fmt::format("not a disk image: '{}' is empty", path));
  if (size % 512 != 0) {
    return Error::InvalidArgument(
        fmt::format("not a disk image: '{}' is {} bytes, not a whole number of 512-byte sectors", path, size));
  }
  std::string head(static_cast<size_t>(std::min<uint64_t>(size, 4096)), '\0');
  in.seekg(0);
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  bool text = std::all_of(head.begin(), head.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u == '\n' || u == '\r' || u == '\t' || (u >= 0x20 && u != 0x7f);
  });
  if (text) return Error::InvalidArgument(fmt::format("not a disk image: '{}' starts with plain text", path));
  return Ok();
}

Result<DiskInfo> inspect_disk(ProcessRunner& runner, const std::string& path, const std::string& format) {
  std::vector<std::string> args = {"info", "--output=json"};
  if (!format.empty()) args.insert(args.end(), {"-f", format});
  args.push_back(path);
  auto r = TRY(qemu_img(runner, args, {.timeout = 60s}));
  if (r.exit_code != 0) return Error::InvalidArgument(first_line(r.err));
  auto j = parse_json(r.out);
  if (!j.ok() || !j->is_object()) return Error::Internal("qemu-img info printed no JSON");
  DiskInfo info;
  info.format = j->value("format", "");
  info.virtual_size = j->value("virtual-size", uint64_t{0});
  info.actual_size = j->value("actual-size", uint64_t{0});
  info.backing_file = j->value("backing-filename", "");
  info.encrypted = j->value("encrypted", false);
  return info;
}

Result<ImportedDisk> import_disk(ProcessRunner& runner, const ImportRequest& req) {
  TRY(check_source_file(req.source_path));
  std::string format = TRY(detect_format(runner, req.source_path, req.format));
  TRY(verify_source(runner, req.source_path, format));
  std::string partial = req.dest_path + ".partial";
  std::error_code ec;
  fs::remove(partial, ec);
  auto done = [&]() -> Result<ImportedDisk> {
    TRY(convert(runner, req, format, partial));
    TRY(check_consistency(runner, partial, "qcow2"));
    auto info = TRY(inspect_disk(runner, partial, "qcow2"));
    ::chmod(partial.c_str(), 0444);
    std::error_code rename_ec;
    fs::rename(partial, req.dest_path, rename_ec);
    if (rename_ec) return Error::Internal(fmt::format("cannot move the image into place: {}", rename_ec.message()));
    if (req.on_progress) req.on_progress(100);
    return ImportedDisk{format, info.virtual_size, fs::file_size(req.dest_path)};
  }();
  if (!done.ok()) fs::remove(partial, ec);
  return done;
}

Result<void> create_linked_clone(ProcessRunner& runner, const std::string& golden_path,
                                 const std::string& overlay_path) {
  if (golden_path.empty() || golden_path[0] != '/') {
    return Error::InvalidArgument(fmt::format("golden image path '{}' must be absolute", golden_path));
  }
  std::string tmp = overlay_path + ".new";
  std::error_code ec;
  fs::remove(tmp, ec);
  auto r = TRY(qemu_img(runner, {"create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", golden_path, tmp}, {.timeout = 60s}));
  if (r.exit_code != 0) {
    fs::remove(tmp, ec);
    return Error::Unavailable(fmt::format("cannot create the linked clone: {}", first_line(r.err)));
  }
  fs::rename(tmp, overlay_path, ec);
  if (ec) return Error::Internal(fmt::format("cannot move the linked clone into place: {}", ec.message()));
  return Ok();
}

Result<void> reset_linked_clone(ProcessRunner& runner, const std::string& golden_path,
                                const std::string& overlay_path) {
  return create_linked_clone(runner, golden_path, overlay_path);  // the rename replaces the old overlay
}

}  // namespace oriel::agent
