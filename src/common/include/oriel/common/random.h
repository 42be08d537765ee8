// Randomness as an injected dependency: ids, tokens and tickets draw from it.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "oriel/common/mutex.h"

namespace oriel {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(void* buf, size_t len) = 0;
  std::string hex(size_t bytes);    // 2*bytes lowercase hex characters
  std::string token(size_t bytes);  // base64url without padding
};

// Cryptographically secure (libsodium randombytes); thread-safe.
class SecureRandom final : public Random {
 public:
  SecureRandom();
  void fill(void* buf, size_t len) override;
};

// Reproducible sequence for tests; thread-safe.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}
  void fill(void* buf, size_t len) override;

 private:
  Mutex mu_;
  std::mt19937_64 engine_ ORIEL_GUARDED_BY(mu_);
};

// A new object id: prefix, '-', 16 hex characters ("d-3f9a0c...").
std::string new_id(Random& random, std::string_view prefix);

}  // namespace oriel
