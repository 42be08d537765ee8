// Small files read and written whole: keys, certificates, settings; and
// where a path really leads.
#pragma once

#include <string>

#include "oriel/common/result.h"

namespace oriel {

// The whole file as text; empty when it is missing or cannot be read.
std::string read_text_file(const std::string& path);

// Writes `text` to `path` whole or not at all (a temporary file beside it,
// renamed over it), readable by this user only (0600): a crash never leaves
// half a key.
Result<void> write_private_file(const std::string& path, const std::string& text);

// `path` made absolute with every symbolic link and `..` resolved (as far
// as it exists); empty when that fails.
std::string resolved_path(const std::string& path);
// Whether `path` is the directory `dir` or lies under it, both resolved
// first: "/srv/a" is not under "/srv/ab".
bool path_within(const std::string& dir, const std::string& path);

}  // namespace oriel
