#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "temp_dir.h"
#include "storage/file_util.h"
#include "storage/wal.h"

using namespace conclave;
using namespace conclave::storage;
namespace fs = std::filesystem;

namespace {

struct TempDir : conclave::testing::TempDir {
  TempDir() : conclave::testing::TempDir("conclave-wal") {}
};

raft::Entry entry(raft::Index i, std::string data) {
  raft::Entry e;
  e.term = 1;
  e.index = i;
  e.data = std::move(data);
  return e;
}

// Follows the WAL's durable tickets.
struct Durable {
  std::atomic<uint64_t> ticket{0};
  explicit Durable(Wal& wal) {
    wal.set_ticket_callback([this](uint64_t t) { ticket = t; });
  }
  bool wait(uint64_t t) {
    for (int k = 0; k < 5000 && ticket < t; ++k) usleep(1000);
    return ticket >= t;
  }
};

uint64_t append(Wal& wal, raft::Entry e) { return wal.submit(std::nullopt, {std::move(e)}); }

// Appends entries and waits until the WAL reports them durable.
void write_entries(const std::string& dir, raft::Index from, raft::Index to, uint64_t segment_bytes = 64 << 20) {
  WalOptions o{dir, segment_bytes, true};
  RecoveredLog log;
  auto wal = Wal::open(o, 0, &log);
  ASSERT_TRUE(wal.ok()) << wal.error().message;
  Durable durable(**wal);
  uint64_t last = 0;
  for (raft::Index i = from; i <= to; ++i) last = append(**wal, entry(i, "data-" + std::to_string(i)));
  EXPECT_TRUE(durable.wait(last));
  (*wal)->close();
}

std::vector<fs::path> segments(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& de : fs::directory_iterator(dir))
    if (de.path().extension() == ".wal") out.push_back(de.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(Wal, RecoversWhatWasWritten) {
  TempDir d;
  write_entries(d.path.string(), 1, 100);
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 0, &log);
  ASSERT_TRUE(wal.ok());
  ASSERT_EQ(log.entries.size(), 100u);
  EXPECT_EQ(log.entries.front().index, 1u);
  EXPECT_EQ(log.entries.back().data, "data-100");
  EXPECT_EQ(log.truncated_bytes, 0u);
}

TEST(Wal, GroupCommitSharesFsyncs) {
  TempDir d;
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 0, &log);
  ASSERT_TRUE(wal.ok());
  Durable durable(**wal);
  uint64_t last = 0;
  for (raft::Index i = 1; i <= 2000; ++i) last = append(**wal, entry(i, "x"));
  ASSERT_TRUE(durable.wait(last));
  // 2000 appends queued back to back cannot each get their own fdatasync.
  EXPECT_LT((*wal)->stats().fsyncs, 2000u);
}

TEST(Wal, SkipsEntriesCoveredBySnapshot) {
  TempDir d;
  write_entries(d.path.string(), 1, 50);
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 40, &log);
  ASSERT_TRUE(wal.ok());
  ASSERT_EQ(log.entries.size(), 10u);
  EXPECT_EQ(log.entries.front().index, 41u);
}

TEST(Wal, TornTailIsTruncated) {
  TempDir d;
  write_entries(d.path.string(), 1, 10);
  auto segs = segments(d.path);
  fs::path last;
  for (auto& s : segs)
    if (fs::file_size(s) > 40) last = s;
  auto size = fs::file_size(last);
  fs::resize_file(last, size - 3);  // cut the last record short
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 0, &log);
  ASSERT_TRUE(wal.ok()) << wal.error().message;
  EXPECT_EQ(log.entries.size(), 9u);
  EXPECT_GT(log.truncated_bytes, 0u);
  (*wal)->close();
  // The truncation is durable: a second recovery sees a clean log.
  RecoveredLog again;
  auto wal2 = Wal::open({d.path.string()}, 0, &again);
  ASSERT_TRUE(wal2.ok());
  EXPECT_EQ(again.entries.size(), 9u);
  EXPECT_EQ(again.truncated_bytes, 0u);
}

TEST(Wal, CorruptRecordBeforeTailFailsLoudly) {
  TempDir d;
  write_entries(d.path.string(), 1, 10);
  fs::path target;
  for (auto& s : segments(d.path))
    if (fs::file_size(s) > 100) target = s;
  // Flip a byte inside an early record's payload.
  std::fstream f(target, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(60);
  char c;
  f.seekg(60);
  f.get(c);
  f.seekp(60);
  f.put(static_cast<char>(c ^ 0x5A));
  f.close();
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 0, &log);
  ASSERT_FALSE(wal.ok());
  EXPECT_NE(wal.error().message.find(target.filename().string()), std::string::npos) << wal.error().message;
  EXPECT_NE(wal.error().message.find("offset"), std::string::npos);
}

TEST(Wal, CorruptionInEarlierSegmentIsNotTreatedAsTorn) {
  TempDir d;
  write_entries(d.path.string(), 1, 10);
  write_entries(d.path.string(), 11, 20);  // second open starts a new segment
  auto segs = segments(d.path);
  ASSERT_GE(segs.size(), 2u);
  fs::path first;
  for (auto& s : segs)
    if (fs::file_size(s) > 100) { first = s; break; }
  fs::resize_file(first, fs::file_size(first) - 2);
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 0, &log);
  ASSERT_FALSE(wal.ok());
  EXPECT_NE(wal.error().message.find("not the last segment"), std::string::npos) << wal.error().message;
}

TEST(Wal, RolloverAndRetire) {
  TempDir d;
  {
    WalOptions o{d.path.string(), 512, true};
    RecoveredLog log;
    auto wal = Wal::open(o, 0, &log);
    ASSERT_TRUE(wal.ok());
    Durable durable(**wal);
    for (raft::Index i = 1; i <= 200; ++i) {
      uint64_t t = append(**wal, entry(i, std::string(50, 'a')));
      if (i % 10 == 0) {
        ASSERT_TRUE(durable.wait(t));
      }
    }
    size_t before = segments(d.path).size();
    EXPECT_GT(before, 3u);
    (*wal)->retire_through(150);
    EXPECT_LT(segments(d.path).size(), before);
    (*wal)->close();
  }
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 150, &log);
  ASSERT_TRUE(wal.ok()) << wal.error().message;
  ASSERT_EQ(log.entries.size(), 50u);
  EXPECT_EQ(log.entries.front().index, 151u);
}

TEST(Wal, RewrittenIndexWins) {
  TempDir d;
  {
    RecoveredLog log;
    auto wal = Wal::open({d.path.string()}, 0, &log);
    ASSERT_TRUE(wal.ok());
    Durable durable(**wal);
    for (raft::Index i = 1; i <= 5; ++i) append(**wal, entry(i, "old"));
    raft::Entry e = entry(3, "new");
    e.term = 2;
    ASSERT_TRUE(durable.wait(append(**wal, e)));
    (*wal)->close();
  }
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 0, &log);
  ASSERT_TRUE(wal.ok());
  ASSERT_EQ(log.entries.size(), 3u);
  EXPECT_EQ(log.entries.back().data, "new");
  EXPECT_EQ(log.entries.back().term, 2u);
}

// Found by tests/sim/driver_sim.cc: a follower applies entries the leader committed before its own
// copy of them is durable, and its snapshot of them can reach the disk first. After a power cut
// its WAL ends below the snapshot, and once it resumes right after the snapshot, the log jumps
// over the entries the snapshot covers. That is no damage; a jump above the snapshot still is.
TEST(Wal, EntriesCoveredByTheSnapshotMayBeMissing) {
  TempDir d;
  write_entries(d.path.string(), 1, 5);
  {
    // The node restarts from a snapshot at 7 and appends what follows it.
    RecoveredLog log;
    auto wal = Wal::open({d.path.string()}, 7, &log);
    ASSERT_TRUE(wal.ok()) << wal.error().message;
    EXPECT_TRUE(log.entries.empty());
    Durable durable(**wal);
    append(**wal, entry(8, "data-8"));
    EXPECT_TRUE(durable.wait(append(**wal, entry(9, "data-9"))));
    (*wal)->close();
  }
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 7, &log);
  ASSERT_TRUE(wal.ok()) << wal.error().message;
  ASSERT_EQ(log.entries.size(), 2u);
  EXPECT_EQ(log.entries[0].index, 8u);
  EXPECT_EQ(log.entries[1].data, "data-9");
  (*wal)->close();
  // Without a snapshot that far, 6 and 7 are missing: damage, named as such.
  RecoveredLog again;
  auto bad = Wal::open({d.path.string()}, 6, &again);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("WAL gap"), std::string::npos) << bad.error().message;
}

// A leader writes its term and vote once, then batches of entries only (its commit index moves
// in separate, unsynced hard-state records). When the segment holding the vote is retired, the
// vote must still be in the log: a node that forgets it can vote twice in one term.
TEST(Wal, RetiringTheSegmentWithTheVoteKeepsTheVote) {
  TempDir d;
  {
    WalOptions o{d.path.string(), 512, true};
    RecoveredLog log;
    auto wal = Wal::open(o, 0, &log);
    ASSERT_TRUE(wal.ok());
    Durable durable(**wal);
    raft::HardState hs{7, 3, 0};
    ASSERT_TRUE(durable.wait((*wal)->submit(hs, {}, 0, true)));
    for (raft::Index i = 1; i <= 200; ++i) {
      raft::Entry e = entry(i, std::string(50, 'a'));
      e.term = 7;
      ASSERT_TRUE(durable.wait(append(**wal, e)));
    }
    size_t before = segments(d.path).size();
    ASSERT_GT(before, 3u);
    (*wal)->retire_through(150);
    EXPECT_LT(segments(d.path).size(), before);
    (*wal)->close();
  }
  RecoveredLog log;
  auto wal = Wal::open({d.path.string()}, 150, &log);
  ASSERT_TRUE(wal.ok()) << wal.error().message;
  EXPECT_EQ(log.hard_state.term, 7u);
  EXPECT_EQ(log.hard_state.vote, 3u);
  ASSERT_EQ(log.entries.size(), 50u);
}

// Recovery reads segments in name order, so a segment must never be named below one written
// before it. A follower whose uncommitted tail reached into newer segments installs a snapshot at
// 20 (the tail is voided from 21) and restarts: the log goes on at 21, in the newest segment,
// not in a new file named 21 that would sort before the voided tail and its truncate record.
TEST(Wal, TheLogGoesOnInTheNewestSegmentWhenANewNameWouldSortBeforeIt) {
  TempDir d;
  WalOptions o{d.path.string(), 512, true};
  {
    RecoveredLog log;
    auto wal = Wal::open(o, 0, &log);
    ASSERT_TRUE(wal.ok());
    Durable durable(**wal);
    for (raft::Index i = 1; i <= 60; ++i) ASSERT_TRUE(durable.wait(append(**wal, entry(i, std::string(50, 'o')))));
    ASSERT_GT(segments(d.path).size(), 4u);
    ASSERT_TRUE(durable.wait((*wal)->submit(raft::HardState{2, 0, 20}, {}, 21, true)));
    (*wal)->close();
  }
  for (int round = 0; round < 2; ++round) {
    RecoveredLog log;
    auto wal = Wal::open(o, 20, &log);
    ASSERT_TRUE(wal.ok()) << wal.error().message;
    if (round == 0) {
      EXPECT_TRUE(log.entries.empty());
      Durable durable(**wal);
      for (raft::Index i = 21; i <= 30; ++i) {
        raft::Entry e = entry(i, "new-" + std::to_string(i));
        e.term = 2;
        ASSERT_TRUE(durable.wait(append(**wal, e)));
      }
    } else {
      ASSERT_EQ(log.entries.size(), 10u);
      EXPECT_EQ(log.entries.front().index, 21u);
      EXPECT_EQ(log.entries.back().data, "new-30");
      EXPECT_EQ(log.hard_state.term, 2u);
    }
    (*wal)->close();
  }
}
