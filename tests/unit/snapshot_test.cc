#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "state/tree.h"
#include "temp_dir.h"
#include "storage/snapshot_store.h"

using namespace conclave;
using namespace conclave::storage;
namespace fs = std::filesystem;

namespace {
struct TempDir : conclave::testing::TempDir {
  TempDir() : conclave::testing::TempDir("conclave-snap") {}
};
}  // namespace

TEST(Snapshot, RoundTripAndKeepsNewest) {
  TempDir d;
  SnapshotStore store(d.path.string(), true);
  ASSERT_TRUE(store.init().ok());
  for (raft::Index i : {10, 20, 30}) ASSERT_TRUE(store.save({i, 1, "payload-" + std::to_string(i)}, 2).ok());
  size_t files = 0;
  for (auto& de : fs::directory_iterator(d.path)) files += de.path().extension() == ".snap";
  EXPECT_EQ(files, 2u);
  auto latest = store.load_latest();
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->index, 30u);
  EXPECT_EQ((*latest)->payload, "payload-30");
}

TEST(Snapshot, CorruptNewestFallsBackToOlder) {
  TempDir d;
  SnapshotStore store(d.path.string(), false);
  ASSERT_TRUE(store.init().ok());
  ASSERT_TRUE(store.save({10, 1, "ten"}, 2).ok());
  ASSERT_TRUE(store.save({20, 1, "twenty"}, 2).ok());
  fs::path newest = d.path / "00000000000000000020.snap";
  fs::resize_file(newest, fs::file_size(newest) - 1);
  auto latest = store.load_latest();
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->index, 10u);
}

TEST(Snapshot, DecodeRejectsBitFlip) {
  std::string bytes = SnapshotStore::encode({5, 2, "hello world"});
  EXPECT_TRUE(SnapshotStore::decode(bytes, "x").ok());
  bytes[20] ^= 1;
  EXPECT_FALSE(SnapshotStore::decode(bytes, "x").ok());
  EXPECT_FALSE(SnapshotStore::decode("garbage", "x").ok());
}

TEST(Snapshot, TreeRoundTripPreservesEverything) {
  state::DataTree tree;
  state::Command s;
  s.kind = state::CommandKind::kCreateSession;
  s.session = 77;
  s.timeout_ms = 10000;
  s.password = "pw";
  tree.apply(1, s);
  state::Command c;
  c.kind = state::CommandKind::kTxn;
  c.session = 77;
  c.time_ms = 1000;
  c.ops.push_back(state::CreateOp{"/a", "data", false, state::open_acl_unsafe(), state::CreateMode::kPersistent, -1});
  c.ops.push_back(state::CreateOp{"/a/e", "", false, state::open_acl_unsafe(), state::CreateMode::kEphemeral, -1});
  c.ops.push_back(state::CreateOp{"/c", "", false, state::open_acl_unsafe(), state::CreateMode::kContainer, -1});
  c.multi = true;
  auto r = tree.apply(2, c);
  ASSERT_EQ(r.code, state::Code::kOk);
  Bytes snap;
  tree.encode_snapshot(snap);
  state::DataTree copy;
  ASSERT_TRUE(copy.decode_snapshot(snap));
  EXPECT_EQ(copy.digest(), tree.digest());
  EXPECT_EQ(copy.last_zxid(), 2);
  ASSERT_NE(copy.session(77), nullptr);
  EXPECT_EQ(copy.session(77)->ephemerals.count("/a/e"), 1u);
  EXPECT_EQ(copy.stat_of(*copy.find("/a")).num_children, 1);
  EXPECT_FALSE(copy.decode_snapshot(snap.substr(0, snap.size() - 3)));
}
