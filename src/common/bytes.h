// Byte buffers and big-endian (network order) readers/writers.
// Owns: the encoding primitives every codec in Conclave is built on (jute, WAL records,
// commands, snapshots). Never allocates per byte; a Reader never reads past its span and
// reports truncation through ok() instead of throwing.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace conclave {

using Bytes = std::string;  // owning byte string; std::string gives SSO and cheap moves

/// Appends big-endian integers and length-prefixed blobs to a byte string.
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}

  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void u32(uint32_t v) {
    char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    out_.append(b, 4);
  }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
  }
  /// Jute `buffer`/`ustring`: int32 length then bytes.
  void blob(std::string_view s) {
    i32(static_cast<int32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  /// Jute null buffer/string: length -1.
  void null_blob() { i32(-1); }
  /// LEB128: seven bits per byte, low groups first, the high bit set on all but the last byte.
  void uvarint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  /// Zigzag then LEB128, so small negative numbers are short too (-1 is one byte).
  void svarint(int64_t v) { uvarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  /// A uvarint length, then the bytes.
  void vblob(std::string_view s) {
    uvarint(s.size());
    out_.append(s.data(), s.size());
  }
  void raw(std::string_view s) { out_.append(s.data(), s.size()); }
  size_t size() const { return out_.size(); }
  /// Overwrites a previously written big-endian u32 at `pos`.
  void patch_u32(size_t pos, uint32_t v) {
    out_[pos] = char(v >> 24);
    out_[pos + 1] = char(v >> 16);
    out_[pos + 2] = char(v >> 8);
    out_[pos + 3] = char(v);
  }

 private:
  Bytes& out_;
};

/// Reads big-endian values from a span. Once a read runs past the end, ok() turns false and
/// every further read returns zero values; callers check ok() once after decoding a record.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  /// The whole span being read (positions index into it).
  std::string_view span() const { return in_; }
  void fail() { ok_ = false; }

  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  bool boolean() { return u8() != 0; }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  uint32_t u32() {
    if (!need(4)) return 0;
    const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + pos_);
    pos_ += 4;
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  uint64_t u64() {
    uint64_t hi = u32();
    return (hi << 32) | u32();
  }
  /// Jute buffer/string. A length of -1 (null) decodes as empty; other negative lengths or
  /// lengths beyond the input fail the reader.
  std::string_view blob() {
    int32_t n = i32();
    if (!ok_ || n == -1) return {};
    if (n < 0 || !need(static_cast<size_t>(n))) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  /// Like blob(), and tells whether the value was null (length -1).
  std::string_view blob(bool* is_null) {
    size_t before = pos_;
    if (need(4)) {
      int32_t n = static_cast<int32_t>((uint32_t(uint8_t(in_[pos_])) << 24) | (uint32_t(uint8_t(in_[pos_ + 1])) << 16) |
                                       (uint32_t(uint8_t(in_[pos_ + 2])) << 8) | uint8_t(in_[pos_ + 3]));
      *is_null = n == -1;
    }
    pos_ = before;
    return blob();
  }
  /// Writer::uvarint's encoding; more than 64 bits, or input ending inside one, fails the reader.
  uint64_t uvarint() {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (!need(1)) return 0;
      const auto b = static_cast<uint8_t>(in_[pos_++]);
      if (shift == 63 && b > 1) break;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;
    return 0;
  }
  int64_t svarint() {
    const uint64_t u = uvarint();
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  /// Writer::vblob's encoding; a length beyond the input fails the reader.
  std::string_view vblob() {
    const uint64_t n = uvarint();
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  std::string_view raw(size_t n) {
    if (!need(n)) return {};
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view rest() {
    std::string_view s = in_.substr(pos_);
    pos_ = in_.size();
    return s;
  }

 private:
  bool need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace conclave
