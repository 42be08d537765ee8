#include "backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/chrono.h>

#include "oriel/common/clock.h"
#include "oriel/common/files.h"
#include "oriel/common/json.h"
#include "oriel/store/store.h"
#include "roles.h"

namespace oriel {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kFormat = 1;
constexpr std::string_view kPrefix = "oriel-backup-";
constexpr std::string_view kSuffix = ".tar.zst";
// What an archive may hold, by the first part of each member's name.
const std::set<std::string, std::less<>> kMembers = {"manifest.json", "oriel.db", "config", "tls", "images"};

std::string images_dir(const std::string& data_dir, const std::string& shared_dir) {
  return (shared_dir.empty() ? data_dir : shared_dir) + "/images";
}

std::string timestamp(std::chrono::system_clock::time_point at) {
  return fmt::format("{:%Y%m%dT%H%M%SZ}", std::chrono::floor<std::chrono::seconds>(at));
}

// A directory of our own beside where the result goes (the same filesystem,
// so the result is a rename away), removed with what is in it unless kept.
class Scratch {
 public:
  static Result<Scratch> make(const fs::path& parent, std::string_view tag) {
    std::string pattern = (parent / fmt::format(".{}-XXXXXX", tag)).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Error::Unavailable(
          fmt::format("cannot make a directory in {}: {}", parent.string(), std::strerror(errno)));
    }
    return Scratch(pattern);
  }
  Scratch(Scratch&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  Scratch(const Scratch&) = delete;
  ~Scratch() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit Scratch(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

Result<std::string> run_tar(ProcessRunner& runner, std::vector<std::string> args) {
  args.insert(args.begin(), {"tar", "--zstd"});
  ProcessOptions options;
  options.timeout = 12h;  // golden images can be large
  auto result = TRY(runner.run(args, options));
  if (result.exit_code != 0) {
    std::string err = result.err.substr(0, result.err.find('\n'));
    return Error::InvalidArgument(fmt::format("tar failed ({}): {}", result.exit_code, err));
  }
  return result.out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The backups in `dir` beyond the newest `keep`, removed.
std::vector<std::string> prune(const fs::path& dir, int keep) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(kPrefix) && name.ends_with(kSuffix)) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());  // the names sort by time
  std::vector<std::string> removed;
  for (size_t i = 0; i + static_cast<size_t>(keep) < found.size(); ++i) {
    if (fs::remove(found[i], ec)) removed.push_back(found[i].string());
  }
  return removed;
}

Result<Json> catalogue(const std::string& images_json) {
  Json images = TRY(parse_json(images_json));
  for (auto& image : images) {
    std::error_code ec;
    auto size = fs::file_size(image.value("path", ""), ec);
    image["bytes"] = ec ? 0 : size;
  }
  return images;
}

// Every member is a plain file or directory under one of kMembers.
Result<void> check_members(ProcessRunner& runner, const std::string& file) {
  auto names = lines(TRY(run_tar(runner, {"-tf", file})));
  auto verbose = lines(TRY(run_tar(runner, {"-tvf", file})));
  if (names.empty() || names.size() != verbose.size()) {
    return Error::InvalidArgument(fmt::format("{} is not an Oriel backup (no members)", file));
  }
  bool manifest = false;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    fs::path path(name);
    char type = verbose[i].empty() ? '?' : verbose[i][0];
    std::string first = path.begin() == path.end() ? "" : path.begin()->string();
    bool climbs = std::any_of(path.begin(), path.end(), [](const fs::path& part) { return part == ".."; });
    if (path.is_absolute() || climbs || !kMembers.contains(first) || (type != '-' && type != 'd')) {
      return Error::InvalidArgument(fmt::format("{} is not an Oriel backup: it holds '{}'", file, name));
    }
    manifest |= name == "manifest.json";
  }
  if (!manifest) return Error::InvalidArgument(fmt::format("{} is not an Oriel backup: no manifest.json", file));
  return Ok();
}

// Moves `from` to `to`, first moving anything at `to` to `to`.before-restore-STAMP.
Result<void> put_in_place(const fs::path& from, const fs::path& to, const std::string& stamp) {
  std::error_code ec;
  if (fs::exists(to, ec)) {
    fs::rename(to, to.string() + ".before-restore-" + stamp, ec);
    if (ec) return Error::Unavailable(fmt::format("cannot move {} aside: {}", to.string(), ec.message()));
  }
  fs::rename(from, to, ec);
  if (ec) return Error::Unavailable(fmt::format("cannot move {} into place: {}", to.string(), ec.message()));
  return Ok();
}

}  // namespace

Result<BackupSummary> make_backup(const BackupOptions& o, ProcessRunner& runner, const Progress& progress) {
  if (o.to.empty()) return Error::InvalidArgument("--to is required: the backup file, or a directory for it");
  std::error_code ec;
  bool to_dir = o.to.ends_with('/') || fs::is_directory(o.to, ec);
  if (o.keep > 0 && !to_dir) return Error::InvalidArgument("--keep needs --to DIRECTORY");
  fs::path out = o.to;
  if (to_dir) {
    fs::create_directories(o.to, ec);
    if (ec) return Error::Unavailable(fmt::format("cannot make {}: {}", o.to, ec.message()));
    out = fs::path(o.to) / fmt::format("{}{}{}", kPrefix, timestamp(o.now), kSuffix);
  }
  fs::path parent = fs::absolute(out, ec).parent_path();
  if (!fs::is_directory(parent, ec)) return Error::NotFound("directory", parent.string());
  auto scratch = TRY(Scratch::make(parent, "oriel-backup"));
  const fs::path& stage = scratch.path();

  std::string images = images_dir(o.data_dir, o.shared_dir);
  Json manifest = {
      {"format", kFormat},           {"oriel_version", ORIEL_VERSION}, {"created_at", format_rfc3339(o.now)},
      {"host", o.host_name},         {"data_dir", o.data_dir},         {"images_dir", images},
      {"with_images", o.with_images}};
  std::vector<std::string> members = {"manifest.json"};
  BackupSummary summary;
  if (is_sqlite(o.database)) {
    progress("backup: copying the database (SQLite online backup)");
    auto copy = TRY(store::backup_sqlite_database(o.data_dir + "/oriel.db", (stage / "oriel.db").string()));
    manifest["database"] = "sqlite";
    manifest["schema_version"] = copy.schema_version;
    manifest["images"] = TRY(catalogue(copy.images_json));
    summary.schema_version = copy.schema_version;
    summary.images = manifest["images"].size();
    ::chmod((stage / "oriel.db").c_str(), 0600);  // password hashes, keys
    members.emplace_back("oriel.db");
    progress(fmt::format("backup: database copied ({:.1f} MiB, schema {})", static_cast<double>(copy.bytes) / 1048576,
                         copy.schema_version));
  } else {
    manifest["database"] = "postgresql";
    manifest["schema_version"] = 0;
    progress("backup: the database is PostgreSQL: back it up with pg_dump (pg_dump -Fc -f oriel.dump DBNAME); "
             "this backup keeps the rest");
  }
  if (!o.config_file.empty()) {
    fs::create_directory(stage / "config", ec);
    fs::copy_file(o.config_file, stage / "config" / "orield.conf", ec);
    if (ec) return Error::Unavailable(fmt::format("cannot read {}: {}", o.config_file, ec.message()));
    // It may hold passwords; a copy keeps its source's mode, umask or not.
    fs::permissions(stage / "config" / "orield.conf", fs::perms::owner_read | fs::perms::owner_write, ec);
    members.emplace_back("config");
  }
  TRY(write_private_file((stage / "manifest.json").string(), manifest.dump(2) + "\n"));

  std::vector<std::string> args = {"--sort=name", "-cf", (stage / "archive").string(), "-C", stage.string()};
  args.insert(args.end(), members.begin(), members.end());
  if (fs::is_directory(o.data_dir + "/tls", ec)) args.insert(args.end(), {"-C", o.data_dir, "tls"});
  if (o.with_images && fs::is_directory(images, ec)) {
    progress(fmt::format("backup: adding the golden images in {}", images));
    args.insert(args.end(), {"-C", fs::path(images).parent_path().string(), "images"});
  }
  progress(fmt::format("backup: writing {}", out.string()));
  TRY(run_tar(runner, args));
  // Keys are inside: the archive is its owner's alone.
  if (::chmod((stage / "archive").c_str(), 0600) != 0) return Error::Unavailable("cannot chmod the backup");
  fs::rename(stage / "archive", out, ec);
  if (ec) return Error::Unavailable(fmt::format("cannot write {}: {}", out.string(), ec.message()));
  summary.file = out.string();
  summary.bytes = fs::file_size(out, ec);
  if (o.keep > 0) summary.removed = prune(out.parent_path(), o.keep);
  return summary;
}

Result<RestoreSummary> restore_backup(const RestoreOptions& o, ProcessRunner& runner, const Progress& progress) {
  std::error_code ec;
  if (!fs::is_regular_file(o.from, ec)) return Error::NotFound("backup", o.from);
  progress(fmt::format("restore: checking {}", o.from));
  TRY(check_members(runner, o.from));
  TRY(make_private_dir(o.data_dir));
  auto scratch = TRY(Scratch::make(o.data_dir, "oriel-restore"));
  const fs::path& stage = scratch.path();
  TRY(run_tar(runner, {"-xf", o.from, "-C", stage.string(), "--no-same-owner", "manifest.json"}));
  auto manifest = TRY(parse_json(read_text_file((stage / "manifest.json").string())));
  auto format = TRY(json_int(manifest, "format", 0, 1000));
  if (format != kFormat) {
    return Error::Unprocessable(
        fmt::format("{} is backup format {}; this orield reads format {}", o.from, format, kFormat));
  }
  std::string database = TRY(json_string(manifest, "database"));
  auto schema = TRY(json_int(manifest, "schema_version", 0, 1000000));
  if (schema > store::latest_schema_version()) {
    return Error::Unprocessable(
        fmt::format("{} holds database schema {}, newer than this orield's ({}): restore it with Oriel {} or later",
                    o.from, schema, store::latest_schema_version(), manifest.value("oriel_version", "?")));
  }
  bool has_db = database == "sqlite";
  fs::path db = fs::path(o.data_dir) / "oriel.db";
  if (has_db && fs::exists(db, ec) && !o.force) {
    return Error::Conflict(fmt::format("{} already has a database: restore into an empty data directory, or add "
                                       "--force to replace it (the old one is kept beside it)",
                                       o.data_dir));
  }

  progress("restore: unpacking");
  TRY(run_tar(runner, {"-xf", o.from, "-C", stage.string(), "--no-same-owner"}));
  RestoreSummary summary;
  summary.schema_version = static_cast<int>(schema);
  std::string images_to = images_dir(o.data_dir, o.shared_dir);
  std::string images_from = manifest.value("images_dir", "");
  bool with_images = fs::is_directory(stage / "images", ec);
  bool rebase = with_images && !images_from.empty() && images_from != images_to;
  if (has_db) {
    auto copy = TRY(store::inspect_sqlite_database((stage / "oriel.db").string()));
    if (copy.schema_version != schema) {
      return Error::InvalidArgument(
          fmt::format("{}: the database is schema {}, the manifest says {}", o.from, copy.schema_version, schema));
    }
    if (rebase) TRY(store::rebase_sqlite_image_paths((stage / "oriel.db").string(), images_from, images_to));
  } else {
    summary.warnings.emplace_back("the database is PostgreSQL: restore it with pg_restore before starting orield");
  }

  // Everything checked: into place. Golden images never change once made,
  // so one already there is kept.
  std::string stamp = timestamp(std::chrono::system_clock::now());
  if (with_images) {
    progress(fmt::format("restore: golden images into {}", images_to));
    fs::create_directories(images_to, ec);
    for (const auto& entry : fs::directory_iterator(stage / "images", ec)) {
      fs::path target = fs::path(images_to) / entry.path().filename();
      if (!fs::exists(target, ec)) fs::rename(entry.path(), target, ec);
      if (ec) return Error::Unavailable(fmt::format("cannot move {} into place: {}", target.string(), ec.message()));
    }
  }
  if (fs::is_directory(stage / "tls", ec)) TRY(put_in_place(stage / "tls", fs::path(o.data_dir) / "tls", stamp));
  if (fs::exists(stage / "config" / "orield.conf", ec)) {
    summary.config_file = o.data_dir + "/restored-orield.conf";
    TRY(put_in_place(stage / "config" / "orield.conf", summary.config_file, stamp));
  }
  if (!has_db) return summary;
  // A replaced database goes aside whole: its WAL holds its latest writes.
  for (const char* side : {"-wal", "-shm"}) {
    fs::path old = db.string() + side;
    fs::rename(old, db.string() + ".before-restore-" + stamp + side, ec);
  }
  TRY(put_in_place(stage / "oriel.db", db, stamp));
  for (const auto& image : manifest.value("images", Json::array())) {
    std::string path = image.value("path", "");
    if (rebase && path.starts_with(images_from + "/"))
      path = fmt::format("{}{}", images_to, path.substr(images_from.size()));
    if (!path.empty() && !fs::exists(path, ec)) {
      summary.warnings.push_back(fmt::format("golden image {} ({}) is not at {}: copy it there, or restore a "
                                             "backup made --with-images",
                                             image.value("name", "?"), image.value("id", "?"), path));
    }
  }
  return summary;
}

}  // namespace oriel
