// UTF-8 validation for untrusted text (URLs, names, clipboard contents).
#pragma once

#include <cstddef>
#include <string_view>

namespace oriel {

// True if `s` is well-formed UTF-8: no overlong forms, surrogates or code
// points past U+10FFFF (RFC 3629 §4).
bool valid_utf8(std::string_view s);

// How many bytes of `s` to keep to cut it to at most `max`: `max`, moved
// back so that the cut does not fall inside a UTF-8 sequence.
size_t utf8_cut(std::string_view s, size_t max);

}  // namespace oriel
