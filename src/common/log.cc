#include "oriel/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace oriel {

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("orield");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(logger);
}

}  // namespace oriel
