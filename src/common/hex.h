// Fixed-width lower-case hex of 64-bit numbers, as Zipkin and W3C Trace Context write ids.
#pragma once

#include <cstdint>

namespace conclave {

/// Writes the 16 hex digits of `v` at `out` (no terminator); returns the end.
inline char* hex16(uint64_t v, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kDigits[v & 0xF];
    v >>= 4;
  }
  return out + 16;
}

}  // namespace conclave
