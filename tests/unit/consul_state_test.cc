// The Consul side of the replicated state: KV ops on the znode tree (implicit parents, CAS,
// locks, lock-delay, session invalidation), all-or-nothing rollback of Consul metadata, the
// command encoding (format 3 from one field list, formats 1 and 2 still read) and snapshot formats 6/5/4.
#include <gtest/gtest.h>

#include <functional>

#include "common/bytes.h"
#include "state/tree.h"

using namespace conclave;
using namespace conclave::state;

namespace {

class ConsulStateTest : public ::testing::Test {
 protected:
  DataTree tree;
  int64_t index = 0;
  int64_t now = 1000000;

  ApplyResult run(Command c) {
    c.time_ms = now;
    return tree.apply(++index, c);
  }
  ApplyResult kv(std::vector<KvOp> ops) {
    Command c;
    c.kind = CommandKind::kTxn;
    c.multi = true;
    for (auto& o : ops) c.ops.push_back(std::move(o));
    return run(c);
  }
  Code kv1(KvVerb verb, const std::string& path, const std::string& value = "", int64_t idx = 0, SessionId s = 0,
           uint64_t flags = 0) {
    return kv({KvOp{verb, path, value, flags, idx, s}}).code;
  }
  SessionId consul_session(SessionId id, int64_t lock_delay_ms = 15000, uint8_t behavior = 0) {
    Command c;
    c.kind = CommandKind::kCreateSession;
    c.session = id;
    c.consul = true;
    c.consul_session.uuid = "uuid-" + std::to_string(id);
    c.consul_session.lock_delay_ms = lock_delay_ms;
    c.consul_session.behavior = behavior;
    c.consul_session.ttl_ms = 10000;
    EXPECT_EQ(run(c).code, Code::kOk);
    return id;
  }
  void close(SessionId id) {
    Command c;
    c.kind = CommandKind::kCloseSession;
    c.session = id;
    run(c);
  }
  const KvMeta* meta(const std::string& p) { return tree.kv_meta(p); }
};

TEST_F(ConsulStateTest, SetCreatesImplicitParentsThatGoWithTheirLastChild) {
  ASSERT_EQ(kv1(KvVerb::kSet, "/a/b/c", "v", 0, 0, 7), Code::kOk);
  ASSERT_NE(tree.find("/a/b"), nullptr);
  EXPECT_FALSE(tree.is_kv_key(*tree.find("/a/b")));
  EXPECT_TRUE(tree.is_kv_key(*tree.find("/a/b/c")));
  EXPECT_EQ(meta("/a/b/c")->flags, 7u);
  EXPECT_EQ(tree.find("/a/b/c")->data(), "v");
  // An explicit write to an implicit parent makes it a key.
  ASSERT_EQ(kv1(KvVerb::kSet, "/a", "top"), Code::kOk);
  EXPECT_TRUE(tree.is_kv_key(*tree.find("/a")));
  ASSERT_EQ(kv1(KvVerb::kDelete, "/a/b/c"), Code::kOk);
  EXPECT_EQ(tree.find("/a/b"), nullptr) << "implicit parent removed with its last child";
  EXPECT_NE(tree.find("/a"), nullptr) << "a key is never removed implicitly";
  EXPECT_EQ(meta("/a/b"), nullptr);
}

TEST_F(ConsulStateTest, CasAndDeleteCas) {
  EXPECT_EQ(kv1(KvVerb::kCas, "/k", "v", 0), Code::kOk);
  EXPECT_EQ(kv1(KvVerb::kCas, "/k", "v", 0), Code::kBadVersion);
  int64_t m = tree.find("/k")->mzxid;
  EXPECT_EQ(kv1(KvVerb::kCas, "/k", "w", m + 1), Code::kBadVersion);
  EXPECT_EQ(kv1(KvVerb::kCas, "/k", "w", m), Code::kOk);
  EXPECT_EQ(kv1(KvVerb::kDeleteCas, "/k", "", m), Code::kBadVersion);
  EXPECT_EQ(kv1(KvVerb::kDeleteCas, "/k", "", tree.find("/k")->mzxid), Code::kOk);
  EXPECT_EQ(tree.find("/k"), nullptr);
  EXPECT_EQ(kv1(KvVerb::kDeleteCas, "/k", "", 5), Code::kOk) << "Consul: delete-cas of a missing key succeeds";
}

TEST_F(ConsulStateTest, LocksLockIndexAndLockDelay) {
  SessionId s1 = consul_session(0x10, 5000), s2 = consul_session(0x20, 0);
  EXPECT_EQ(kv1(KvVerb::kLock, "/l", "x", 0, s1), Code::kOk);
  EXPECT_EQ(meta("/l")->lock_index, 1u);
  EXPECT_EQ(kv1(KvVerb::kLock, "/l", "y", 0, s2), Code::kBadVersion);
  EXPECT_EQ(kv1(KvVerb::kLock, "/l", "z", 0, s1), Code::kOk);
  EXPECT_EQ(meta("/l")->lock_index, 1u) << "re-acquire by the holder keeps LockIndex";
  EXPECT_EQ(tree.session(s1)->held.count("/l"), 1u);
  EXPECT_EQ(kv1(KvVerb::kLock, "/l", "", 0, 0x999), Code::kSessionExpired);
  close(s1);
  EXPECT_EQ(meta("/l")->session, 0);
  EXPECT_EQ(tree.find("/l")->data(), "z");
  EXPECT_EQ(kv1(KvVerb::kLock, "/l", "y", 0, s2), Code::kBadVersion) << "within s1's lock delay";
  now += 5001;
  EXPECT_EQ(kv1(KvVerb::kLock, "/l", "y", 0, s2), Code::kOk);
  EXPECT_EQ(meta("/l")->lock_index, 2u);
  EXPECT_EQ(kv1(KvVerb::kUnlock, "/l", "", 0, s1 + 1), Code::kSessionExpired);
  EXPECT_EQ(kv1(KvVerb::kUnlock, "/l", "done", 0, s2), Code::kOk);
  EXPECT_EQ(meta("/l")->session, 0);
}

TEST_F(ConsulStateTest, BehaviorDeleteAndZooKeeperEphemeralsAreHeld) {
  SessionId s = consul_session(0x30, 0, 1);
  ASSERT_EQ(kv1(KvVerb::kLock, "/d/key", "x", 0, s), Code::kOk);
  close(s);
  EXPECT_EQ(tree.find("/d/key"), nullptr);
  EXPECT_EQ(tree.find("/d"), nullptr);
  // A ZooKeeper session's ephemeral is held by that session for Consul.
  Command cs;
  cs.kind = CommandKind::kCreateSession;
  cs.session = 0x40;
  cs.timeout_ms = 10000;
  run(cs);
  Command create;
  create.kind = CommandKind::kTxn;
  create.session = 0x40;
  create.ops = {CreateOp{"/eph", "", false, open_acl_unsafe(), CreateMode::kEphemeral, -1}};
  ASSERT_EQ(run(create).code, Code::kOk);
  EXPECT_EQ(tree.kv_holder(*tree.find("/eph")), 0x40);
  EXPECT_EQ(tree.session_by_uuid(zk_session_uuid(0x40)), 0x40);
  SessionId other = consul_session(0x50, 0);
  EXPECT_EQ(kv1(KvVerb::kLock, "/eph", "", 0, other), Code::kBadVersion);
  EXPECT_EQ(kv1(KvVerb::kCheckSession, "/eph", "", 0, 0x40), Code::kOk);
}

TEST_F(ConsulStateTest, FailedTxnRollsBackMetadataToo) {
  SessionId s = consul_session(0x60, 0);
  ASSERT_EQ(kv1(KvVerb::kSet, "/t/a", "a", 0, 0, 1), Code::kOk);
  uint64_t digest = tree.digest();
  auto r = kv({KvOp{KvVerb::kSet, "/t/a", "changed", 99, 0, 0}, KvOp{KvVerb::kLock, "/t/b/c", "x", 0, 0, s},
               KvOp{KvVerb::kDeleteTree, "/t/", "", 0, 0, 0}, KvOp{KvVerb::kGet, "/t/missing", "", 0, 0, 0}});
  EXPECT_EQ(r.code, Code::kNoNode);
  EXPECT_EQ(r.results[3].code, Code::kNoNode);
  EXPECT_EQ(tree.digest(), digest);
  EXPECT_EQ(meta("/t/a")->flags, 1u);
  EXPECT_TRUE(tree.session(s)->held.empty());
  EXPECT_EQ(tree.find("/t/b"), nullptr);
}

TEST_F(ConsulStateTest, DeleteTreeIsAStringPrefixAndSparesZooKeeperSystemNodes) {
  for (const char* p : {"/app/one", "/app/two/x", "/apple", "/banana"}) ASSERT_EQ(kv1(KvVerb::kSet, p, "v"), Code::kOk);
  ASSERT_EQ(kv1(KvVerb::kDeleteTree, "/app"), Code::kOk);
  EXPECT_EQ(tree.find("/apple"), nullptr);
  EXPECT_EQ(tree.find("/app"), nullptr);
  EXPECT_NE(tree.find("/banana"), nullptr);
  ASSERT_EQ(kv1(KvVerb::kDeleteTree, "/"), Code::kOk);
  EXPECT_EQ(tree.find("/banana"), nullptr);
  EXPECT_NE(tree.find("/zookeeper/config"), nullptr);
}


// Rewrites a format-7 snapshot in format 6: the same bytes but for the znode section, which
// format 6 lists parent-first, each znode naming its parent by ordinal (a reference encoder of
// the older format, to show it still loads).
std::string to_format6(const std::string& v7) {
  conclave::Reader r(v7);
  r.u32();
  r.i64();
  uint32_t nacls = r.u32();
  for (uint32_t i = 0; i < nacls; ++i) {
    uint32_t n = r.u32();
    for (uint32_t k = 0; k < n; ++k) {
      r.i32();
      r.blob();
      r.blob();
    }
  }
  size_t nodes_at = r.position();
  uint64_t count = r.u64();
  struct Rec {
    uint32_t id, parent;
    std::string body;  // name to ACL ref
  };
  std::vector<Rec> recs;
  for (uint64_t i = 0; i < count; ++i) {
    Rec rec;
    rec.id = r.u32();
    rec.parent = r.u32();
    size_t from = r.position();
    r.blob();
    r.boolean();
    r.blob();
    r.raw(6 * 8 + 3 * 4 + 4);
    rec.body = v7.substr(from, r.position() - from);
    recs.push_back(rec);
  }
  EXPECT_TRUE(r.ok());
  std::string out = v7.substr(0, nodes_at);
  out[3] = 6;
  conclave::Writer w(out);
  w.u64(count);
  uint32_t next = 0;
  // Pre-order from the root, children found by scanning (the test trees are small).
  std::function<void(uint32_t, uint32_t)> visit = [&](uint32_t parent_id, uint32_t parent_ordinal) {
    for (const Rec& rec : recs) {
      if (rec.parent != parent_id) continue;
      w.u32(parent_ordinal);
      w.raw(rec.body);
      uint32_t mine = next++;
      visit(rec.id, mine);
    }
  };
  visit(UINT32_MAX, UINT32_MAX);
  EXPECT_EQ(next, count);
  out += v7.substr(r.position());
  return out;
}

TEST_F(ConsulStateTest, SnapshotKeepsConsulStateAndFormat4StillLoads) {
  SessionId s = consul_session(0x70, 3000);
  ASSERT_EQ(kv1(KvVerb::kLock, "/snap/k", "v", 0, s, 5), Code::kOk);
  ASSERT_EQ(kv1(KvVerb::kLock, "/snap/other", "v", 0, s), Code::kOk);
  close(s);  // leaves lock delays
  SessionId s2 = consul_session(0x71, 0);
  ASSERT_EQ(kv1(KvVerb::kLock, "/snap/held", "v", 0, s2), Code::kOk);
  Bytes bytes;
  tree.encode_snapshot(bytes);
  DataTree copy;
  ASSERT_TRUE(copy.decode_snapshot(bytes));
  EXPECT_EQ(copy.digest(), tree.digest());
  EXPECT_EQ(copy.session_by_uuid("uuid-113"), s2);
  EXPECT_EQ(copy.session(s2)->held.count("/snap/held"), 1u);
  EXPECT_EQ(copy.lock_delay_until("/snap/k"), tree.lock_delay_until("/snap/k"));
  EXPECT_GT(copy.lock_delay_until("/snap/k"), 0);
  EXPECT_FALSE(copy.is_kv_key(*copy.find("/snap")));

  // A format-4 snapshot (no Consul sections) of a tree without sessions still loads.
  DataTree plain;
  Command c;
  c.kind = CommandKind::kTxn;
  c.ops = {CreateOp{"/z", "data", false, open_acl_unsafe(), CreateMode::kPersistent, -1}};
  plain.apply(1, c);
  Bytes v7;
  plain.encode_snapshot(v7);
  std::string v6 = to_format6(v7);
  DataTree from6;
  ASSERT_TRUE(from6.decode_snapshot(v6));
  EXPECT_EQ(from6.digest(), plain.digest());
  std::string v5 = v6.substr(0, v6.size() - 24);  // u64 catalog nodes, u64 indexes, u64 mirrored znodes
  v5[3] = 5;
  DataTree from5;
  ASSERT_TRUE(from5.decode_snapshot(v5));
  EXPECT_EQ(from5.digest(), plain.digest());
  std::string v4 = v5.substr(0, v5.size() - 16);  // u64 KvMeta count + u64 lock-delay count
  v4[3] = 4;
  DataTree from4;
  ASSERT_TRUE(from4.decode_snapshot(v4));
  EXPECT_EQ(from4.digest(), plain.digest());
  v4[3] = 9;
  EXPECT_FALSE(from4.decode_snapshot(v4));
}

TEST(CommandEncoding, EveryFieldRoundTrips) {
  Command c;
  c.kind = CommandKind::kTxn;
  c.session = -5;
  c.time_ms = 123456789;
  c.auth = {{"digest", "u:x"}, {"ip", "1.2.3.4"}};
  c.multi = true;
  c.ops = {CreateOp{"/a", "d", true, {Acl{31, Id{"world", "anyone"}}}, CreateMode::kPersistentWithTtl, 500},
           DeleteOp{"/b", 3}, SetDataOp{"/c", "x", false, 2}, SetAclOp{"/d", {}, 1}, CheckOp{"/e", 7},
           KvOp{KvVerb::kLock, "/f", "val", 42, 99, 0x77}};
  c.timeout_ms = 4000;
  c.password = std::string("\0pw", 3);
  c.reap_path = "/r";
  c.trace = "trace";
  c.origin = 0xABCDEF;
  c.consul = true;
  c.consul_session = ConsulSessionSpec{"u", "n", "node", 1, 10000, 15000, {"serfHealth"}, {"svc"}};
  Bytes b;
  encode_command(c, b);
  EXPECT_EQ(static_cast<uint8_t>(b[0]), kCommandFormat);
  Command d;
  ASSERT_TRUE(decode_command(b, &d));
  Bytes again;
  encode_command(d, again);
  EXPECT_EQ(again, b);
  EXPECT_EQ(std::get<KvOp>(d.ops[5]).flags, 42u);
  EXPECT_EQ(d.consul_session, c.consul_session);
  // Every truncation is refused, never misread.
  for (size_t n = 0; n < b.size(); ++n) EXPECT_FALSE(decode_command(std::string_view(b).substr(0, n), &d)) << n;
}

TEST(CommandEncoding, Format6EntriesStillDecodeAndVarintsAreShorter) {
  // The command of EveryFieldRoundTrips (plus an event) as format 6 wrote it: fixed-width
  // big-endian integers and four-byte lengths.
  const std::string hex =
      "0603fffffffffffffffb00000000075bcd15000000020000000664696765737400000003753a78000000026970000000"
      "07312e322e332e34010000000600000000022f61000000016401000000010000001f00000005776f726c640000000661"
      "6e796f6e650000000500000000000001f401000000022f620000000302000000022f6300000001780000000002030000"
      "00022f64000000000000000104000000022f65000000070503000000022f660000000376616c000000000000002a0000"
      "000000000063000000000000007700000fa000000003007077000000022f720000000574726163650000000000abcdef"
      "010000000175000000016e000000046e6f64650100000000000027100000000000003a98000000010000000a73657266"
      "4865616c74680000000100000003737663000000027b7d";
  Bytes b;
  for (size_t i = 0; i < hex.size(); i += 2) b.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  ASSERT_EQ(static_cast<uint8_t>(b[0]), 6);
  Command d;
  ASSERT_TRUE(decode_command(b, &d));
  EXPECT_EQ(d.session, -5);
  EXPECT_EQ(d.time_ms, 123456789);
  ASSERT_EQ(d.auth.size(), 2u);
  EXPECT_EQ(d.auth[1].id, "1.2.3.4");
  ASSERT_EQ(d.ops.size(), 6u);
  EXPECT_EQ(std::get<CreateOp>(d.ops[0]).ttl_ms, 500);
  EXPECT_EQ(std::get<DeleteOp>(d.ops[1]).version, 3);
  EXPECT_EQ(std::get<KvOp>(d.ops[5]).flags, 42u);
  EXPECT_EQ(d.timeout_ms, 4000);
  EXPECT_EQ(d.password, std::string("\0pw", 3));
  EXPECT_EQ(d.origin, 0xABCDEFu);
  EXPECT_EQ(d.consul_session.ttl_ms, 10000);
  EXPECT_EQ(d.event, "{}");
  Bytes as6;
  encode_command_as(d, 6, as6);
  EXPECT_EQ(as6, b);  // the fixed-width writer kept for tests is format 6's
  // Written again it is format 7, a third smaller or more, and reads back the same.
  Bytes now;
  encode_command(d, now);
  EXPECT_EQ(static_cast<uint8_t>(now[0]), kCommandFormat);
  EXPECT_LT(now.size() * 3, b.size() * 2) << now.size() << " vs " << b.size();
  Command e;
  ASSERT_TRUE(decode_command(now, &e));
  Bytes again;
  encode_command(e, again);
  EXPECT_EQ(again, now);
}

// Varints: the edges of each width round-trip; overlong, overflowing and truncated ones fail.
TEST(CommandEncoding, VarintsRoundTripAndRejectDamage) {
  for (int64_t v : {int64_t(0), int64_t(-1), int64_t(63), int64_t(-64), int64_t(64), int64_t(1) << 40, INT64_MAX, INT64_MIN}) {
    Bytes b;
    Writer(b).svarint(v);
    Reader r(b);
    EXPECT_EQ(r.svarint(), v);
    EXPECT_TRUE(r.ok() && r.at_end());
  }
  Bytes max;
  Writer(max).uvarint(UINT64_MAX);
  EXPECT_EQ(max.size(), 10u);
  Reader rm(max);
  EXPECT_EQ(rm.uvarint(), UINT64_MAX);
  EXPECT_TRUE(rm.ok());
  Bytes over = max;
  over.back() = 2;  // a 65th bit
  Reader ro(over);
  ro.uvarint();
  EXPECT_FALSE(ro.ok());
  Bytes cut = max.substr(0, 9);
  Reader rc(cut);
  rc.uvarint();
  EXPECT_FALSE(rc.ok());
  Bytes blob;
  Writer(blob).uvarint(5);
  blob += "abc";  // two bytes short
  Reader rb(blob);
  rb.vblob();
  EXPECT_FALSE(rb.ok());
}

TEST(CommandEncoding, Format1EntriesStillDecode) {
  // The layout written before the field lists: version 1, kind, session, time, auth, multi,
  // ops (tagged), timeout, password, reap path, trace, origin.
  Bytes b;
  Writer w(b);
  w.u8(1);
  w.u8(static_cast<uint8_t>(CommandKind::kTxn));
  w.i64(0x42);
  w.i64(777);
  w.u32(1);
  w.blob("ip");
  w.blob("127.0.0.1");
  w.boolean(false);
  w.u32(1);
  w.u8(3);  // setData
  w.blob("/x");
  w.blob("data");
  w.boolean(false);
  w.i32(-1);
  w.i32(0);
  w.blob("");
  w.blob("");
  w.blob("");
  w.u64(9);
  Command c;
  ASSERT_TRUE(decode_command(b, &c));
  EXPECT_EQ(c.session, 0x42);
  EXPECT_EQ(c.time_ms, 777);
  EXPECT_EQ(std::get<SetDataOp>(c.ops.at(0)).data, "data");
  EXPECT_EQ(c.origin, 9u);
  b[0] = 3;
  EXPECT_FALSE(decode_command(b, &c));
}

}  // namespace
