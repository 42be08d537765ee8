// UTF-8 validation for untrusted text (URLs, names, clipboard contents).
#pragma once

#include <string_view>

namespace oriel {

// True if `s` is well-formed UTF-8: no overlong forms, surrogates or code
// points past U+10FFFF (RFC 3629 §4).
bool valid_utf8(std::string_view s);

}  // namespace oriel
