#include "auth.h"

#include <sodium.h>

namespace oriel::controller {

Result<std::string> hash_password(std::string_view password) {
  if (sodium_init() < 0) return Error::Internal("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  // Interactive limits: ~64 MiB and well under a second, as for a login form.
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Error::Internal("password hashing ran out of memory");
  }
  return std::string(out);
}

bool verify_password(std::string_view hash, std::string_view password) {
  std::string h(hash);
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

const std::string& dummy_password_hash() {
  static const std::string kHash = [] {
    auto h = hash_password("oriel-no-such-user");
    return h.ok() ? *h : std::string();
  }();
  return kHash;
}

std::string token_hash(std::string_view token) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

}  // namespace oriel::controller
