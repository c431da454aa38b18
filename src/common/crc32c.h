// CRC32C (Castagnoli), the checksum on every WAL record and snapshot file.
#pragma once
#include <cstdint>
#include <string_view>

namespace conclave {
/// Extends `crc` (0 for a fresh checksum) over `data`.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);
}  // namespace conclave
