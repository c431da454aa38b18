// The compact znode storage: the path index against a std::unordered_map model under random
// inserts and erases (small tables, so probe runs wrap around), and the tree on top of it keeping
// children, multi rollback and snapshots consistent while record ids are reused.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <unordered_map>

#include "state/node_store.h"
#include "state/tree.h"

using namespace conclave::state;

namespace {

TEST(NodeStore, IndexMatchesAModelUnderRandomInsertAndErase) {
  NodeStore store;
  PathIndex index;
  std::unordered_map<std::string, NodeId> model;
  NodeId root = store.create("/", "", false, kNoNodeId);
  index.insert(store, root);
  model["/"] = root;
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    std::string path = "/n" + std::to_string(rng() % 300);
    auto it = model.find(path);
    if (it == model.end()) {
      NodeId id = store.create(path, std::string(rng() % 40, 'd'), false, root);
      index.insert(store, id);
      model[path] = id;
    } else if (rng() % 2) {
      index.erase(store, path);
      store.destroy(it->second);
      model.erase(it);
    }
    if (step % 97 == 0) {
      for (const auto& [p, id] : model) ASSERT_EQ(index.find(store, p), id) << p;
      for (int k = 0; k < 300; ++k) {
        std::string q = "/n" + std::to_string(k);
        ASSERT_EQ(index.find(store, q) != kNoNodeId, model.count(q) == 1) << q;
      }
    }
  }
  EXPECT_EQ(index.size(), model.size());
  EXPECT_EQ(store.live(), model.size());
  EXPECT_EQ(store.at(root).child_count(), model.size() - 1);
  // Every child slot points back at a live child of the root.
  std::set<NodeId> kids(store.at(root).kids_begin(), store.at(root).kids_end());
  for (const auto& [p, id] : model)
    if (p != "/") {
      EXPECT_EQ(kids.count(id), 1u) << p;
    }
}

TEST(NodeStore, SetDataKeepsThePathAndNullFlag) {
  NodeStore store;
  NodeId id = store.create("/a/long/enough/path", "old", false, kNoNodeId);
  store.set_data(id, std::string(1000, 'x'), false);
  EXPECT_EQ(store.at(id).path(), "/a/long/enough/path");
  EXPECT_EQ(store.at(id).data().size(), 1000u);
  store.set_data(id, "", true);
  EXPECT_TRUE(store.at(id).data_null());
  EXPECT_EQ(store.at(id).name(), "path");
}

// The four fields most znodes leave at their defaults live in an extra block; a node reports the
// same values with or without it, and a reused record starts from the defaults again.
TEST(NodeStore, RareFieldsReadTheSameWithOrWithoutTheExtraBlock) {
  NodeStore store;
  NodeId root = store.create("/", "", false, kNoNodeId);
  NodeMeta m;
  m.czxid = m.mzxid = 7;
  m.pzxid = 7;
  m.ctime = m.mtime = 1234;
  m.version = 3;
  m.acl = 1;
  NodeId leaf = store.create("/leaf", "x", false, root);
  store.set_meta(leaf, m);
  const Node& l = store.at(leaf);
  EXPECT_EQ(l.meta().pzxid, 7);
  EXPECT_EQ(l.cversion(), 0);
  EXPECT_EQ(l.aversion(), 0);
  EXPECT_EQ(l.ephemeral_owner(), 0);
  EXPECT_EQ(l.version, 3);

  // Every field round-trips through set_meta/meta, including the rare ones.
  NodeMeta rare = m;
  rare.pzxid = 99;
  rare.cversion = 5;
  rare.aversion = 2;
  rare.ephemeral_owner = 0x1234;
  NodeId eph = store.create("/eph", "", true, root);
  store.set_meta(eph, rare);
  NodeMeta got = store.at(eph).meta();
  EXPECT_EQ(got.czxid, 7);
  EXPECT_EQ(got.pzxid, 99);
  EXPECT_EQ(got.cversion, 5);
  EXPECT_EQ(got.aversion, 2);
  EXPECT_EQ(got.ephemeral_owner, 0x1234);
  EXPECT_EQ(got.ctime, 1234);
  EXPECT_EQ(got.acl, 1u);

  // A first child gives the parent a child list without changing what it reports.
  NodeId kid = store.create("/leaf/kid", "", false, leaf);
  EXPECT_EQ(store.at(leaf).child_count(), 1u);
  EXPECT_EQ(store.at(leaf).pzxid(), 7);
  store.set_pzxid(leaf, 8);
  store.set_cversion(leaf, 1);
  store.destroy(kid);
  EXPECT_FALSE(store.at(leaf).has_children());
  EXPECT_EQ(store.at(leaf).pzxid(), 8);
  EXPECT_EQ(store.at(leaf).cversion(), 1);

  // A freed record handed out again reports a fresh node's defaults.
  store.destroy(eph);
  NodeId again = store.create("/again", "", false, root);
  EXPECT_EQ(again, eph);
  EXPECT_EQ(store.at(again).ephemeral_owner(), 0);
  EXPECT_EQ(store.at(again).pzxid(), 0);
  EXPECT_EQ(store.at(again).cversion(), 0);
  EXPECT_EQ(store.at(again).aversion(), 0);
}

Command txn(std::vector<Op> ops, bool multi = false) {
  Command c;
  c.kind = CommandKind::kTxn;
  c.ops = std::move(ops);
  c.multi = multi;
  c.time_ms = 1000;
  return c;
}

CreateOp create_op(const std::string& path, const std::string& data = "v") {
  return CreateOp{path, data, false, open_acl_unsafe(), CreateMode::kPersistent, -1};
}

std::set<std::string> children_of(const DataTree& t, const std::string& path) {
  std::set<std::string> out;
  t.for_each_child(*t.find(path), [&](std::string_view c) { out.emplace(c); });
  return out;
}

// Decodes the tree's snapshot into `copy`: it must load, with the same digest and znode count.
void round_trip(const DataTree& tree, DataTree& copy) {
  conclave::Bytes snap;
  tree.encode_snapshot(snap);
  ASSERT_TRUE(copy.decode_snapshot(snap));
  EXPECT_EQ(copy.digest(), tree.digest());
  EXPECT_EQ(copy.node_count(), tree.node_count());
}

TEST(NodeStore, TreeSurvivesChurnRollbackAndSnapshotWithReusedIds) {
  DataTree tree;
  int64_t idx = 0;
  ASSERT_EQ(tree.apply(++idx, txn({create_op("/p")})).code, Code::kOk);
  std::mt19937 rng(11);
  std::set<std::string> model;
  for (int step = 0; step < 3000; ++step) {
    std::string path = "/p/c" + std::to_string(rng() % 100);
    if (model.count(path)) {
      ASSERT_EQ(tree.apply(++idx, txn({DeleteOp{path, -1}})).code, Code::kOk);
      model.erase(path);
    } else {
      ASSERT_EQ(tree.apply(++idx, txn({create_op(path, std::to_string(step))})).code, Code::kOk);
      model.insert(path);
    }
  }
  std::set<std::string> names;
  for (const auto& p : model) names.insert(p.substr(3));
  EXPECT_EQ(children_of(tree, "/p"), names);

  // A multi that deletes and recreates, then fails, leaves the tree as it was.
  const std::string victim = *model.begin();
  const uint64_t before = tree.digest();
  auto r = tree.apply(++idx, txn({DeleteOp{victim, -1}, create_op("/p/new"), SetDataOp{"/p", "x", false, -1},
                                  create_op("/missing/child")},
                                 true));
  EXPECT_EQ(r.code, Code::kNoNode);
  EXPECT_EQ(tree.digest(), before);
  EXPECT_EQ(children_of(tree, "/p"), names);
  EXPECT_EQ(tree.find("/p/new"), nullptr);

  DataTree copy;
  ASSERT_NO_FATAL_FAILURE(round_trip(tree, copy));
  EXPECT_EQ(children_of(copy, "/p"), names);
  EXPECT_EQ(copy.find(victim)->data(), tree.find(victim)->data());
}

TEST(NodeStore, SnapshotDecodeRejectsBadParents) {
  DataTree tree;
  ASSERT_EQ(tree.apply(1, txn({create_op("/a"), create_op("/a/b")}, true)).code, Code::kOk);
  conclave::Bytes snap;
  tree.encode_snapshot(snap);
  DataTree copy;
  ASSERT_TRUE(copy.decode_snapshot(snap));
  // Records are u32 id, u32 parent id, name...: find /a/b's ("b", a 1-byte name) and /a's.
  size_t b = snap.find(std::string("\0\0\0\1b", 5));
  size_t a = snap.find(std::string("\0\0\0\1a", 5));
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(a, std::string::npos);
  auto id_at = [&](size_t pos) { return conclave::Reader(std::string_view(snap).substr(pos, 4)).u32(); };
  auto with_parent = [&](size_t rec, uint32_t parent) {
    conclave::Bytes bad = snap;
    for (int k = 0; k < 4; ++k) bad[rec - 4 + k] = char(parent >> (24 - 8 * k));
    return bad;
  };
  uint32_t b_id = id_at(b - 8);
  EXPECT_FALSE(copy.decode_snapshot(with_parent(b, b_id)));   // its own parent
  EXPECT_FALSE(copy.decode_snapshot(with_parent(b, 999)));    // a parent that is not there
  EXPECT_FALSE(copy.decode_snapshot(with_parent(a, b_id)));   // a cycle, cut off from the root
  EXPECT_FALSE(copy.decode_snapshot(with_parent(a, UINT32_MAX)));  // a second root
  EXPECT_NE(copy.find("/a/b"), nullptr);  // a rejected decode leaves the tree as it was
}

// Damaged snapshot bytes (a leader's or a disk's) are refused or decode to a consistent tree; they
// never crash the decoder (this runs under ASan+UBSan in the test command).
TEST(NodeStore, SnapshotDecodeSurvivesRandomDamage) {
  DataTree tree;
  Command s;
  s.kind = CommandKind::kCreateSession;
  s.session = 5;
  s.timeout_ms = 4000;
  tree.apply(1, s);
  Command c = txn({create_op("/a"), create_op("/a/b", "bee"), create_op("/a/b/c"), create_op("/z", "")}, true);
  c.ops.push_back(CreateOp{"/a/e", "", false, open_acl_unsafe(), CreateMode::kEphemeral, -1});
  c.session = 5;
  ASSERT_EQ(tree.apply(2, c).code, Code::kOk);
  conclave::Bytes good;
  tree.encode_snapshot(good);
  std::mt19937 rng(3);
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    conclave::Bytes bad = good;
    switch (round % 3) {
      case 0:
        bad[rng() % bad.size()] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:
        bad.resize(rng() % bad.size());
        break;
      default:
        for (int k = 0; k < 4; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    DataTree copy;
    if (!copy.decode_snapshot(bad)) {
      EXPECT_NE(copy.find("/zookeeper"), nullptr);  // a refused decode leaves the tree as it was
      continue;
    }
    ++accepted;  // e.g. a flipped bit inside data or a zxid
    size_t reachable = 0;
    std::vector<std::string> stack{"/"};
    while (!stack.empty()) {
      std::string p = stack.back();
      stack.pop_back();
      const Node* n = copy.find(p);
      ASSERT_NE(n, nullptr) << p;
      ++reachable;
      copy.for_each_child(*n, [&](std::string_view name) {
        stack.push_back(p == "/" ? "/" + std::string(name) : p + "/" + std::string(name));
      });
    }
    EXPECT_EQ(reachable, copy.node_count());
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace

// Ids are reused, but the survivors of a mass delete keep their high ids: a tree of a few znodes
// can have ids far above its size, and its snapshot must still load.
TEST(NodeStore, SnapshotOfFewSurvivorsWithHighIdsLoads) {
  DataTree tree;
  int64_t idx = 0;
  for (int i = 0; i < 3000; ++i)
    ASSERT_EQ(tree.apply(++idx, txn({create_op("/n" + std::to_string(i))})).code, Code::kOk);
  for (int i = 0; i < 2995; ++i) ASSERT_EQ(tree.apply(++idx, txn({DeleteOp{"/n" + std::to_string(i), -1}})).code, Code::kOk);
  DataTree copy;
  ASSERT_NO_FATAL_FAILURE(round_trip(tree, copy));
  EXPECT_NE(copy.find("/n2999"), nullptr);
}
