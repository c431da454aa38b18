#include <gtest/gtest.h>

#include "common/digest.h"
#include "zk/protocol.h"
#include "zk/sasl.h"

using namespace conclave;
using namespace conclave::zk;

TEST(ZkCodec, ConnectRequestWithAndWithoutReadOnly) {
  Bytes b;
  Writer w(b);
  w.i32(0);
  w.i64(5);
  w.i32(30000);
  w.i64(0);
  w.blob(std::string(16, '\0'));
  ConnectRequest req;
  ASSERT_TRUE(decode_connect(b, &req));
  EXPECT_FALSE(req.has_read_only);
  EXPECT_EQ(req.timeout_ms, 30000);
  EXPECT_EQ(req.last_zxid_seen, 5);
  w.boolean(true);
  ASSERT_TRUE(decode_connect(b, &req));
  EXPECT_TRUE(req.has_read_only);
  EXPECT_TRUE(req.read_only);
  EXPECT_FALSE(decode_connect(b.substr(0, 10), &req));
}

TEST(ZkCodec, ConnectResponseFrame) {
  ConnectResponse r;
  r.timeout_ms = 4000;
  r.session_id = 0x1122334455667788;
  r.password = "0123456789abcdef";
  Bytes f = encode_connect_response(r, true);
  Reader rd(f);
  EXPECT_EQ(rd.i32(), static_cast<int32_t>(f.size() - 4));
  EXPECT_EQ(rd.i32(), 0);
  EXPECT_EQ(rd.i32(), 4000);
  EXPECT_EQ(rd.i64(), 0x1122334455667788);
  EXPECT_EQ(rd.blob(), "0123456789abcdef");
  EXPECT_FALSE(rd.boolean());
  EXPECT_TRUE(rd.at_end());
}

TEST(ZkCodec, MultiDecoding) {
  Bytes b;
  Writer w(b);
  w.i32(op::kCreate);
  w.boolean(false);
  w.i32(-1);
  w.blob("/a");
  w.blob("data");
  w.i32(1);
  w.i32(31);
  w.blob("world");
  w.blob("anyone");
  w.i32(0);
  w.i32(op::kCheck);
  w.boolean(false);
  w.i32(-1);
  w.blob("/a");
  w.i32(3);
  w.i32(-1);
  w.boolean(true);
  w.i32(-1);
  std::vector<MultiElement> elems;
  ASSERT_TRUE(decode_multi(b, false, &elems));
  ASSERT_EQ(elems.size(), 2u);
  EXPECT_EQ(std::get<state::CreateOp>(elems[0].op).path, "/a");
  EXPECT_EQ(std::get<state::CheckOp>(elems[1].op).version, 3);
  // Reads are not allowed in a write multi, and a truncated multi is refused.
  std::vector<MultiElement> none;
  EXPECT_FALSE(decode_multi(b, true, &none));
  EXPECT_FALSE(decode_multi(b.substr(0, b.size() - 5), false, &none));
}

TEST(ZkCodec, NotificationFrame) {
  Bytes f = encode_notification(-1, state::EventType::kNodeDataChanged, 3, "/x");
  Reader r(f);
  r.i32();
  EXPECT_EQ(r.i32(), -1);
  EXPECT_EQ(r.i64(), -1);
  EXPECT_EQ(r.i32(), 0);
  EXPECT_EQ(r.i32(), 3);
  EXPECT_EQ(r.i32(), 3);
  EXPECT_EQ(r.blob(), "/x");
  EXPECT_TRUE(r.at_end());
}

TEST(Sasl, JaasAndDirectives) {
  std::map<std::string, std::string> users;
  ASSERT_TRUE(parse_jaas_users(
      "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_super=\"adminsecret\"\n"
      "  user_bob=\"bobsecret\";\n};\n",
      &users));
  EXPECT_EQ(users["bob"], "bobsecret");
  EXPECT_EQ(users["super"], "adminsecret");
  auto d = parse_directives("username=\"bob\",nc=00000001,qop=auth,realm=\"zk-sasl-md5\"");
  EXPECT_EQ(d["username"], "bob");
  EXPECT_EQ(d["nc"], "00000001");
  EXPECT_EQ(d["qop"], "auth");
}

TEST(Sasl, DigestMd5RoundTrip) {
  // Client side computed here from RFC 2831 to check the server's verification and rspauth.
  std::map<std::string, std::string> users{{"bob", "secret"}};
  int step = 0;
  std::string nonce, response, user;
  ASSERT_EQ(sasl_digest_md5_step(users, "zk-sasl-md5", "", &step, &nonce, "0123456789abcdef", &response, &user),
            SaslResult::kContinue);
  auto ch = parse_directives(response);
  EXPECT_EQ(ch["nonce"], nonce);
  std::string cnonce = "cn", nc = "00000001", uri = "zookeeper/zk-sasl-md5";
  std::string a1 = std::string(as_view(md5("bob:zk-sasl-md5:secret"))) + ":" + nonce + ":" + cnonce;
  auto kd = [&](const std::string& a2) {
    return hex_encode(as_view(md5(hex_encode(as_view(md5(a1))) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" +
                                  hex_encode(as_view(md5(a2))))));
  };
  std::string token = "username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"" + nonce + "\",cnonce=\"" + cnonce +
                      "\",nc=" + nc + ",qop=auth,digest-uri=\"" + uri + "\",response=" + kd("AUTHENTICATE:" + uri);
  ASSERT_EQ(sasl_digest_md5_step(users, "zk-sasl-md5", token, &step, &nonce, "", &response, &user), SaslResult::kDone);
  EXPECT_EQ(user, "bob");
  EXPECT_EQ(response, "rspauth=" + kd(":" + uri));
  // A wrong password fails.
  int step2 = 0;
  std::string nonce2;
  sasl_digest_md5_step(users, "zk-sasl-md5", "", &step2, &nonce2, "x", &response, &user);
  EXPECT_EQ(sasl_digest_md5_step(users, "zk-sasl-md5", "username=\"bob\",nonce=\"" + nonce2 + "\",response=00", &step2,
                                 &nonce2, "", &response, &user),
            SaslResult::kFailed);
}
