#include "oriel/common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace oriel {
namespace {

// Owns the two ends of a pipe; closes what is still open.
struct Pipe {
  int fds[2] = {-1, -1};
  ~Pipe() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  void close_end(int i) {
    if (fds[i] >= 0) ::close(fds[i]);
    fds[i] = -1;
  }
};

// Splits freshly read output into lines for the progress callback.
void feed_lines(std::string& pending, std::string_view chunk, const ProcessOptions& options) {
  if (!options.on_output_line) return;
  pending.append(chunk);
  size_t start = 0;
  for (size_t i = 0; i < pending.size(); ++i) {
    if (pending[i] == '\n' || pending[i] == '\r') {
      if (i > start) options.on_output_line(std::string_view(pending).substr(start, i - start));
      start = i + 1;
    }
  }
  pending.erase(0, start);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string join_command(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) {
    if (!line.empty()) line += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t'\"\\$") == std::string::npos;
    line += plain ? a : "'" + a + "'";
  }
  return line;
}

Result<ProcessResult> SystemProcessRunner::run(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty()) return Error::InvalidArgument("empty command");
  Pipe out_pipe, err_pipe;
  if (::pipe2(out_pipe.fds, O_CLOEXEC) != 0 || ::pipe2(err_pipe.fds, O_CLOEXEC) != 0) {
    return Error::Internal(fmt::format("pipe: {}", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe.fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe.fds[1], 2);
  // Nothing else crosses over: not every library marks its descriptors
  // close-on-exec (Asio's sockets are not), and a long-lived child such as a
  // daemonized QEMU would otherwise keep orield's connections and listening
  // socket open for its whole life.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, options.working_dir.c_str());
  }
  // Default signal handling: orield ignores SIGPIPE and a display
  // session's thread blocks it, and both would carry over to the child.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, none;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Error::Unavailable(fmt::format("cannot run {}: {}", argv[0], std::strerror(rc)));
  }
  out_pipe.close_end(1);
  err_pipe.close_end(1);

  ProcessResult result;
  std::string pending;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool timed_out = false;
  std::array<pollfd, 2> pfds{{{out_pipe.fds[0], POLLIN, 0}, {err_pipe.fds[0], POLLIN, 0}}};
  while (pfds[0].fd >= 0 || pfds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(std::min<long>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    for (size_t i = 0; i < pfds.size(); ++i) {
      if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
      char buf[8192];
      ssize_t got = ::read(pfds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        pfds[i].fd = -1;
        continue;
      }
      std::string_view chunk(buf, static_cast<size_t>(got));
      if (i == 0) {
        result.out.append(chunk);
        feed_lines(pending, chunk, options);
      } else {
        result.err.append(chunk);
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = decode_status(status);
  if (timed_out) {
    return Error::Timeout(fmt::format("{} did not finish within {} ms", argv[0], options.timeout.count()));
  }
  return result;
}

}  // namespace oriel
