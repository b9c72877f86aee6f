#include "common/ids.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <stdexcept>

namespace quarry {
namespace {

constexpr std::string_view kCrockford = "0123456789abcdefghjkmnpqrstvwxyz";
constexpr std::string_view kAlphanumeric =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

void FillRandom(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    // The CSPRNG failing is not an expected condition: nothing safe can continue without it.
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
}

}  // namespace

std::string NewId(std::string_view prefix, UnixMillis now) {
  std::string id(prefix);
  id += '_';
  auto t = static_cast<std::uint64_t>(now < 0 ? 0 : now);
  char time_part[10];
  for (int i = 9; i >= 0; --i) {
    time_part[i] = kCrockford[t & 31];
    t >>= 5;
  }
  id.append(time_part, 10);
  std::array<unsigned char, 16> random{};
  FillRandom(random.data(), random.size());
  for (unsigned char b : random) id += kCrockford[b & 31];
  return id;
}

bool LooksLikeId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 1 + 26) return false;
  if (id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_') return false;
  for (char c : id.substr(prefix.size() + 1)) {
    if (kCrockford.find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string RandomAlphanumeric(std::size_t n) {
  std::string out;
  out.reserve(n);
  // Rejection sampling keeps the distribution uniform: 248 = 62 * 4.
  while (out.size() < n) {
    std::array<unsigned char, 64> buf{};
    FillRandom(buf.data(), buf.size());
    for (unsigned char b : buf) {
      if (b >= 248) continue;
      out += kAlphanumeric[b % 62];
      if (out.size() == n) break;
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(SHA256_DIGEST_LENGTH * 2, '0');
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace quarry
