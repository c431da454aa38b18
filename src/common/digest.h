// Small hash and encoding helpers needed by ZooKeeper's auth schemes: SHA-1 + base64 for the
// `digest` scheme (id = user:base64(sha1("user:password"))), MD5 + hex for SASL DIGEST-MD5.
// Implemented from FIPS 180-4 / RFC 1321 / RFC 4648; not for anything security-critical
// beyond what those ZooKeeper schemes already are.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace conclave {

std::array<uint8_t, 20> sha1(std::string_view data);
std::array<uint8_t, 16> md5(std::string_view data);
std::string base64_encode(std::string_view data);
std::string hex_encode(std::string_view data);
/// Standard base64 (RFC 4648, padding required when the length is not a multiple of 4 is
/// accepted either way); false on any other character.
bool base64_decode(std::string_view in, std::string* out);

template <size_t N>
std::string_view as_view(const std::array<uint8_t, N>& a) {
  return {reinterpret_cast<const char*>(a.data()), N};
}

/// ZooKeeper's DigestAuthenticationProvider.generateDigest("user:password").
std::string zk_digest(std::string_view user_colon_password);

}  // namespace conclave
