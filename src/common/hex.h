// Fixed-width lower-case hex of 64-bit numbers, as Zipkin and W3C Trace Context write ids.
#pragma once

#include <cstdint>

namespace conclave {

namespace detail {
/// The two hex digits of every byte value, in order: "000102...feff".
struct HexPairs {
  char text[512];
  constexpr HexPairs() : text() {
    constexpr char kDigits[] = "0123456789abcdef";
    for (int i = 0; i < 256; ++i) {
      text[2 * i] = kDigits[i >> 4];
      text[2 * i + 1] = kDigits[i & 0xF];
    }
  }
};
inline constexpr HexPairs kHexPairs;
}  // namespace detail

/// Writes the 16 hex digits of `v` at `out` (no terminator); returns the end. A byte at a time:
/// a trace's ids are written several times per traced request.
inline char* hex16(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    const char* pair = detail::kHexPairs.text + 2 * (v & 0xFF);
    out[2 * i] = pair[0];
    out[2 * i + 1] = pair[1];
    v >>= 8;
  }
  return out + 16;
}

}  // namespace conclave
