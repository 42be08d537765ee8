// Comparing secrets (tokens) without telling an attacker, through the time
// it takes, how much of a guess was right.
#pragma once

#include <string_view>

namespace oriel {

// True if `presented` equals `expected`, in time that depends only on their
// lengths. An empty `expected` matches nothing: no secret set means no entry.
inline bool secrets_equal(std::string_view presented, std::string_view expected) {
  if (expected.empty() || presented.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) diff |= static_cast<unsigned char>(presented[i] ^ expected[i]);
  return diff == 0;
}

}  // namespace oriel
