// Versioned schema migrations, shared by every backend: portable SQL only.
// Migration N (1-based) brings the schema from version N-1 to N. Never edit
// a released migration; add a new one.
#pragma once

#include <string_view>
#include <vector>

namespace oriel::store {

const std::vector<std::string_view>& migrations();

}  // namespace oriel::store
