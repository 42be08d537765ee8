// The few terminal facts the CLI needs: is a stream a terminal, and reading
// a password without echoing it.
#pragma once

#include <string>

#include "oriel/common/result.h"

namespace oriel::cli {

bool is_terminal(int fd);

// Writes `prompt` to stderr and reads one line from the terminal on stdin
// with echo turned off (restored afterwards, also on error).
Result<std::string> read_password_from_terminal(std::string_view prompt);

// Reads one line from stdin, without its line ending ("--password-stdin").
Result<std::string> read_line_from_stdin();

}  // namespace oriel::cli
