// PNG (RFC 2083) written straight from the framebuffer: indexed colour with
// a palette when the region has at most 256 colours (text and UI), else RGB
// with the Sub filter; the image data deflated by libdeflate at a fast
// level. Browsers decode both natively.
#pragma once

#include <cstdint>
#include <string>

#include "oriel/display/frame_encoder.h"

namespace oriel::display {

// Appends the PNG of `r` (inside `frame`) to `out`. Thread-safe.
void append_png(const FrameView& frame, const Rect& r, std::string& out);

}  // namespace oriel::display
