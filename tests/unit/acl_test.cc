#include <gtest/gtest.h>

#include "common/digest.h"
#include "state/acl.h"

using namespace conclave::state;

TEST(Acl, WorldAnyoneAndEmpty) {
  EXPECT_TRUE(acl_allows(open_acl_unsafe(), perms::kWrite, {}));
  EXPECT_TRUE(acl_allows({}, perms::kAdmin, {}));
  AclList read_only{{perms::kRead, {"world", "anyone"}}};
  EXPECT_TRUE(acl_allows(read_only, perms::kRead, {}));
  EXPECT_FALSE(acl_allows(read_only, perms::kWrite, {}));
  // A request for READ|ADMIN passes when any of them is granted (getACL).
  EXPECT_TRUE(acl_allows(read_only, perms::kRead | perms::kAdmin, {}));
}

TEST(Acl, DigestIpAndSuper) {
  std::string id = conclave::zk_digest("bob:secret");
  AclList acl{{perms::kAll, {"digest", id}}};
  EXPECT_FALSE(acl_allows(acl, perms::kRead, {{"ip", "127.0.0.1"}}));
  EXPECT_TRUE(acl_allows(acl, perms::kRead, {{"ip", "127.0.0.1"}, {"digest", id}}));
  EXPECT_TRUE(acl_allows(acl, perms::kRead, {{"super", ""}}));
  AclList ip{{perms::kRead, {"ip", "10.0.0.0/8"}}};
  EXPECT_TRUE(acl_allows(ip, perms::kRead, {{"ip", "10.1.2.3"}}));
  EXPECT_FALSE(acl_allows(ip, perms::kRead, {{"ip", "11.1.2.3"}}));
  AclList one{{perms::kRead, {"ip", "127.0.0.1"}}};
  EXPECT_TRUE(acl_allows(one, perms::kRead, {{"ip", "127.0.0.1"}}));
  EXPECT_FALSE(acl_allows(one, perms::kRead, {{"ip", "127.0.0.2"}}));
  AclList v6{{perms::kRead, {"ip", "::1"}}};
  EXPECT_TRUE(acl_allows(v6, perms::kRead, {{"ip", "::1"}}));
}

TEST(Acl, FixupRules) {
  AclList out;
  EXPECT_EQ(fixup_acl({}, {}, &out), Code::kInvalidAcl);
  EXPECT_EQ(fixup_acl({{perms::kAll, {"auth", ""}}}, {{"ip", "127.0.0.1"}}, &out), Code::kInvalidAcl);
  EXPECT_EQ(fixup_acl({{perms::kAll, {"auth", ""}}}, {{"ip", "127.0.0.1"}, {"digest", "u:h"}}, &out), Code::kOk);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, (Id{"digest", "u:h"}));
  EXPECT_EQ(fixup_acl({{perms::kAll, {"world", "someone"}}}, {}, &out), Code::kInvalidAcl);
  EXPECT_EQ(fixup_acl({{perms::kAll, {"nosuch", "x"}}}, {}, &out), Code::kInvalidAcl);
  EXPECT_EQ(fixup_acl({{perms::kAll, {"digest", "nocolon"}}}, {}, &out), Code::kInvalidAcl);
  EXPECT_EQ(fixup_acl({{perms::kAll, {"ip", "300.1.1.1"}}}, {}, &out), Code::kInvalidAcl);
  EXPECT_EQ(fixup_acl({{perms::kAll, {"ip", "10.0.0.0/33"}}}, {}, &out), Code::kInvalidAcl);
  // Duplicates collapse.
  EXPECT_EQ(fixup_acl({{perms::kAll, {"world", "anyone"}}, {perms::kAll, {"world", "anyone"}}}, {}, &out), Code::kOk);
  EXPECT_EQ(out.size(), 1u);
}
