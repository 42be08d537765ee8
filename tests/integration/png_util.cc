#include "png_util.h"

#include <png.h>

#include <cstring>
#include <set>

namespace oriel::testing {

size_t Image::distinct_colours(size_t stop_at) const {
  std::set<uint32_t> seen;
  for (size_t i = 0; i + 3 < rgba.size() && seen.size() < stop_at; i += 4) {
    uint32_t c;
    std::memcpy(&c, &rgba[i], 4);
    seen.insert(c);
  }
  return seen.size();
}

bool decode_png(const std::string& bytes, Image& out) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size())) return false;
  img.format = PNG_FORMAT_RGBA;
  out.width = static_cast<int>(img.width);
  out.height = static_cast<int>(img.height);
  out.rgba.resize(PNG_IMAGE_SIZE(img));
  bool ok = png_image_finish_read(&img, nullptr, out.rgba.data(), 0, nullptr) != 0;
  png_image_free(&img);
  return ok;
}

}  // namespace oriel::testing
