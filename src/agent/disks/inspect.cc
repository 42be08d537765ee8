// Reading qemu-img's reports (info, check, convert -p) and the raw-disk
// plausibility check. qemu-img's output is external input: every field is
// read through the typed JSON helpers, so a surprise is an error, not a throw.
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>

#include "disk_files.h"
#include "oriel/agent/disks.h"
#include "oriel/common/json.h"

namespace oriel::agent {
namespace {

using namespace std::chrono_literals;
using namespace disk_files;

constexpr int64_t kMaxSize = INT64_MAX;

Result<uint64_t> size_field(const Json& j, std::string_view field) {
  auto v = TRY(json_opt_int(j, field, 0, kMaxSize));
  return static_cast<uint64_t>(v.value_or(0));
}

// format-specific.data.corrupt, which only qcow2 reports.
Result<bool> corrupt_bit(const Json& j) {
  auto specific = j.find("format-specific");
  if (specific == j.end() || !specific->is_object()) return false;
  auto data = specific->find("data");
  if (data == specific->end() || !data->is_object()) return false;
  auto corrupt = TRY(json_opt_bool(*data, "corrupt"));
  return corrupt.value_or(false);
}

// Length of the UTF-8 sequence a lead byte starts (RFC 3629 §4), 0 if invalid.
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// RFC 3629 §4: the second byte's range excludes overlongs and surrogates.
bool second_byte_ok(unsigned char lead, unsigned char b) {
  if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
  if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
  if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
  if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
  return (b & 0xC0) == 0x80;
}

bool is_text_ascii(unsigned char c) { return (c >= 0x20 && c < 0x7F) || (c >= '\t' && c <= '\r'); }

// `qemu-img check --output=json`: the first ERROR line on stderr says what.
std::string corruption_reason(const ProcessResult& r) {
  size_t at = r.err.find("ERROR");
  if (at == std::string::npos) return qemu_reason(r.err);
  return r.err.substr(at, r.err.find('\n', at) - at);
}

// qemu's reason without its "Could not open '<path>': " prefixes, which
// repeat the path the message already names.
std::string open_reason(std::string_view err, const std::string& path) {
  std::string reason = qemu_reason(err);
  std::string prefix = fmt::format("Could not open '{}': ", path);
  while (reason.starts_with(prefix) && reason.size() > prefix.size()) reason.erase(0, prefix.size());
  return reason;
}

}  // namespace

Result<DiskInfo> parse_disk_info(std::string_view json) {
  auto parsed = parse_json(json);
  if (!parsed.ok() || !parsed->is_object()) return Error::Internal("qemu-img info printed no JSON object");
  const Json& j = *parsed;
  auto info = [&]() -> Result<DiskInfo> {
    DiskInfo d;
    d.format = TRY(json_string(j, "format"));
    d.virtual_size = static_cast<uint64_t>(TRY(json_int(j, "virtual-size", 0, kMaxSize)));
    d.actual_size = TRY(size_field(j, "actual-size"));
    d.cluster_size = TRY(size_field(j, "cluster-size"));
    d.backing_file = TRY(json_opt_string(j, "backing-filename")).value_or("");
    d.backing_format = TRY(json_opt_string(j, "backing-filename-format")).value_or("");
    d.encrypted = TRY(json_opt_bool(j, "encrypted")).value_or(false);
    d.dirty = TRY(json_opt_bool(j, "dirty-flag")).value_or(false);
    d.corrupt = TRY(corrupt_bit(j));
    return d;
  }();
  if (!info.ok()) return info.error().context("unexpected qemu-img info output");
  return info;
}

Result<DiskInfo> inspect_disk(ProcessRunner& runner, const std::string& path, const std::string& format) {
  std::string abs = absolute_path(path);
  struct stat st {};
  if (::stat(abs.c_str(), &st) != 0 && errno == ENOENT) return Error::NotFound("disk image", abs);
  std::vector<std::string> args = {"info", "--output=json"};
  if (!format.empty()) args.insert(args.end(), {"-f", format});
  args.push_back(abs);
  auto r = TRY(run_qemu_img(runner, args, {.timeout = 60s}));
  if (r.exit_code != 0) {
    std::string as = format.empty() ? "a disk image" : "a " + format + " image";
    return Error::InvalidArgument(fmt::format("cannot read '{}' as {}: {}", abs, as, open_reason(r.err, abs)));
  }
  return parse_disk_info(r.out);
}

namespace disk_files {

Result<void> check_image(ProcessRunner& runner, const std::string& path, const std::string& format) {
  auto r = TRY(run_qemu_img(runner, {"check", "--output=json", "-f", format, path}, {.timeout = 30min}));
  switch (r.exit_code) {
    case 0:   // clean
    case 3:   // leaked clusters only: wasted space, no damage
    case 63:  // the format does not support checks
      return Ok();
    case 2:
      return Error::InvalidArgument(fmt::format("'{}' is a corrupt {} image: {}", path, format, corruption_reason(r)));
    default:
      return Error::InvalidArgument(
          fmt::format("qemu-img check could not finish on '{}': {}", path, qemu_reason(r.err)));
  }
}

}  // namespace disk_files

std::optional<double> parse_progress_line(std::string_view line) {
  size_t open = line.find('(');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(open + 1);
  constexpr std::string_view kTail = "/100%)";
  size_t slash = rest.find(kTail);
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + slash, v, std::chars_format::fixed);
  if (ec != std::errc() || end != rest.data() + slash) return std::nullopt;
  if (!std::isfinite(v) || v < 0 || v > 100) return std::nullopt;
  return v;
}

bool looks_like_text(std::string_view bytes) {
  if (bytes.empty()) return false;
  size_t i = 0;
  while (i < bytes.size()) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      if (!is_text_ascii(c)) return false;
      ++i;
      continue;
    }
    size_t n = utf8_length(c);
    if (n == 0) return false;
    for (size_t k = 1; k < n && i + k < bytes.size(); ++k) {
      auto b = static_cast<unsigned char>(bytes[i + k]);
      if (k == 1 ? !second_byte_ok(c, b) : (b & 0xC0) != 0x80) return false;
    }
    i += n;  // a sequence cut by the end of the buffer counts as text
  }
  return true;
}

Result<void> check_plausible_raw(std::string_view path, uint64_t size, std::string_view head) {
  if (size == 0) return Error::InvalidArgument(fmt::format("'{}' is not a disk image: the file is empty", path));
  if (looks_like_text(head)) {
    return Error::InvalidArgument(fmt::format("'{}' is not a disk image: it starts with plain text", path));
  }
  if (size % 512 != 0) {
    return Error::InvalidArgument(fmt::format(
        "'{}' is not a disk image: its size ({} bytes) is not a whole number of 512-byte sectors", path, size));
  }
  return Ok();
}

}  // namespace oriel::agent
