#include <gtest/gtest.h>

#include "state/watches.h"

using namespace conclave::state;

namespace {
std::vector<Delivery> fire(WatchRegistry& r, EventType t, const std::string& p) {
  std::vector<Delivery> out;
  r.fire({t, p}, &out);
  return out;
}
}  // namespace

TEST(Watches, OneShotDataAndChild) {
  WatchRegistry r;
  r.add(1, WatchKind::kData, "/a");
  r.add(2, WatchKind::kChild, "/a");
  EXPECT_EQ(fire(r, EventType::kNodeDataChanged, "/a").size(), 1u);
  EXPECT_TRUE(fire(r, EventType::kNodeDataChanged, "/a").empty());  // one-shot
  auto d = fire(r, EventType::kNodeChildrenChanged, "/a");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].watcher, 2u);
  EXPECT_EQ(r.watch_count(), 0u);
}

TEST(Watches, DeleteFiresDataAndChildOncePerWatcher) {
  WatchRegistry r;
  r.add(1, WatchKind::kData, "/a");
  r.add(1, WatchKind::kChild, "/a");
  auto d = fire(r, EventType::kNodeDeleted, "/a");
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(r.watch_count(), 0u);
}

TEST(Watches, PersistentAndRecursive) {
  WatchRegistry r;
  r.add(1, WatchKind::kPersistent, "/a");
  r.add(2, WatchKind::kPersistentRecursive, "/a");
  EXPECT_EQ(fire(r, EventType::kNodeDataChanged, "/a").size(), 2u);
  EXPECT_EQ(fire(r, EventType::kNodeDataChanged, "/a").size(), 2u);  // persistent
  auto child = fire(r, EventType::kNodeChildrenChanged, "/a");
  ASSERT_EQ(child.size(), 1u);  // recursive watches never see NodeChildrenChanged
  EXPECT_EQ(child[0].watcher, 1u);
  auto deep = fire(r, EventType::kNodeCreated, "/a/b/c");
  ASSERT_EQ(deep.size(), 1u);
  EXPECT_EQ(deep[0].watcher, 2u);
  EXPECT_TRUE(fire(r, EventType::kNodeCreated, "/ab").empty());
}

TEST(Watches, RemoveAndCheck) {
  WatchRegistry r;
  r.add(1, WatchKind::kData, "/a");
  EXPECT_TRUE(r.has(1, "/a", 2));
  EXPECT_FALSE(r.has(1, "/a", 1));
  EXPECT_FALSE(r.remove(1, "/a", 1));
  EXPECT_TRUE(r.remove(1, "/a", 3));
  EXPECT_EQ(r.watch_count(), 0u);
  r.add(1, WatchKind::kData, "/x");
  r.add(1, WatchKind::kChild, "/y");
  r.remove_watcher(1);
  EXPECT_EQ(r.watch_count(), 0u);
  EXPECT_EQ(r.path_count(), 0u);
}
