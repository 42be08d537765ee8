#include "output.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

namespace oriel::cli {

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

size_t display_width(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a UTF-8 continuation byte
  }));
}

namespace {

void pad_to(std::string& line, std::string_view cell, size_t width) {
  line += cell;
  line.append(width - std::min(width, display_width(cell)), ' ');
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (auto& cell : cells) cell = printable(cell);
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<size_t> widths(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) {
    widths[i] = display_width(headers_[i]);
    for (const auto& row : rows_) widths[i] = std::max(widths[i], display_width(row[i]));
  }
  auto line_of = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) line += "  ";
      pad_to(line, cells[i], widths[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line + "\n";
  };
  std::string out = line_of(headers_);
  for (const auto& row : rows_) out += line_of(row);
  return out;
}

std::string render_fields(const Fields& fields) {
  size_t width = 0;
  for (const auto& [name, value] : fields) width = std::max(width, display_width(name) + 1);
  std::string out;
  for (const auto& [name, value] : fields) {
    std::string line;
    pad_to(line, name + ":", width);
    line += "  " + printable(value);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string human_bytes(uint64_t bytes) {
  static constexpr std::array<std::string_view, 7> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  size_t unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  if (value < 9.95) {
    std::string text = fmt::format("{:.1f}", value);
    if (text.size() > 2 && text.substr(text.size() - 2) == ".0") text.resize(text.size() - 2);
    return fmt::format("{} {}", text, kUnits[unit]);
  }
  auto rounded = static_cast<uint64_t>(std::llround(value));
  if (rounded >= 1024 && unit + 1 < kUnits.size()) return fmt::format("1 {}", kUnits[unit + 1]);
  return fmt::format("{} {}", rounded, kUnits[unit]);
}

std::string human_mib(int64_t mib) {
  if (mib < 0) return "-";
  return human_bytes(static_cast<uint64_t>(mib) << 20);
}

Result<int64_t> parse_memory_mib(std::string_view text) {
  auto bad = [text] {
    return Error::InvalidArgument(fmt::format("memory '{}' must be MiB or a size such as 512M, 4G or 1T", text));
  };
  size_t digits = 0;
  while (digits < text.size() && digits < 12 && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits == 12) return bad();
  int64_t value = std::stoll(std::string(text.substr(0, digits)));
  std::string unit(text.substr(digits));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  int64_t scale = 0;
  if (unit.empty() || unit == "m" || unit == "mb" || unit == "mib") scale = 1;
  if (unit == "g" || unit == "gb" || unit == "gib") scale = 1024;
  if (unit == "t" || unit == "tb" || unit == "tib") scale = 1024 * 1024;
  if (scale == 0 || value <= 0) return bad();
  return value * scale;
}

std::string human_age(WallTime then, WallTime now) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  if (s < 0) return "-";
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::string field_text(const Json& obj, std::string_view field) {
  if (!obj.is_object()) return "-";
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get_ref<const std::string&>().empty() ? "-" : printable(it->get<std::string>());
  if (it->is_number_float()) return fmt::format("{:g}", it->get<double>());
  return printable(it->dump(-1, ' ', false, Json::error_handler_t::replace));
}

double field_number(const Json& obj, std::string_view field, double fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(field);
  return it != obj.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string progress_bar(std::string_view label, double percent, int width) {
  if (!(percent >= 0)) percent = 0;  // also catches NaN
  percent = std::min(percent, 100.0);
  width = std::max(width, 1);
  int filled = static_cast<int>(percent * width / 100);
  return fmt::format("{}  [{}{}]  {:>3}%", printable(label), std::string(filled, '#'), std::string(width - filled, '.'),
                     static_cast<int>(percent));
}

std::string ProgressPrinter::update(double percent) {
  if (!(percent >= 0)) percent = 0;
  int shown = static_cast<int>(std::min(percent, 100.0));
  if (terminal_) {
    if (shown == last_shown_) return {};
    last_shown_ = shown;
    drew_ = true;
    return "\r" + progress_bar(label_, shown);
  }
  if (shown / 10 <= last_shown_) return {};
  last_shown_ = shown / 10;
  return fmt::format("{}: {}%\n", printable(label_), shown);
}

std::string ProgressPrinter::finish() {
  bool drew = drew_;
  drew_ = false;
  return terminal_ && drew ? "\n" : "";
}

}  // namespace oriel::cli
