#include "terminal.h"

#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

namespace oriel::cli {
namespace {

termios g_saved_termios;  // what an interrupted password prompt puts back

// Ctrl-C at the password prompt: give the terminal its echo back, then die
// of the signal as usual.
extern "C" void restore_terminal_and_reraise(int sig) {
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);  // async-signal-safe (POSIX)
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// Turns echo off on stdin for its lifetime; restores it however the read ends.
class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
    termios quiet = g_saved_termios;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // the Enter still moves to the next line
    old_int_ = std::signal(SIGINT, restore_terminal_and_reraise);
    old_term_ = std::signal(SIGTERM, restore_terminal_and_reraise);
    active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  ~EchoOff() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
    if (old_int_ != SIG_ERR) std::signal(SIGINT, old_int_);
    if (old_term_ != SIG_ERR) std::signal(SIGTERM, old_term_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  bool active_ = false;
  void (*old_int_)(int) = SIG_ERR;
  void (*old_term_)(int) = SIG_ERR;
};

}  // namespace

bool is_terminal(int fd) { return ::isatty(fd) == 1; }

Result<std::string> read_password_from_terminal(std::string_view prompt) {
  std::cerr << prompt << std::flush;
  EchoOff echo_off;
  return read_line_from_stdin();
}

Result<std::string> read_line_from_stdin() {
  std::string line;
  if (!std::getline(std::cin, line)) {
    if (std::cin.bad()) return Error::Internal("cannot read stdin");
    return Error::InvalidArgument("no password on stdin");
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace oriel::cli
