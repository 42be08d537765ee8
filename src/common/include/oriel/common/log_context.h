// Which request a log line belongs to, and the form of the lines. A request
// id is given to each API call (or taken from its X-Request-Id), set on the
// thread that handles it, passed on with every call that thread makes to
// another orield (the agents), and carried by the reconciler's work on a
// desktop the call changed: one id follows an action through every role.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>
#include <string_view>

namespace oriel {

enum class LogFormat {
  kText,  // 2026-12-07T10:00:00.000Z info  [req 3f2a…] desktop d-1: started
  kJson,  // {"time":"…","level":"info","request_id":"3f2a…","msg":"desktop d-1: started"}
};

// Sets up the process's logger on stderr (log.h's init_logging is kText).
void init_logging(std::string_view level, LogFormat format);
// The formatter init_logging gives the logger. Text escapes control
// characters in the message (a name with a line break cannot forge a line);
// JSON escapes them as JSON does.
std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format);

// The request id this thread works for; empty for none.
const std::string& current_request_id();

// Sets this thread's request id for the scope's life, then restores the one
// it replaced.
class RequestIdScope {
 public:
  explicit RequestIdScope(std::string id);
  ~RequestIdScope();
  RequestIdScope(const RequestIdScope&) = delete;
  RequestIdScope& operator=(const RequestIdScope&) = delete;

 private:
  std::string previous_;
};

// A new request id: 16 random hex digits.
std::string new_request_id();
// Whether a client's X-Request-Id may be used as it is: 1 to 64 of
// [A-Za-z0-9._-] (it goes into every log line, so nothing else).
bool valid_request_id(std::string_view id);

}  // namespace oriel
