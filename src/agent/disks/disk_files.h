// Private to the disk layer: file handling and qemu-img plumbing shared by
// import.cc, clone.cc, inspect.cc and vhd.cc. Not part of the interface.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "oriel/common/process.h"
#include "oriel/common/result.h"

namespace oriel::agent::disk_files {

// An open file descriptor, closed when the object dies.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&&) = delete;
  Fd(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens a file for reading; the error names the path and the reason.
Result<Fd> open_for_reading(const std::string& path);

// Reads exactly `length` bytes at `offset`; a short read is InvalidArgument.
Result<std::string> read_at(int fd, uint64_t offset, size_t length);

// A temporary file that is removed when the guard dies unless kept. Removes a
// stale file of the same name (left by a crash) when created.
class ScratchFile {
 public:
  explicit ScratchFile(std::string path);
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile();
  const std::string& path() const { return path_; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

// fsync of a file, and of the directory holding `path` (makes a rename durable).
Result<void> sync_file(const std::string& path);
Result<void> sync_parent_dir(const std::string& path);

enum class Replace { kNo, kYes };
// Atomically gives `from` the name `to`. Replace::kNo fails with Conflict if
// `to` exists (renameat2 RENAME_NOREPLACE, or link + unlink where the
// filesystem lacks it).
Result<void> move_file(const std::string& from, const std::string& to, Replace replace);

// The path made absolute and lexically normal (no "." or ".." parts).
std::string absolute_path(const std::string& path);

// Runs qemu-img with the given arguments.
Result<ProcessResult> run_qemu_img(ProcessRunner& runner, std::vector<std::string> args,
                                   const ProcessOptions& options = {});

// `qemu-img check` for formats that support it: corruption is
// InvalidArgument naming the first error qemu reports; leaked clusters only
// (exit 3) and "format does not support checks" (exit 63) pass.
Result<void> check_image(ProcessRunner& runner, const std::string& path, const std::string& format);

// The first non-empty line of qemu-img's stderr without the "qemu-img: "
// prefix, for error messages ("no message" if there is none).
std::string qemu_reason(std::string_view err);

// errno as text, thread-safe.
std::string errno_text(int err);

}  // namespace oriel::agent::disk_files
