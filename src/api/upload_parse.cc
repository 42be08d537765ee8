// The pure parts of uploads: request bodies, chunk offsets, the sidecar
// file. Unit-tested without a server (tests/unit/api/uploads_test.cc).
#include <algorithm>
#include <cctype>
#include <cstdint>

#include "oriel/common/utf8.h"
#include "parse.h"
#include "uploads.h"

namespace oriel::api {
namespace {

constexpr std::string_view kFormats[] = {"auto", "qcow2", "raw", "vpc", "vhdx"};
constexpr size_t kMaxFilename = 255;

Result<void> check_filename(const std::string& name) {
  if (name.size() > kMaxFilename || !valid_utf8(name)) {
    return Error::InvalidArgument(fmt::format("field 'filename' must be at most {} bytes of UTF-8", kMaxFilename));
  }
  bool control = std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  if (control) return Error::InvalidArgument("field 'filename' has control characters");
  return Ok();
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

Result<NewUpload> parse_create_upload(std::string_view body) {
  auto j = TRY(parse_json(body));
  TRY(json_only_fields(j, {"name", "filename", "size", "format", "boot", "tenant_id", "shared"}));
  NewUpload u;
  u.name = TRY(json_string(j, "name"));
  if (u.name.empty() || u.name.size() > 200) return Error::InvalidArgument("field 'name' must be 1 to 200 bytes");
  u.filename = TRY(json_opt_string(j, "filename")).value_or("");
  TRY(check_filename(u.filename));
  u.size = TRY(json_int(j, "size", 1, INT64_MAX));
  u.format = TRY(json_opt_string(j, "format")).value_or("auto");
  if (u.format == "vhd") u.format = "vpc";  // what people call it
  if (std::find(std::begin(kFormats), std::end(kFormats), u.format) == std::end(kFormats)) {
    return Error::InvalidArgument(fmt::format("format '{}' is not one of auto, qcow2, raw, vpc, vhdx", u.format));
  }
  if (j.contains("boot")) u.boot = TRY(agent::BootSpec::from_json(j["boot"]));
  u.tenant_id = TRY(json_opt_string(j, "tenant_id")).value_or("");
  u.shared = TRY(json_opt_bool(j, "shared")).value_or(false);
  return u;
}

Result<int64_t> parse_chunk_offset(const std::map<std::string, std::string>& query) {
  auto it = query.find("offset");
  if (it == query.end()) return Error::InvalidArgument("the chunk's byte offset is missing: PUT ...?offset=N");
  return parse_query_int("offset", it->second, 0, INT64_MAX);
}

Result<void> check_chunk(int64_t offset, int64_t length, int64_t received, int64_t size) {
  if (offset != received) {
    return Error::Conflict(
        fmt::format("the upload has {} bytes: send the chunk at offset {}, not {}", received, received, offset));
  }
  if (length <= 0) return Error::InvalidArgument("the chunk is empty");
  if (length > size - offset) {
    return Error::InvalidArgument(
        fmt::format("a chunk of {} bytes at offset {} ends past the declared size of {} bytes", length, offset, size));
  }
  return Ok();
}

std::string upload_extension(std::string_view format, std::string_view filename) {
  if (format == "qcow2") return ".qcow2";
  if (format == "vpc") return ".vhd";
  if (format == "vhdx") return ".vhdx";
  if (format == "raw") return ".raw";
  auto dot = filename.rfind('.');
  if (dot == std::string_view::npos) return "";
  std::string ext = lower(filename.substr(dot));
  for (std::string_view known : {".qcow2", ".vhd", ".vhdx", ".raw", ".img"}) {
    if (ext == known) return ext;
  }
  return "";
}

bool abandoned(const UploadRecord& u, WallTime now, std::chrono::seconds idle_limit) {
  return u.state == "uploading" && now - u.updated_at >= idle_limit;
}

Json upload_json(const UploadRecord& u, std::chrono::seconds idle_limit) {
  Json j(Json::value_t::object);
  j["id"] = u.id;
  j["name"] = u.spec.name;
  j["filename"] = u.spec.filename;
  j["format"] = u.spec.format;
  j["size"] = u.spec.size;
  j["received"] = u.received;
  j["state"] = u.state;
  j["image_id"] = u.image_id.empty() ? Json(nullptr) : Json(u.image_id);
  j["boot"] = u.spec.boot.to_json();
  j["tenant_id"] = u.spec.tenant_id.empty() ? Json(nullptr) : Json(u.spec.tenant_id);
  j["shared"] = u.spec.shared;
  j["created_at"] = format_rfc3339(u.created_at);
  j["updated_at"] = format_rfc3339(u.updated_at);
  j["expires_at"] = u.state == "uploading" ? Json(format_rfc3339(u.updated_at + idle_limit)) : Json(nullptr);
  return j;
}

Json upload_meta_json(const UploadRecord& u) {
  Json j = upload_json(u, std::chrono::seconds(0));
  j.erase("received");  // the data file's size says
  j.erase("expires_at");
  j["owner_id"] = u.owner_id;
  j["owner_name"] = u.owner_name;
  return j;
}

Result<UploadRecord> upload_from_meta(const Json& j) {
  UploadRecord u;
  u.id = TRY(json_string(j, "id"));
  // The id names files: only the shape new_id() makes is taken.
  bool hex = u.id.size() == 19 && u.id.starts_with("up-") &&
             std::all_of(u.id.begin() + 3, u.id.end(), [](unsigned char c) { return std::isxdigit(c); });
  if (!hex) return Error::InvalidArgument(fmt::format("'{}' is not an upload id", u.id));
  u.spec.name = TRY(json_string(j, "name"));
  u.spec.filename = TRY(json_string(j, "filename"));
  u.spec.format = TRY(json_string(j, "format"));
  u.spec.size = TRY(json_int(j, "size", 1, INT64_MAX));
  if (j.contains("boot")) u.spec.boot = TRY(agent::BootSpec::from_json(j["boot"]));
  u.spec.tenant_id = TRY(json_opt_string(j, "tenant_id")).value_or("");
  u.spec.shared = TRY(json_opt_bool(j, "shared")).value_or(false);
  u.state = TRY(json_string(j, "state"));
  if (u.state != "uploading" && u.state != "importing") return Error::InvalidArgument("unknown upload state");
  u.image_id = TRY(json_opt_string(j, "image_id")).value_or("");
  u.owner_id = TRY(json_string(j, "owner_id"));
  u.owner_name = TRY(json_string(j, "owner_name"));
  u.created_at = TRY(parse_rfc3339(TRY(json_string(j, "created_at"))));
  u.updated_at = TRY(parse_rfc3339(TRY(json_string(j, "updated_at"))));
  return u;
}

}  // namespace oriel::api
