// Logging: spdlog, one process-wide logger set up by orield or the test main.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace oriel {

// level: trace, debug, info, warn, error. Logs go to stderr with timestamps.
void init_logging(std::string_view level);

}  // namespace oriel
