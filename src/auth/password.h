// Password hashing for web sign-in: argon2id (RFC 9106) through libargon2.
//
// Contract:
//   - Hash() stores the standard encoded form "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<tag>"
//     with a 16-byte salt from OpenSSL's CSPRNG and a 32-byte tag. Verify() reads the parameters
//     from the encoding, so hashes made with older parameters keep working after they change.
//   - Verify() with no stored hash (an unknown account, or a user without a password) checks the
//     password against a dummy hash made with the current parameters, so that an unknown email
//     costs the same time as a known one; it then answers false.
//   - At most `max_concurrent` hashes run at once (each holds memory_kib of memory); others wait
//     up to `max_wait`, and past that, or when too many already wait, get 429 "sign_in_busy"
//     with Retry-After: 1. A flood of sign-ins therefore cannot exhaust memory.
//   - Passwords are never logged or copied beyond the call.
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace quarry {

// RFC 9106's second recommended option: t=3 passes, m=64 MiB, p=4 lanes.
struct PasswordOptions {
  std::uint32_t memory_kib = 64 * 1024;
  std::uint32_t time_cost = 3;
  std::uint32_t lanes = 4;
  int max_concurrent = 2;
  std::chrono::milliseconds max_wait{2'000};
};

class PasswordHasher {
 public:
  explicit PasswordHasher(PasswordOptions options);
  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;

  // The encoded argon2id hash of `password`.
  Result<std::string> Hash(std::string_view password);
  // True when `password` matches `encoded`; nullopt `encoded`: a dummy verification, false.
  // Internal "password_hash_invalid" when the stored encoding is malformed.
  Result<bool> Verify(std::string_view password, const std::optional<std::string>& encoded);

  const PasswordOptions& options() const { return options_; }

 private:
  // Holds one of the max_concurrent hashing slots for its lifetime.
  class Slot;
  Status Acquire();
  void Release();
  Result<std::string> HashNow(std::string_view password);

  const PasswordOptions options_;
  std::mutex mu_;
  std::condition_variable freed_;
  int running_ = 0;  // GUARDED_BY(mu_)
  int waiting_ = 0;  // GUARDED_BY(mu_)
  std::string dummy_hash_;  // set in the constructor, then read-only
};

}  // namespace quarry
