#include <gtest/gtest.h>

#include "common/boxed.h"
#include "common/bytes.h"
#include "common/crc32c.h"
#include "common/digest.h"

using namespace conclave;

TEST(Crc32c, KnownVectors) {
  // RFC 3720 B.4 test vectors.
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  // Incremental equals one-shot.
  EXPECT_EQ(crc32c("6789", crc32c("12345")), crc32c("123456789"));
}

TEST(Digest, Sha1AndBase64) {
  EXPECT_EQ(hex_encode(as_view(sha1("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex_encode(as_view(sha1(""))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
}

TEST(Digest, Md5) {
  EXPECT_EQ(hex_encode(as_view(md5(""))), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(hex_encode(as_view(md5("The quick brown fox jumps over the lazy dog"))),
            "9e107d9d372bb6826bd81d3542a419d6");
}

TEST(Digest, ZooKeeperDigestScheme) {
  // DigestAuthenticationProvider.generateDigest("super:test"), a value from ZooKeeper's docs.
  EXPECT_EQ(zk_digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
}

TEST(Bytes, ReaderStopsAtEnd) {
  Bytes b;
  Writer w(b);
  w.i32(-5);
  w.blob("hello");
  w.i64(1ll << 40);
  Reader r(b);
  EXPECT_EQ(r.i32(), -5);
  EXPECT_EQ(r.blob(), "hello");
  EXPECT_EQ(r.i64(), 1ll << 40);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
  r.u8();
  EXPECT_FALSE(r.ok());
}

TEST(Bytes, BlobWithBadLengthFails) {
  Bytes b;
  Writer w(b);
  w.i32(100);
  w.raw("short");
  Reader r(b);
  r.blob();
  EXPECT_FALSE(r.ok());
  Bytes neg;
  Writer(neg).i32(-7);
  Reader r2(neg);
  r2.blob();
  EXPECT_FALSE(r2.ok());
}

TEST(Boxed, CopiesItsValueAndMovesItsPointer) {
  conclave::Boxed<std::string> empty;
  EXPECT_FALSE(empty);
  conclave::Boxed<std::string> a;
  a.emplace("value");
  conclave::Boxed<std::string> copy = a;  // its own value
  *copy += "!";
  EXPECT_EQ(*a, "value");
  EXPECT_EQ(*copy, "value!");
  const std::string* where = &*a;
  conclave::Boxed<std::string> moved = std::move(a);
  EXPECT_EQ(&*moved, where);  // the same object, not a copy
  EXPECT_FALSE(a);
  copy = empty;
  EXPECT_FALSE(copy);
  copy = moved;
  EXPECT_EQ(*copy, "value");
  EXPECT_NE(&*copy, where);
  moved.reset();
  EXPECT_FALSE(moved);
}
