// Images written straight from the framebuffer. PNG (RFC 2083): indexed
// colour with a palette when the region has at most 256 colours (text and
// UI), packed to 1, 2 or 4 bits a pixel when a few colours allow, else RGB
// with the Sub filter, deflated by libdeflate at a fast level.
// JPEG (TurboJPEG) for a region of many colours when lossy is allowed:
// photographs and video. Browsers decode all of them natively.
#pragma once

#include <cstdint>
#include <string>

#include "oriel/display/frame_encoder.h"

namespace oriel::display {

// Appends the image of `r` (inside `frame`) to `out` and says which codec
// it chose. Thread-safe.
Codec append_image_data(const FrameView& frame, const Rect& r, const Quality& quality, std::string& out);

}  // namespace oriel::display
