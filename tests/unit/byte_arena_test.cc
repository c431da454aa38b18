// The znodes' byte arena: blocks keep their bytes through random churn of every size class, large
// blocks included; freed space is reused, so steady churn does not grow what the arena holds; and the
// store's block header reads back both its short and its wide form.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>

#include "state/byte_arena.h"
#include "state/node_store.h"

using namespace conclave::state;

namespace {

struct Held {
  size_t size;
  char fill;
};

bool intact(const char* p, const Held& h) {
  for (size_t i = 0; i < h.size; ++i)
    if (p[i] != static_cast<char>(h.fill + i)) return false;
  return true;
}

TEST(ByteArena, BlocksKeepTheirBytesThroughChurnOfEverySize) {
  ByteArena arena;
  std::map<char*, Held> held;
  std::mt19937 rng(11);
  size_t expect_used = 0;
  for (int step = 0; step < 60000; ++step) {
    if (held.size() < 2000 && (held.empty() || rng() % 3 != 0)) {
      size_t n = rng() % 10 == 0 ? 1 + rng() % 20000 : 1 + rng() % 600;
      char* p = arena.allocate(n);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % ByteArena::kGrain, 0u);
      ASSERT_FALSE(held.count(p)) << "block handed out twice";
      Held h{n, static_cast<char>(rng())};
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<char>(h.fill + i);
      held[p] = h;
      expect_used += n > ByteArena::kMaxSmall ? n : ByteArena::rounded(n);
    } else {
      auto it = held.begin();
      std::advance(it, rng() % held.size());
      ASSERT_TRUE(intact(it->first, it->second)) << "a block changed while held, at step " << step;
      arena.release(it->first, it->second.size);
      expect_used -= it->second.size > ByteArena::kMaxSmall ? it->second.size : ByteArena::rounded(it->second.size);
      held.erase(it);
    }
    ASSERT_EQ(arena.used_bytes(), expect_used);
  }
  for (auto& [p, h] : held) {
    ASSERT_TRUE(intact(p, h));
    // No two held blocks overlap.
    auto next = held.upper_bound(p);
    if (next != held.end()) {
      ASSERT_LE(p + ByteArena::rounded(h.size), next->first);
    }
  }
}

TEST(ByteArena, SteadyChurnReusesFreedSpace) {
  ByteArena arena;
  std::vector<std::pair<char*, size_t>> live;
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; ++i) {
    size_t n = 100 + rng() % 40;
    live.emplace_back(arena.allocate(n), n);
  }
  const size_t held_after_fill = arena.held_bytes();
  for (int round = 0; round < 20; ++round) {
    for (auto& [p, n] : live) {
      if (rng() % 2) continue;
      arena.release(p, n);
      n = 100 + rng() % 40;  // a new block of about the same size
      p = arena.allocate(n);
    }
  }
  // Sizes vary, so a class can run short now and then; a few slabs at most, not one per round.
  EXPECT_LE(arena.held_bytes(), held_after_fill + 3 * ByteArena::kSlabBytes);
  // With the slab full, smaller blocks are cut from a freed larger one rather than from a new slab.
  ByteArena full;
  std::vector<char*> blocks;
  const size_t first = ByteArena::slab_bytes(0);
  for (size_t i = 0; i < first / 1024; ++i) blocks.push_back(full.allocate(1024));
  if (first % 1024) full.allocate(first % 1024);
  ASSERT_EQ(full.held_bytes(), first);
  full.release(blocks[7], 1024);
  std::vector<char*> cut;
  for (int i = 0; i < 12; ++i) cut.push_back(full.allocate(80));  // 960 of the 1024 bytes
  EXPECT_EQ(full.held_bytes(), first);
  for (char* p : cut) EXPECT_TRUE(p >= blocks[7] && p < blocks[7] + 1024);
  full.allocate(80);  // no room left in it: a new slab, twice the size
  EXPECT_EQ(full.held_bytes(), first + ByteArena::slab_bytes(1));
  EXPECT_EQ(ByteArena::slab_bytes(1), 2 * first + ByteArena::kSlabOverhead);
  EXPECT_EQ(ByteArena::slab_bytes(8), ByteArena::kSlabBytes);
  EXPECT_EQ(ByteArena::slab_bytes(7) + ByteArena::kSlabOverhead, (ByteArena::kSlabBytes + ByteArena::kSlabOverhead) / 2);
}

TEST(ByteArena, MovedFromArenaIsEmptyAndTheMovedBlocksStay) {
  ByteArena a;
  char* p = a.allocate(50);
  std::memcpy(p, "hello", 5);
  char* q = a.allocate(10000);
  std::memcpy(q, "large", 5);
  ByteArena b = std::move(a);
  EXPECT_EQ(a.held_bytes(), 0u);
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(std::memcmp(p, "hello", 5), 0);
  EXPECT_EQ(std::memcmp(q, "large", 5), 0);
  b.release(q, 10000);
  b.release(p, 50);
  EXPECT_EQ(b.used_bytes(), 0u);
  char* r = a.allocate(8);  // the moved-from arena still works
  a.release(r, 8);
}

TEST(NodeStore, BlockHeaderReadsBackInBothForms) {
  NodeStore store;
  NodeId root = store.create("/", "", false, kNoNodeId);
  struct Case {
    size_t path_len, data_len;
    bool null;
  };
  const Case cases[] = {{1, 0, true},    {2, 0, false},     {255, 65535, false}, {256, 10, false},
                        {20, 65536, false}, {300, 70000, true}, {10, 1, false}};
  std::mt19937 rng(3);
  std::vector<std::pair<NodeId, std::pair<std::string, std::string>>> made;
  for (const Case& c : cases) {
    std::string path = "/" + std::string(c.path_len - 1, static_cast<char>('a' + made.size()));
    std::string data(c.data_len, '\0');
    for (auto& ch : data) ch = static_cast<char>(rng());
    NodeId id = store.create(path, data, c.null, root);
    made.push_back({id, {path, data}});
    EXPECT_EQ(store.at(id).path(), path);
    EXPECT_EQ(store.at(id).data(), data);
    EXPECT_EQ(store.at(id).data_null(), c.null);
  }
  // Switch every node between the forms, both ways.
  for (size_t i = 0; i < made.size(); ++i) {
    auto& [id, pd] = made[i];
    std::string data(made[made.size() - 1 - i].second.second.size(), 'x');
    store.set_data(id, data, false);
    pd.second = data;
  }
  for (auto& [id, pd] : made) {
    EXPECT_EQ(store.at(id).path(), pd.first);
    EXPECT_EQ(store.at(id).data(), pd.second);
    EXPECT_FALSE(store.at(id).data_null());
  }
  for (auto& [id, pd] : made) store.destroy(id);
  EXPECT_EQ(store.live(), 1u);
}

// Giving a node its extra block (a first child, a rare field) moves its byte block: in both
// header forms the path, data and null flag read back the same, the fields stay, and a later
// set_data keeps the extra block.
TEST(NodeStore, ExtraBlockKeepsPathDataAndFlagsInBothForms) {
  NodeStore store;
  NodeId root = store.create("/", "", false, kNoNodeId);
  const std::pair<size_t, size_t> sizes[] = {{5, 3}, {300, 10}, {20, 70000}};
  int n = 0;
  for (auto [path_len, data_len] : sizes) {
    const std::string path = "/" + std::string(path_len - 1, static_cast<char>('a' + n++));
    const std::string data(data_len, 'd');
    NodeId p = store.create(path, data, n == 2, root);
    EXPECT_EQ(store.at(p).child_count(), 0u);
    NodeId kid = store.create(path + "/k", "kid", false, p);
    EXPECT_EQ(store.at(p).path(), path);
    EXPECT_EQ(store.at(p).data(), data);
    EXPECT_EQ(store.at(p).data_null(), n == 2);
    EXPECT_EQ(store.at(p).child_count(), 1u);
    EXPECT_EQ(*store.at(p).kids_begin(), kid);
    store.set_aversion(kid, 4);
    EXPECT_EQ(store.at(kid).path(), path + "/k");
    EXPECT_EQ(store.at(kid).data(), "kid");
    EXPECT_EQ(store.at(kid).aversion(), 4);
    store.set_data(p, "new", false);
    EXPECT_EQ(store.at(p).path(), path);
    EXPECT_EQ(store.at(p).data(), "new");
    EXPECT_EQ(store.at(p).child_count(), 1u);
    store.set_pzxid(p, 42);
    EXPECT_EQ(store.at(p).pzxid(), 42);
  }
  // A moved store takes the nodes and their extra blocks; the source is left empty.
  const size_t live = store.live();
  NodeStore moved = std::move(store);
  EXPECT_EQ(moved.live(), live);
  EXPECT_EQ(store.live(), 0u);
  EXPECT_EQ(moved.at(root).child_count(), 3u);
  NodeId again = store.create("/", "", false, kNoNodeId);  // the moved-from store still works
  EXPECT_EQ(store.at(again).path(), "/");
}

}  // namespace
