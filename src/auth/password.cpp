#include "auth/password.h"

#include <argon2.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "common/ids.h"

namespace quarry {
namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kTagBytes = 32;

Status Busy() {
  return Status(ErrorCode::kResourceExhausted, "sign_in_busy",
                "Too many passwords are being checked at once; retry in a second")
      .WithDetail("retry_after_seconds", "1");
}

}  // namespace

PasswordHasher::PasswordHasher(PasswordOptions options) : options_(options) {
  // The dummy hash costs what a real one does: verifying against it takes the same time.
  auto dummy = HashNow(RandomAlphanumeric(24));
  dummy_hash_ = dummy.ok() ? *dummy : std::string();
}

Status PasswordHasher::Acquire() {
  std::unique_lock lock(mu_);
  if (running_ < options_.max_concurrent) {
    ++running_;
    return Status::Ok();
  }
  // Waiters hold handler threads: at most as many as may run, so a sign-in flood keeps at most
  // 2 x max_concurrent of the server's blocking threads.
  if (waiting_ >= options_.max_concurrent) return Busy();
  ++waiting_;
  const bool got = freed_.wait_for(lock, options_.max_wait, [this] { return running_ < options_.max_concurrent; });
  --waiting_;
  if (!got) return Busy();
  ++running_;
  return Status::Ok();
}

void PasswordHasher::Release() {
  {
    std::lock_guard lock(mu_);
    --running_;
  }
  freed_.notify_one();
}

class PasswordHasher::Slot {
 public:
  explicit Slot(PasswordHasher& hasher) : hasher_(hasher), status_(hasher.Acquire()) {}
  ~Slot() {
    if (status_.ok()) hasher_.Release();
  }
  const Status& status() const { return status_; }

 private:
  PasswordHasher& hasher_;
  Status status_;
};

Result<std::string> PasswordHasher::HashNow(std::string_view password) {
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) return Internal("random_unavailable", "the CSPRNG failed");
  std::vector<char> encoded(argon2_encodedlen(options_.time_cost, options_.memory_kib, options_.lanes, kSaltBytes,
                                              kTagBytes, Argon2_id) + 1);
  const int rc = argon2id_hash_encoded(options_.time_cost, options_.memory_kib, options_.lanes, password.data(),
                                       password.size(), salt, sizeof salt, kTagBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return Internal("password_hash_failed", std::string("argon2id failed: ") + argon2_error_message(rc));
  }
  return std::string(encoded.data());
}

Result<std::string> PasswordHasher::Hash(std::string_view password) {
  Slot slot(*this);
  QUARRY_RETURN_IF_ERROR(slot.status());
  return HashNow(password);
}

// The encoding's memory (KiB) and passes, when it is an argon2id encoding that names them.
std::optional<std::pair<std::uint64_t, std::uint64_t>> EncodedCost(std::string_view encoded) {
  auto number_after = [&](std::string_view key) -> std::optional<std::uint64_t> {
    const std::size_t at = encoded.find(key);
    if (at == std::string_view::npos) return std::nullopt;
    std::uint64_t n = 0;
    const char* begin = encoded.data() + at + key.size();
    auto [ptr, ec] = std::from_chars(begin, encoded.data() + encoded.size(), n);
    if (ec != std::errc() || ptr == begin) return std::nullopt;
    return n;
  };
  auto memory = number_after("$m=");
  auto passes = number_after(",t=");
  if (!memory || !passes) return std::nullopt;
  return std::pair{*memory, *passes};
}

Result<bool> PasswordHasher::Verify(std::string_view password, const std::optional<std::string>& encoded) {
  // Without the dummy, unknown accounts would answer faster than known ones: refuse every sign-in.
  if (dummy_hash_.empty()) return Unavailable("sign_in_unavailable", "password hashing is unavailable; retry later");
  const std::string& against = encoded ? *encoded : dummy_hash_;
  // A stored hash asking for far more than this server's cost (a tampered row) is not computed.
  auto cost = EncodedCost(against);
  if (!cost || cost->first > std::max<std::uint64_t>(4ull * options_.memory_kib, 1u << 20) ||
      cost->second > std::max<std::uint64_t>(4ull * options_.time_cost, 10)) {
    return Internal("password_hash_invalid", "the stored password hash is not one this server computes; set the "
                                             "password again");
  }
  Slot slot(*this);
  QUARRY_RETURN_IF_ERROR(slot.status());
  // argon2id_verify recomputes the tag with the encoding's parameters and compares in constant time.
  const int rc = argon2id_verify(against.c_str(), password.data(), password.size());
  if (rc == ARGON2_OK) return encoded.has_value();
  if (rc == ARGON2_VERIFY_MISMATCH) return false;
  if (!encoded) return false;  // the dummy could not be made: still no match, and no detail
  return Internal("password_hash_invalid", std::string("the stored password hash cannot be verified: ") +
                                               argon2_error_message(rc) + "; set the password again");
}

}  // namespace quarry
