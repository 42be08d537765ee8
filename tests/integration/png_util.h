// Decodes a PNG (libpng) so tests can look at what a desktop shows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace oriel::testing {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgba;  // width*height*4
  size_t distinct_colours(size_t stop_at = 64) const;
};

// Returns false for anything that is not a PNG.
bool decode_png(const std::string& bytes, Image& out);

}  // namespace oriel::testing
