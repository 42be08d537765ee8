// Text for people: aligned tables, human-readable sizes and ages, and the
// import progress bar. Pure functions of their input, so they are unit-tested
// exactly. Text from the server is untrusted: control characters are replaced
// so a name cannot move the cursor or recolour the terminal.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "oriel/common/clock.h"
#include "oriel/common/json.h"

namespace oriel::cli {

// Columns separated by two spaces, left-aligned, no trailing spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // Missing cells are blank; extra cells are dropped.
  void add_row(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "Name:    value" lines with the values aligned, for `show` commands.
using Fields = std::vector<std::pair<std::string, std::string>>;
std::string render_fields(const Fields& fields);

// Replaces control characters (and DEL) with '?'.
std::string printable(std::string_view text);

// Display width in a terminal: UTF-8 code points (wide characters count one).
size_t display_width(std::string_view text);

// 1024-based sizes: "0 B", "512 B", "1.5 KiB", "47 MiB", "20 GiB".
std::string human_bytes(uint64_t bytes);
// Memory given in MiB, as the API counts it: 1024 → "1 GiB".
std::string human_mib(int64_t mib);
// A memory size as given on the command line, in MiB: "1024" (MiB), "512M",
// "4G", "4GiB", "1T". Zero, negative and malformed sizes are errors.
Result<int64_t> parse_memory_mib(std::string_view text);
// Time since `then`: "45s", "12m", "5h", "3d"; "-" when `then` is in the future.
std::string human_age(WallTime then, WallTime now);

// A JSON field as text: strings as they are, numbers and booleans printed,
// null or missing as "-".
std::string field_text(const Json& obj, std::string_view field);
// A numeric field, or `fallback` when it is missing or not a number.
double field_number(const Json& obj, std::string_view field, double fallback = 0);

// "importing win11  [#########.....................]  31%"
std::string progress_bar(std::string_view label, double percent, int width = 30);

// Import progress for stderr: on a terminal a bar redrawn in place; in a log
// or pipe one line each time another 10% is done.
class ProgressPrinter {
 public:
  ProgressPrinter(std::string label, bool terminal) : label_(std::move(label)), terminal_(terminal) {}
  // Text to write for this progress value (may be empty: nothing new).
  std::string update(double percent);
  // Text that ends the output (the newline after the bar).
  std::string finish();

 private:
  std::string label_;
  bool terminal_;
  int last_shown_ = -1;  // percent on a terminal, tens of percent otherwise
  bool drew_ = false;
};

}  // namespace oriel::cli
