// The incremental snapshot: a SnapshotWriter frozen at one state, stepped a few znodes at a time
// while random creates, deletes, data and ACL changes, failing multis and sessions with ephemerals
// keep changing the tree (reusing record ids), must decode to exactly the tree as it was at the
// freeze. Then the tree at the end must still snapshot and decode to itself.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "state/snapshot.h"
#include "state/tree.h"

using namespace conclave::state;

namespace {

Command txn(std::vector<Op> ops, bool multi = false, SessionId session = 0) {
  Command c;
  c.kind = CommandKind::kTxn;
  c.ops = std::move(ops);
  c.multi = multi;
  c.session = session;
  c.time_ms = 1000;
  return c;
}

CreateOp create_op(const std::string& path, const std::string& data, CreateMode mode = CreateMode::kPersistent) {
  return CreateOp{path, data, false, open_acl_unsafe(), mode, -1};
}

std::string joined(std::vector<std::string> parts) {
  std::string out;
  for (auto& p : parts) out += p;
  return out;
}

// Applies one random change; paths are drawn from a small set so that changes collide.
void churn(DataTree& tree, int64_t& idx, std::mt19937& rng) {
  auto path = [&] {
    std::string p = "/d" + std::to_string(rng() % 4);
    if (rng() % 2) p += "/n" + std::to_string(rng() % 12);
    return p;
  };
  switch (rng() % 7) {
    case 0:
    case 1:
      tree.apply(++idx, txn({create_op(path(), std::string(rng() % 40, 'c'))}));
      break;
    case 2:
      tree.apply(++idx, txn({SetDataOp{path(), std::to_string(idx), false, -1}}));
      break;
    case 3:
      tree.apply(++idx, txn({DeleteOp{path(), -1}}));
      break;
    case 4: {  // a multi that fails half-way: applied, then rolled back
      std::string p = path();
      tree.apply(++idx, txn({SetDataOp{p, "rolled", false, -1}, DeleteOp{"/missing", -1}}, true));
      break;
    }
    case 5: {
      Command s;
      s.kind = CommandKind::kCreateSession;
      s.session = 100 + idx;
      s.timeout_ms = 4000;
      tree.apply(++idx, s);
      std::string eph = path() + "e" + std::to_string(idx);
      tree.apply(++idx, txn({create_op(eph, "eph", CreateMode::kEphemeral)}, false, s.session));
      break;
    }
    case 6: {
      Command close;
      close.kind = CommandKind::kCloseSession;
      close.session = 100 + idx - (rng() % 20);
      tree.apply(++idx, close);
      break;
    }
  }
}

TEST(SnapshotWriter, IsTheTreeAsItWasAtTheFreeze) {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    DataTree tree;
    int64_t idx = 0;
    for (int d = 0; d < 4; ++d) tree.apply(++idx, txn({create_op("/d" + std::to_string(d), "dir")}));
    for (int k = 0; k < 200; ++k) churn(tree, idx, rng);
    conclave::Bytes expected;
    tree.encode_snapshot(expected);
    DataTree at_freeze;
    ASSERT_TRUE(at_freeze.decode_snapshot(expected));

    uint64_t copied = 0;
    std::string got;
    {
      SnapshotWriter w(tree);
      while (!w.step(1 + rng() % 5))
        for (int k = rng() % 6; k > 0; --k) churn(tree, idx, rng);
      copied = w.copied_on_write();
      got = joined(w.take_parts());
    }
    DataTree decoded;
    ASSERT_TRUE(decoded.decode_snapshot(got)) << "seed " << seed;
    EXPECT_EQ(decoded.digest(), at_freeze.digest()) << "seed " << seed;
    EXPECT_EQ(decoded.node_count(), at_freeze.node_count()) << "seed " << seed;
    EXPECT_NE(decoded.digest(), tree.digest()) << "seed " << seed << ": the churn changed nothing";
    if (seed == 1) {
      EXPECT_GT(copied, 0u) << "no znode was copied on write: the test exercises nothing";
      EXPECT_GT(at_freeze.ephemeral_count(), 0u) << "no ephemeral at the freeze: sessions are not exercised";
    }

    // Unobserved again: the current tree snapshots and decodes to itself.
    conclave::Bytes now;
    tree.encode_snapshot(now);
    DataTree again;
    ASSERT_TRUE(again.decode_snapshot(now));
    EXPECT_EQ(again.digest(), tree.digest());
  }
}

TEST(SnapshotWriter, WritesInFixedParts) {
  DataTree tree;
  int64_t idx = 0;
  std::string big(100000, 'x');
  tree.apply(++idx, txn({create_op("/big", "")}));
  for (int k = 0; k < 100; ++k) tree.apply(++idx, txn({create_op("/big/" + std::to_string(k), big)}));
  SnapshotWriter w(tree);
  while (!w.step(7)) {
  }
  auto parts = w.take_parts();
  ASSERT_GE(parts.size(), 3u);
  for (size_t i = 0; i + 1 < parts.size(); ++i) EXPECT_EQ(parts[i].size(), parts[i].capacity()) << "parts are filled";
  DataTree decoded;
  ASSERT_TRUE(decoded.decode_snapshot(joined(std::move(parts))));
  EXPECT_EQ(decoded.digest(), tree.digest());
}

}  // namespace
