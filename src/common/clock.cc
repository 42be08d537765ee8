#include "oriel/common/clock.h"

#include <ctime>

namespace oriel {

int64_t to_unix_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallTime from_unix_ms(int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

std::string format_rfc3339(WallTime t) {
  int64_t ms = to_unix_ms(t);
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

Result<WallTime> parse_rfc3339(std::string_view text) {
  std::tm tm{};
  int millis = 0;
  std::string s(text);
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &consumed) != 6) {
    return Error::InvalidArgument(fmt::format("'{}' is not an RFC 3339 time", text));
  }
  std::string_view rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    int scale = 100;
    for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9'; ++i, scale /= 10) millis += (rest[i] - '0') * scale;
    rest = rest.substr(i);
  }
  if (rest != "Z" && rest != "+00:00") {
    return Error::InvalidArgument(fmt::format("'{}' is not an RFC 3339 UTC time", text));
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t secs = ::timegm(&tm);
  return from_unix_ms(static_cast<int64_t>(secs) * 1000 + millis);
}

}  // namespace oriel
