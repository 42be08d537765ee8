#include "auth.h"

#include <sodium.h>

#include <semaphore>

namespace oriel::controller {
namespace {

// OWASP's argon2id setting for a login form: 19 MiB, two passes, one lane
// (about 40 ms here). Hashes made with other costs still verify, and are
// remade with these at their next login (password_needs_rehash).
constexpr unsigned long long kOpsLimit = 2;
constexpr size_t kMemLimit = size_t{19} << 20;

// At most two argon2id computations at once in the whole process, whichever
// thread asks (a login, a new user, a password change): their memory is
// bounded at 38 MiB, whatever floods the API.
std::counting_semaphore<2>& hashing_slots() {
  static std::counting_semaphore<2> slots(2);
  return slots;
}

class HashingSlot {
 public:
  HashingSlot() { hashing_slots().acquire(); }
  ~HashingSlot() { hashing_slots().release(); }
  HashingSlot(const HashingSlot&) = delete;
  HashingSlot& operator=(const HashingSlot&) = delete;
};

}  // namespace

Result<std::string> hash_password(std::string_view password) {
  if (sodium_init() < 0) return Error::Internal("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  HashingSlot slot;
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kOpsLimit, kMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Error::Internal("password hashing ran out of memory");
  }
  return std::string(out);
}

Result<void> check_password(std::string_view password) {
  if (password.size() < 8 || password.size() > 1024) {
    return Error::InvalidArgument("password must be 8 to 1024 bytes");
  }
  return Ok();
}

bool verify_password(std::string_view hash, std::string_view password) {
  std::string h(hash);
  HashingSlot slot;
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

bool password_needs_rehash(std::string_view hash) {
  std::string h(hash);
  return crypto_pwhash_str_needs_rehash(h.c_str(), kOpsLimit, kMemLimit) != 0;
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
