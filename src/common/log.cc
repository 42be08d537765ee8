#include "oriel/common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <cctype>
#include <random>
#include <utility>

#include "oriel/common/clock.h"
#include "oriel/common/json.h"
#include "oriel/common/log_context.h"

namespace oriel {
namespace {

thread_local std::string request_id;

// The rest of a text line: "[req ID] " for a thread that works for a
// request, then the message with its control characters escaped.
class MessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    if (!request_id.empty()) fmt::format_to(std::back_inserter(dest), "[req {}] ", request_id);
    auto put = [&](std::string_view text) { dest.append(text.data(), text.data() + text.size()); };
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      auto byte = static_cast<unsigned char>(c);
      if (c == '\n') {
        put("\\n");
      } else if (c == '\r') {
        put("\\r");
      } else if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
        fmt::format_to(std::back_inserter(dest), "\\x{:02x}", byte);
      } else {
        dest.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<MessageFlag>(); }
};

// One JSON object per line: time, level, request_id (when there is one), msg.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto level = spdlog::level::to_string_view(msg.level);
    Json line = {{"time", format_rfc3339(msg.time)}, {"level", std::string(level.data(), level.size())}};
    if (!request_id.empty()) line["request_id"] = request_id;
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    // Bytes that are not UTF-8 (a path, a QEMU message) are replaced, not fatal.
    std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void init_logging(std::string_view level) { init_logging(level, LogFormat::kText); }

std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format) {
  if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>();
  auto text = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  text->add_flag<MessageFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %*");
  return text;
}

void init_logging(std::string_view level, LogFormat format) {
  auto logger = spdlog::stderr_color_mt("orield");
  logger->set_formatter(make_log_formatter(format));
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(logger);
}

const std::string& current_request_id() { return request_id; }

RequestIdScope::RequestIdScope(std::string id) : previous_(std::exchange(request_id, std::move(id))) {}
RequestIdScope::~RequestIdScope() { request_id = std::move(previous_); }

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

}  // namespace oriel
