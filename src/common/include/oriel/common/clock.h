// Time as an injected dependency, so tests control it exactly.
#pragma once

#include <chrono>
#include <string>

#include "oriel/common/mutex.h"
#include "oriel/common/result.h"

namespace oriel {

using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime now() const = 0;
};

class SystemClock final : public Clock {
 public:
  WallTime now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to; thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallTime start) : now_(start) {}
  WallTime now() const override {
    MutexLock lock(mu_);
    return now_;
  }
  void advance(std::chrono::milliseconds by) {
    MutexLock lock(mu_);
    now_ += by;
  }

 private:
  mutable Mutex mu_;
  WallTime now_ ORIEL_GUARDED_BY(mu_);
};

// RFC 3339 UTC with milliseconds: 2026-11-22T10:00:00.123Z.
std::string format_rfc3339(WallTime t);
Result<WallTime> parse_rfc3339(std::string_view text);
int64_t to_unix_ms(WallTime t);
WallTime from_unix_ms(int64_t ms);

}  // namespace oriel
