// Password and token primitives: argon2id password hashes (libsodium) and
// bearer tokens that are stored only as their SHA-256.
#pragma once

#include <string>

#include "oriel/common/result.h"
#include "oriel/store/store.h"

namespace oriel::controller {

// What every password must be, the bootstrap admin's too: 8 to 1024 bytes,
// and not what cracklib (as pam_cracklib uses it) calls too easy to guess:
// a common password, a dictionary word lightly changed, a sequence, or the
// username itself. Without cracklib's dictionary only the length is checked.
Result<void> check_password(std::string_view password, std::string_view username);
// Forgets the user's failed sign-ins (and the wait they caused), in the store too.
Result<void> clear_login_failures(store::UserStore& users, store::UserRecord& user);
Result<std::string> hash_password(std::string_view password);
bool verify_password(std::string_view hash, std::string_view password);
// True for a hash made with other costs than hash_password's today.
bool password_needs_rehash(std::string_view hash);
// A real hash of no one's password: checked against when the user is unknown
// or locked, so that every failed login costs the same time.
const std::string& dummy_password_hash();
std::string token_hash(std::string_view token);  // lowercase hex SHA-256

}  // namespace oriel::controller
