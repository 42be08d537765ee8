// Running external programs (qemu-img, qemu-system-x86_64). An interface so
// tests can wrap the real runner and break one call (kill a child mid-start,
// fail a conversion) without replacing the program under test.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "oriel/common/result.h"

namespace oriel {

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128 + signal number when killed
  std::string out;     // captured standard output
  std::string err;     // captured standard error
};

struct ProcessOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  // Called with each chunk of standard output as it arrives, split on '\n'
  // and '\r' (qemu-img -p redraws its progress with '\r'). Optional.
  std::function<void(std::string_view line)> on_output_line;
  std::string working_dir;  // empty: inherit
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs argv[0] (looked up in PATH) to completion. A program that cannot be
  // started or that exceeds the timeout is an error; a non-zero exit is not
  // (the caller reads exit_code and err).
  virtual Result<ProcessResult> run(const std::vector<std::string>& argv, const ProcessOptions& options) = 0;
};

// Forks and execs for real; thread-safe.
class SystemProcessRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> run(const std::vector<std::string>& argv, const ProcessOptions& options) override;
};

// Formats argv as a shell-like line for logs and error messages.
std::string join_command(const std::vector<std::string>& argv);

}  // namespace oriel
