// Identifiers and secrets.
//
// Object ids are "<prefix>_<26 chars>": 10 Crockford base32 characters of creation time in ms
// followed by 16 random characters (80 bits). They sort by creation time, so lists ordered by id
// are in creation order and an id works as a pagination cursor; they reveal nothing about other
// tenants. Thread-safety: all functions are safe to call concurrently (OpenSSL's CSPRNG).
#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"

namespace quarry {

// A new time-sortable id such as "ten_01jd5w7k3a9x2m4q8r7t6v5b4c".
std::string NewId(std::string_view prefix, UnixMillis now);

// True when `id` has the shape NewId produces for `prefix` (cheap validation of path params).
bool LooksLikeId(std::string_view id, std::string_view prefix);

// `n` characters from [A-Za-z0-9], uniformly random from the CSPRNG.
std::string RandomAlphanumeric(std::size_t n);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace quarry
