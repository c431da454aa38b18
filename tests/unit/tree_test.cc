// State-machine semantics, table-driven where it reads better. Expected codes are ZooKeeper 3.8's.
#include <gtest/gtest.h>

#include "state/tree.h"

using namespace conclave::state;

namespace {

class TreeTest : public ::testing::Test {
 protected:
  DataTree tree;
  int64_t index = 0;
  int64_t now = 1000;

  ApplyResult run(Command c) {
    if (c.time_ms == 0) c.time_ms = now;
    return tree.apply(++index, c);
  }
  void open_session(SessionId id) {
    Command c;
    c.kind = CommandKind::kCreateSession;
    c.session = id;
    c.timeout_ms = 10000;
    c.password = "pw";
    run(c);
  }
  Command txn(std::vector<Op> ops, SessionId session = 0, bool multi = false) {
    Command c;
    c.kind = CommandKind::kTxn;
    c.session = session;
    c.ops = std::move(ops);
    c.multi = multi;
    c.auth = {{"ip", "127.0.0.1"}};
    return c;
  }
  OpResult create(const std::string& path, CreateMode mode = CreateMode::kPersistent, SessionId s = 0,
                  const std::string& data = "", AclList acl = open_acl_unsafe(), int64_t ttl = -1) {
    auto r = run(txn({CreateOp{path, data, false, acl, mode, ttl}}, s));
    return r.results.at(0);
  }
  Code remove(const std::string& path, int32_t version = -1) {
    return run(txn({DeleteOp{path, version}})).results.at(0).code;
  }
  Code set(const std::string& path, const std::string& data, int32_t version = -1) {
    return run(txn({SetDataOp{path, data, false, version}})).results.at(0).code;
  }
};

}  // namespace

TEST_F(TreeTest, SystemNodesExist) {
  ASSERT_NE(tree.find("/"), nullptr);
  ASSERT_NE(tree.find("/zookeeper"), nullptr);
  ASSERT_NE(tree.find("/zookeeper/quota"), nullptr);
  ASSERT_NE(tree.find("/zookeeper/config"), nullptr);
  EXPECT_EQ(tree.stat_of(*tree.find("/")).num_children, 1);
  EXPECT_EQ(tree.count_descendants("/"), 3);
}

TEST_F(TreeTest, CreateSetsFullStat) {
  auto r = create("/a", CreateMode::kPersistent, 0, "hello");
  ASSERT_EQ(r.code, Code::kOk);
  EXPECT_EQ(r.path, "/a");
  EXPECT_EQ(r.stat.czxid, index);
  EXPECT_EQ(r.stat.mzxid, index);
  EXPECT_EQ(r.stat.pzxid, index);
  EXPECT_EQ(r.stat.ctime, now);
  EXPECT_EQ(r.stat.data_length, 5);
  const Stat root = tree.stat_of(*tree.find("/"));
  EXPECT_EQ(root.cversion, 0);  // reported as 2 * creates - children = 2 * 1 - 2
  EXPECT_EQ(root.pzxid, index);
  EXPECT_EQ(root.num_children, 2);
}

TEST_F(TreeTest, CreateErrors) {
  ASSERT_EQ(create("/a").code, Code::kOk);
  struct Case {
    const char* name;
    std::string path;
    CreateMode mode;
    int64_t ttl;
    Code expected;
  } cases[] = {
      {"exists", "/a", CreateMode::kPersistent, -1, Code::kNodeExists},
      {"root exists", "/", CreateMode::kPersistent, -1, Code::kNodeExists},
      {"no parent", "/x/y", CreateMode::kPersistent, -1, Code::kNoNode},
      {"no slash", "a", CreateMode::kPersistent, -1, Code::kBadArguments},
      {"trailing slash", "/a/", CreateMode::kPersistent, -1, Code::kBadArguments},
      {"dot", "/a/.", CreateMode::kPersistent, -1, Code::kBadArguments},
      {"ttl without ttl", "/t", CreateMode::kPersistentWithTtl, -1, Code::kBadArguments},
      {"ttl too big", "/t", CreateMode::kPersistentWithTtl, kMaxTtlMs + 1, Code::kBadArguments},
      {"ttl on plain node", "/t", CreateMode::kPersistent, 100, Code::kBadArguments},
      {"bad mode", "/t", static_cast<CreateMode>(9), -1, Code::kBadArguments},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(create(c.path, c.mode, 0, "", open_acl_unsafe(), c.ttl).code, c.expected);
  }
  EXPECT_EQ(create("/b", CreateMode::kPersistent, 0, "", {}).code, Code::kInvalidAcl);
}

TEST_F(TreeTest, SequentialNamesUseParentCversion) {
  ASSERT_EQ(create("/q").code, Code::kOk);
  EXPECT_EQ(create("/q/n-", CreateMode::kPersistentSequential).path, "/q/n-0000000000");
  EXPECT_EQ(create("/q/other").code, Code::kOk);
  EXPECT_EQ(create("/q/n-", CreateMode::kPersistentSequential).path, "/q/n-0000000002");
  EXPECT_EQ(remove("/q/other"), Code::kOk);
  // Deletes change the reported cversion but not the sequence counter.
  EXPECT_EQ(tree.stat_of(*tree.find("/q")).cversion, 4);
  EXPECT_EQ(create("/q/", CreateMode::kPersistentSequential).path, "/q/0000000003");
}

TEST_F(TreeTest, EphemeralsBelongToSessionAndDieWithIt) {
  open_session(42);
  auto r = create("/e", CreateMode::kEphemeral, 42);
  ASSERT_EQ(r.code, Code::kOk);
  EXPECT_EQ(r.stat.ephemeral_owner, 42);
  EXPECT_EQ(create("/e/child").code, Code::kNoChildrenForEphemerals);
  EXPECT_EQ(create("/gone", CreateMode::kEphemeral, 99).code, Code::kSessionExpired);
  Command close;
  close.kind = CommandKind::kCloseSession;
  close.session = 42;
  auto cr = run(close);
  EXPECT_EQ(tree.find("/e"), nullptr);
  ASSERT_EQ(cr.triggers.size(), 2u);
  EXPECT_EQ(cr.triggers[0].type, EventType::kNodeDeleted);
  EXPECT_EQ(tree.session(42), nullptr);
}

TEST_F(TreeTest, DeleteRules) {
  ASSERT_EQ(create("/d").code, Code::kOk);
  ASSERT_EQ(create("/d/c").code, Code::kOk);
  EXPECT_EQ(remove("/d"), Code::kNotEmpty);
  EXPECT_EQ(remove("/d/c", 5), Code::kBadVersion);
  EXPECT_EQ(remove("/d/c", 0), Code::kOk);
  EXPECT_EQ(remove("/d/c"), Code::kNoNode);
  EXPECT_EQ(remove("/zookeeper"), Code::kBadArguments);
  EXPECT_EQ(remove("/"), Code::kBadArguments);
  EXPECT_EQ(remove("nope"), Code::kBadArguments);
  EXPECT_EQ(remove("/x/y"), Code::kNoNode);
}

TEST_F(TreeTest, SetDataVersions) {
  ASSERT_EQ(create("/s").code, Code::kOk);
  EXPECT_EQ(set("/s", "1", 0), Code::kOk);
  EXPECT_EQ(set("/s", "2", 0), Code::kBadVersion);
  EXPECT_EQ(set("/s", "2", -1), Code::kOk);
  EXPECT_EQ(tree.stat_of(*tree.find("/s")).version, 2);
  EXPECT_EQ(set("/missing", "x"), Code::kNoNode);
}

TEST_F(TreeTest, AclEnforcement) {
  AclList read_only{{perms::kRead, {"world", "anyone"}}};
  ASSERT_EQ(create("/ro", CreateMode::kPersistent, 0, "", read_only).code, Code::kOk);
  EXPECT_EQ(set("/ro", "x"), Code::kNoAuth);
  EXPECT_EQ(create("/ro/child").code, Code::kNoAuth);
  auto c = txn({SetDataOp{"/ro", "x", false, -1}});
  c.auth.push_back({"super", ""});
  EXPECT_EQ(run(c).results[0].code, Code::kOk);
  // setACL needs ADMIN and checks aversion.
  auto sa = txn({SetAclOp{"/ro", open_acl_unsafe(), -1}});
  EXPECT_EQ(run(sa).results[0].code, Code::kNoAuth);
  ASSERT_EQ(create("/open").code, Code::kOk);
  EXPECT_EQ(run(txn({SetAclOp{"/open", read_only, 3}})).results[0].code, Code::kBadVersion);
  auto ok = run(txn({SetAclOp{"/open", read_only, 0}}));
  EXPECT_EQ(ok.results[0].code, Code::kOk);
  EXPECT_EQ(ok.results[0].stat.aversion, 1);
}

TEST_F(TreeTest, MultiIsAllOrNothing) {
  ASSERT_EQ(create("/m").code, Code::kOk);
  Stat before = tree.stat_of(*tree.find("/m"));
  uint64_t digest = tree.digest();
  auto r = run(txn({CreateOp{"/m/a", "", false, open_acl_unsafe(), CreateMode::kPersistent, -1},
                    SetDataOp{"/m", "changed", false, -1},
                    DeleteOp{"/m/nonexistent", -1},
                    CreateOp{"/m/b", "", false, open_acl_unsafe(), CreateMode::kPersistent, -1}},
                   0, true));
  EXPECT_EQ(r.code, Code::kNoNode);
  ASSERT_EQ(r.results.size(), 4u);
  EXPECT_EQ(r.results[0].code, Code::kOk);
  EXPECT_EQ(r.results[1].code, Code::kOk);
  EXPECT_EQ(r.results[2].code, Code::kNoNode);
  EXPECT_EQ(r.results[3].code, Code::kRuntimeInconsistency);
  EXPECT_TRUE(r.triggers.empty());
  EXPECT_EQ(tree.find("/m/a"), nullptr);
  EXPECT_EQ(tree.stat_of(*tree.find("/m")), before);
  EXPECT_EQ(tree.digest(), digest);
}

TEST_F(TreeTest, MultiRollsBackDeletesAndSequentials) {
  open_session(7);
  ASSERT_EQ(create("/r").code, Code::kOk);
  ASSERT_EQ(create("/r/e", CreateMode::kEphemeral, 7).code, Code::kOk);
  uint64_t digest = tree.digest();
  auto r = run(txn({DeleteOp{"/r/e", -1}, CreateOp{"/r/s-", "", false, open_acl_unsafe(), CreateMode::kPersistentSequential, -1},
                    CheckOp{"/r", 99}},
                   7, true));
  EXPECT_EQ(r.code, Code::kBadVersion);
  EXPECT_EQ(tree.digest(), digest);
  EXPECT_EQ(tree.session(7)->ephemerals.count("/r/e"), 1u);
  // The same multi with a passing check applies all of it.
  auto ok = run(txn({DeleteOp{"/r/e", -1}, CreateOp{"/r/s-", "", false, open_acl_unsafe(), CreateMode::kPersistentSequential, -1},
                     CheckOp{"/r", 0}},
                    7, true));
  EXPECT_EQ(ok.code, Code::kOk);
  EXPECT_EQ(ok.results[1].path, "/r/s-0000000001");
  EXPECT_EQ(tree.session(7)->ephemerals.count("/r/e"), 0u);
}

TEST_F(TreeTest, ContainersAndTtlAreReaped) {
  ASSERT_EQ(create("/c", CreateMode::kContainer).code, Code::kOk);
  EXPECT_TRUE(tree.reap_candidates(now).empty());  // never had children: kept
  ASSERT_EQ(create("/c/x").code, Code::kOk);
  ASSERT_EQ(remove("/c/x"), Code::kOk);
  auto cands = tree.reap_candidates(now);
  ASSERT_EQ(cands.size(), 1u);
  EXPECT_EQ(cands[0], "/c");
  ASSERT_EQ(create("/t", CreateMode::kPersistentWithTtl, 0, "", open_acl_unsafe(), 500).code, Code::kOk);
  EXPECT_EQ(tree.reap_candidates(now + 100).size(), 1u);
  EXPECT_EQ(tree.reap_candidates(now + 1000).size(), 2u);
  Command reap;
  reap.kind = CommandKind::kReap;
  reap.reap_path = "/t";
  reap.time_ms = now + 1000;
  EXPECT_EQ(run(reap).code, Code::kOk);
  EXPECT_EQ(tree.find("/t"), nullptr);
  // A reap that is no longer due (a child appeared) changes nothing.
  ASSERT_EQ(create("/c/y").code, Code::kOk);
  reap.reap_path = "/c";
  EXPECT_EQ(run(reap).code, Code::kNoNode);
  EXPECT_NE(tree.find("/c"), nullptr);
}

TEST_F(TreeTest, ReplayingTheSameCommandsGivesTheSameDigest) {
  std::vector<Command> log;
  Command s;
  s.kind = CommandKind::kCreateSession;
  s.session = 5;
  s.timeout_ms = 4000;
  log.push_back(s);
  for (int i = 0; i < 50; ++i) {
    log.push_back(txn({CreateOp{"/n" + std::to_string(i), "v", false, open_acl_unsafe(),
                                i % 3 == 0 ? CreateMode::kEphemeral : CreateMode::kPersistentSequential, -1}},
                      5));
    log.back().time_ms = 100 + i;
  }
  DataTree a, b;
  for (size_t i = 0; i < log.size(); ++i) {
    a.apply(static_cast<int64_t>(i + 1), log[i]);
    b.apply(static_cast<int64_t>(i + 1), log[i]);
  }
  EXPECT_EQ(a.digest(), b.digest());
}

TEST(Command, EncodeDecodeRoundTrip) {
  Command c;
  c.kind = CommandKind::kTxn;
  c.session = 0x1234;
  c.time_ms = 99;
  c.auth = {{"digest", "u:x"}};
  c.multi = true;
  c.ops = {CreateOp{"/a", "d", false, open_acl_unsafe(), CreateMode::kPersistentSequentialWithTtl, 10},
           DeleteOp{"/b", 3}, SetDataOp{"/c", "x", false, 1}, SetAclOp{"/d", open_acl_unsafe(), 2}, CheckOp{"/e", 4}};
  c.trace = "trace";
  conclave::Bytes b;
  encode_command(c, b);
  Command d;
  ASSERT_TRUE(decode_command(b, &d));
  conclave::Bytes b2;
  encode_command(d, b2);
  EXPECT_EQ(b, b2);
  EXPECT_FALSE(decode_command(b.substr(0, b.size() - 1), &d));
  EXPECT_FALSE(decode_command("", &d));
}
