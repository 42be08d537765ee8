#include "oriel/common/random.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace oriel {

std::string Random::hex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  fill(buf.data(), buf.size());
  std::string out(bytes * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), buf.data(), buf.size());
  out.pop_back();
  return out;
}

std::string Random::token(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  fill(buf.data(), buf.size());
  std::string out(sodium_base64_ENCODED_LEN(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), buf.data(), buf.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

SecureRandom::SecureRandom() {
  if (sodium_init() < 0) std::abort();  // no usable entropy source: nothing safe can run
}

void SecureRandom::fill(void* buf, size_t len) { randombytes_buf(buf, len); }

void SeededRandom::fill(void* buf, size_t len) {
  MutexLock lock(mu_);
  auto* p = static_cast<unsigned char*>(buf);
  for (size_t i = 0; i < len; ++i) p[i] = static_cast<unsigned char>(engine_());
}

std::string new_id(Random& random, std::string_view prefix) { return std::string(prefix) + "-" + random.hex(8); }

}  // namespace oriel
