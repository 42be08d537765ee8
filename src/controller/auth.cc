#include "auth.h"

#include <cstddef>  // before <crack.h>, which uses size_t without it

#include <crack.h>
#include <sodium.h>
#include <unistd.h>

#include <mutex>
#include <semaphore>

#include "oriel/common/log.h"

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

Result<void> check_password(std::string_view password, std::string_view username) {
  if (password.size() < 8 || password.size() > 1024) {
    return Error::InvalidArgument("password must be 8 to 1024 bytes");
  }
  if (password.find('\0') != std::string_view::npos) return Error::InvalidArgument("password must not contain NUL");
  // cracklib ends the process when its dictionary is missing (Debian
  // #682735): it is looked for first. Nor is it thread-safe.
  static std::mutex mu;
  std::lock_guard lock(mu);
  const std::string dict = GetDefaultCracklibDict();
  if (::access((dict + ".pwd").c_str(), R_OK) != 0) {
    static std::once_flag warned;
    std::call_once(warned, [&] {
      spdlog::warn("passwords: cracklib's dictionary {}.pwd is missing (install cracklib-runtime): only their length "
                   "is checked",
                   dict);
    });
    return Ok();
  }
  const std::string pw(password), user(username);
  if (const char* why = FascistCheckUser(pw.c_str(), dict.c_str(), user.c_str(), nullptr)) {
    return Error::InvalidArgument(fmt::format("choose a password that is harder to guess: {}", why));
  }
  return Ok();
}

Result<void> clear_login_failures(store::UserStore& users, store::UserRecord& user) {
  if (user.failed_logins == 0 && user.locked_until == WallTime{}) return Ok();
  user.failed_logins = 0;
  user.locked_until = WallTime{};
  return users.set_login_state(user);
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
