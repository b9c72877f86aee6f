#include "auth/password.h"

#include <argon2.h>
#include <openssl/rand.h>

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
  if (waiting_ >= 4 * options_.max_concurrent) return Busy();
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

Result<bool> PasswordHasher::Verify(std::string_view password, const std::optional<std::string>& encoded) {
  const std::string& against = encoded ? *encoded : dummy_hash_;
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
