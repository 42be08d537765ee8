// Small files read and written whole: keys, certificates, settings.
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

}  // namespace oriel
