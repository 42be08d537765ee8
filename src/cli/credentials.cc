#include "credentials.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "oriel/common/json.h"

namespace oriel::cli {
namespace fs = std::filesystem;

namespace {

Error io_error(std::string_view what, const fs::path& p) {
  return Error::Internal(fmt::format("cannot {} {}: {}", what, p.string(), std::strerror(errno)));
}

// Owns a descriptor and, until commit(), the temporary file behind it.
class TempFile {
 public:
  explicit TempFile(const fs::path& dir) : path_((dir / ".credentials.json.XXXXXX").string()) {
    fd_ = ::mkstemp(path_.data());  // creates the file 0600
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  Result<void> commit(const fs::path& target) {
    if (::fsync(fd_) != 0 || ::close(std::exchange(fd_, -1)) != 0) return io_error("write", path_);
    if (::rename(path_.c_str(), target.c_str()) != 0) return io_error("replace", target);
    committed_ = true;
    return Ok();
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

// Creates every missing directory of `dir` with mode 0700 (as the XDG base
// directory spec asks) and makes `dir` itself private.
Result<void> make_private_dir(const fs::path& dir) {
  fs::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return io_error("create directory", partial);
  }
  if (::chmod(dir.c_str(), 0700) != 0) return io_error("restrict permissions of", dir);
  return Ok();
}

Result<void> write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

}  // namespace

Result<fs::path> credentials_path() {
  fs::path base;
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && xdg[0] == '/') {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home && home[0] == '/') {
    base = fs::path(home) / ".config";
  } else if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir && pw->pw_dir[0] == '/') {
    base = fs::path(pw->pw_dir) / ".config";
  } else {
    return Error::Internal("cannot find a config directory: set HOME or XDG_CONFIG_HOME");
  }
  return base / "oriel" / "credentials.json";
}

Result<std::optional<Credentials>> load_credentials(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return std::optional<Credentials>();
  if (fd < 0) return io_error("read", file);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto bad = [&](std::string_view why) {
    return Error::InvalidArgument(fmt::format("{} {}; run 'oriel login' again", file.string(), why));
  };
  if (n < 0) return bad("cannot be read");
  auto j = parse_json(text);
  if (!j.ok()) return bad("is not valid JSON");
  auto server = json_string(*j, "server");
  auto token = json_string(*j, "token");
  if (!server.ok() || !token.ok()) return bad("has no server or token");
  return std::optional<Credentials>(Credentials{*server, *token, j->value("fingerprint", "")});
}

Result<void> save_credentials(const fs::path& file, const Credentials& credentials) {
  TRY(make_private_dir(file.parent_path()));
  TempFile tmp(file.parent_path());
  if (tmp.fd() < 0) return io_error("create a file in", file.parent_path());
  if (::fchmod(tmp.fd(), 0600) != 0) return io_error("restrict permissions of", tmp.path());
  Json j = {{"server", credentials.server}, {"token", credentials.token}};
  if (!credentials.fingerprint.empty()) j["fingerprint"] = credentials.fingerprint;
  TRY(write_all(tmp.fd(), j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n", tmp.path()));
  return tmp.commit(file);
}

Result<bool> remove_credentials(const fs::path& file) {
  if (::unlink(file.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  return io_error("remove", file);
}

}  // namespace oriel::cli
