#include "disk_files.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace oriel::agent::disk_files {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

Result<Fd> open_for_reading(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::InvalidArgument(fmt::format("cannot read '{}': {}", path, errno_text(errno)));
  return Fd(fd);
}

Result<std::string> read_at(int fd, uint64_t offset, size_t length) {
  std::string buf(length, '\0');
  size_t done = 0;
  while (done < length) {
    ssize_t got = ::pread(fd, buf.data() + done, length - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error::InvalidArgument(fmt::format("read error at offset {}: {}", offset, errno_text(errno)));
    if (got == 0) {
      return Error::InvalidArgument(
          fmt::format("cannot read {} bytes at offset {}: the file ends first", length, offset));
    }
    done += static_cast<size_t>(got);
  }
  return buf;
}

ScratchFile::ScratchFile(std::string path) : path_(std::move(path)) { ::unlink(path_.c_str()); }

ScratchFile::~ScratchFile() {
  if (!keep_) ::unlink(path_.c_str());
}

Result<void> sync_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::Internal(fmt::format("cannot open '{}' to sync it: {}", path, errno_text(errno)));
  Fd owned(fd);
  if (::fsync(fd) != 0) return Error::Unavailable(fmt::format("cannot sync '{}': {}", path, errno_text(errno)));
  return Ok();
}

Result<void> sync_parent_dir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::Internal(fmt::format("cannot open directory '{}': {}", dir, errno_text(errno)));
  Fd owned(fd);
  if (::fsync(fd) != 0) return Error::Unavailable(fmt::format("cannot sync '{}': {}", dir, errno_text(errno)));
  return Ok();
}

namespace {

Result<void> link_no_replace(const std::string& from, const std::string& to) {
  if (::link(from.c_str(), to.c_str()) != 0) {
    if (errno == EEXIST) return Error::Conflict(fmt::format("'{}' already exists", to));
    return Error::Internal(fmt::format("cannot move '{}' to '{}': {}", from, to, errno_text(errno)));
  }
  ::unlink(from.c_str());
  return Ok();
}

}  // namespace

Result<void> move_file(const std::string& from, const std::string& to, Replace replace) {
  if (replace == Replace::kYes) {
    if (::rename(from.c_str(), to.c_str()) == 0) return Ok();
    return Error::Internal(fmt::format("cannot move '{}' to '{}': {}", from, to, errno_text(errno)));
  }
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return Ok();
  if (errno == EEXIST) return Error::Conflict(fmt::format("'{}' already exists", to));
  if (errno == EINVAL || errno == ENOSYS) return link_no_replace(from, to);  // e.g. NFS
  return Error::Internal(fmt::format("cannot move '{}' to '{}': {}", from, to, errno_text(errno)));
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return (ec ? std::filesystem::path(path) : abs).lexically_normal().string();
}

Result<ProcessResult> run_qemu_img(ProcessRunner& runner, std::vector<std::string> args,
                                   const ProcessOptions& options) {
  args.insert(args.begin(), "qemu-img");
  return runner.run(args, options);
}

std::string qemu_reason(std::string_view err) {
  constexpr std::string_view kPrefix = "qemu-img: ";
  while (!err.empty()) {
    size_t end = err.find('\n');
    std::string_view line = err.substr(0, end);
    if (line.starts_with(kPrefix)) line.remove_prefix(kPrefix.size());
    if (!line.empty()) return std::string(line);
    if (end == std::string_view::npos) break;
    err.remove_prefix(end + 1);
  }
  return "no message";
}

}  // namespace oriel::agent::disk_files
