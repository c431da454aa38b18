// The Raft core driven by hand: every message delivered explicitly, so each test reads as the
// protocol step it checks (scenarios the seeded simulation hits only by chance).
#include <gtest/gtest.h>

#include <map>

#include "raft/codec.h"
#include "raft/core.h"

using namespace conclave;
using namespace conclave::raft;

namespace {

class Net {
 public:
  explicit Net(int n, bool pre_vote = true) {
    ConfState conf;
    for (int i = 1; i <= n; ++i) conf.voters.insert(NodeId(i));
    for (int i = 1; i <= n; ++i) {
      Config c;
      c.id = NodeId(i);
      c.election_ticks = 10;
      c.pre_vote = pre_vote;
      Bootstrap b;
      b.conf = conf;
      nodes[NodeId(i)] = std::make_unique<Core>(c, b, 1000 + i);
    }
  }
  // Processes Readys until quiet, delivering messages except to/from isolated nodes.
  void stabilize(int rounds = 50) {
    for (int r = 0; r < rounds; ++r) {
      std::vector<Message> inflight;
      for (auto& [id, core] : nodes) {
        while (core->has_ready()) {
          Ready rd = core->ready();
          for (auto& m : rd.messages) inflight.push_back(m);
          for (auto& e : rd.committed) applied[id].push_back(e);
          for (auto& rs : rd.read_states) reads[id].push_back(rs);
          Index last = rd.entries.empty() ? 0 : rd.entries.back().index;
          core->advance(rd);
          if (last) core->persisted(last);
        }
      }
      if (inflight.empty()) return;
      for (auto& m : inflight)
        if (!isolated.count(m.from) && !isolated.count(m.to)) nodes[m.to]->step(m);
    }
  }
  void tick_all(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, core] : nodes)
        if (!isolated.count(id)) core->tick();
      stabilize();
    }
  }
  Core& operator[](NodeId id) { return *nodes[id]; }
  std::map<NodeId, std::unique_ptr<Core>> nodes;
  std::map<NodeId, std::vector<Entry>> applied;
  std::map<NodeId, std::vector<ReadState>> reads;
  std::set<NodeId> isolated;
};

}  // namespace

TEST(RaftCore, ElectsALeaderAndCommitsItsNoop) {
  Net net(3);
  net[1].campaign();
  net.stabilize();
  EXPECT_EQ(net[1].role(), Role::kLeader);
  EXPECT_EQ(net[2].leader(), 1u);
  // The new leader's no-op commits everywhere (Raft §5.4.2 needs a current-term entry).
  net.tick_all();
  for (NodeId id : {1, 2, 3}) EXPECT_EQ(net[id].commit_index(), 1u) << id;
}

TEST(RaftCore, ReplicatesProposalsInOrder) {
  Net net(3);
  net[1].campaign();
  net.stabilize();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net[1].propose("cmd" + std::to_string(i)).ok());
  net.stabilize();
  net.tick_all();
  for (NodeId id : {1, 2, 3}) {
    std::vector<std::string> cmds;
    for (auto& e : net.applied[id])
      if (e.type == EntryType::kCommand) cmds.push_back(e.data);
    EXPECT_EQ(cmds, (std::vector<std::string>{"cmd0", "cmd1", "cmd2", "cmd3", "cmd4"})) << id;
  }
  EXPECT_FALSE(net[2].propose("x").ok()) << "followers do not accept proposals";
}

TEST(RaftCore, PreVoteKeepsAnIsolatedNodeFromInflatingTerms) {
  Net net(3);
  net[1].campaign();
  net.stabilize();
  Term before = net[1].term();
  net.isolated = {3};
  for (int i = 0; i < 100; ++i) net[3].tick();  // many election timeouts, alone
  net.stabilize();
  EXPECT_EQ(net[3].term(), before) << "pre-vote failures must not bump the term";
  net.isolated.clear();
  net.tick_all(3);
  EXPECT_EQ(net[1].role(), Role::kLeader) << "rejoining must not depose the leader";
  EXPECT_EQ(net[1].term(), before);
}

TEST(RaftCore, CheckQuorumMakesAnIsolatedLeaderStepDown) {
  Net net(3);
  net[1].campaign();
  net.stabilize();
  net.isolated = {1};
  for (int i = 0; i < 25; ++i) net[1].tick();
  EXPECT_NE(net[1].role(), Role::kLeader);
}

TEST(RaftCore, LeaderTransfer) {
  Net net(3);
  net[1].campaign();
  net.stabilize();
  net.tick_all();
  ASSERT_TRUE(net[1].transfer_leadership(3).ok());
  net.stabilize();
  EXPECT_EQ(net[3].role(), Role::kLeader);
  EXPECT_EQ(net[1].role(), Role::kFollower);
  EXPECT_FALSE(net[1].propose("x").ok());
}

TEST(RaftCore, ReadIndexNeedsAQuorumRound) {
  Net net(3);
  net[1].campaign();
  net.stabilize();
  net.tick_all();
  ASSERT_TRUE(net[1].read_index(42).ok());
  net.isolated = {2, 3};
  net.stabilize();
  EXPECT_TRUE(net.reads[1].empty()) << "no read point without hearing from a majority";
  net.isolated.clear();
  ASSERT_TRUE(net[1].read_index(43).ok());
  net.stabilize();
  ASSERT_EQ(net.reads[1].size(), 2u);
  EXPECT_EQ(net.reads[1][1].context, 43u);
  EXPECT_EQ(net.reads[1][1].index, net[1].commit_index());
  EXPECT_FALSE(net[2].read_index(1).ok());
}

TEST(RaftCore, LearnerReplicatesButDoesNotVote) {
  Net net(3);
  net[1].campaign();
  net.stabilize();
  net.tick_all();
  // 3 starts as a voter: remove it first, then bring it back as a learner.
  ASSERT_TRUE(net[1].propose_conf_change({ConfChangeType::kRemove, 3, ""}).ok());
  net.stabilize();
  net.tick_all();
  EXPECT_FALSE(net[1].conf().voters.count(3));
  ASSERT_TRUE(net[1].propose_conf_change({ConfChangeType::kAddLearner, 3, "h:1"}).ok());
  net.stabilize();
  net.tick_all();
  EXPECT_TRUE(net[1].conf().learners.count(3));
  ASSERT_TRUE(net[1].propose("after").ok());
  net.stabilize();
  net.tick_all();
  EXPECT_EQ(net.applied[3].back().data, "after") << "learners replicate";
  for (int i = 0; i < 50; ++i) net[3].tick();
  net.stabilize();
  EXPECT_NE(net[3].role(), Role::kLeader);
  EXPECT_NE(net[3].role(), Role::kCandidate);
}

TEST(RaftCodec, MessageRoundTripAndRejectsGarbage) {
  Message m;
  m.type = MessageType::kAppend;
  m.from = 1;
  m.to = 2;
  m.term = 7;
  m.index = 10;
  m.log_term = 6;
  m.commit = 9;
  m.replicated = 8;
  m.entries.push_back(Entry{7, 11, EntryType::kCommand, "abc"});
  Snapshot s;
  s.meta = {5, 3, ConfState{{1, 2}, {3}}};
  s.data = std::make_shared<const std::string>("snapshot-bytes");
  m.snapshot = s;
  Bytes b;
  encode_message(m, b);
  Message d;
  ASSERT_TRUE(decode_message(b, &d));
  EXPECT_EQ(d.entries.size(), 1u);
  EXPECT_EQ(d.entries[0].data, "abc");
  EXPECT_EQ(d.replicated, 8u);
  EXPECT_EQ(*d.snapshot->data, "snapshot-bytes");
  EXPECT_EQ(d.snapshot->meta.conf.learners.count(3), 1u);
  for (size_t cut = 0; cut < b.size(); cut += 7) EXPECT_FALSE(decode_message(b.substr(0, cut), &d)) << cut;
  EXPECT_FALSE(decode_message("\xff garbage", &d));
}

namespace {
// The commands of `core`'s log whose data it still keeps.
size_t commands_with_data(const Core& core) {
  size_t n = 0;
  for (const auto& e : core.entries(core.first_index() - 1, core.last_index()))
    n += e.type == EntryType::kCommand && !e.data.empty();
  return n;
}
}  // namespace

TEST(RaftCore, ALoneVoterKeepsNoAppliedCommandsInMemory) {
  Net net(1);
  net[1].campaign();
  net.stabilize();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net[1].propose("v" + std::to_string(i)).ok());
  net.stabilize();
  ASSERT_EQ(net.applied[1].size(), 6u);
  EXPECT_EQ(net.applied[1].back().data, "v4") << "the driver still gets every command whole";
  EXPECT_EQ(net[1].released_through(), net[1].last_index());
  EXPECT_EQ(commands_with_data(net[1]), 0u);
  EXPECT_EQ(net[1].term_at(3), net[1].term()) << "index and term stay";
}

TEST(RaftCore, CommandsAreReleasedOnlyOnceEveryMemberHoldsThem) {
  Net net(3);
  net[1].campaign();
  net.stabilize();
  net.tick_all();
  net.isolated.insert(3);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(net[1].propose("p" + std::to_string(i)).ok());
  net.stabilize();
  net.tick_all();
  // Committed and applied by a quorum, but 3 lacks them: nobody may drop them.
  EXPECT_EQ(net[1].applied(), net[1].last_index());
  EXPECT_EQ(commands_with_data(net[1]), 4u);
  EXPECT_EQ(commands_with_data(net[2]), 4u);
  net.isolated.clear();
  net.tick_all(3);
  EXPECT_EQ(net.applied[3].back().data, "p3");
  // The leader learned that 3 holds them; the followers learned it from the leader.
  for (NodeId id : {1, 2, 3}) {
    EXPECT_EQ(net[id].released_through(), net[id].last_index()) << id;
    EXPECT_EQ(commands_with_data(net[id]), 0u) << id;
  }
}

TEST(RaftCore, AMemberThatNeedsReleasedCommandsGetsAFreshSnapshot) {
  Net net(2);
  net[1].campaign();
  net.stabilize();
  net.tick_all();
  ASSERT_TRUE(net[1].propose("before").ok());
  net.stabilize();
  net.tick_all();
  ASSERT_EQ(net[1].released_through(), net[1].last_index());
  // A new learner, 3, starts empty: the commands it needs are gone from memory.
  Config c;
  c.id = 3;
  c.election_ticks = 10;
  Bootstrap b;
  b.conf = net[1].conf();
  net.nodes[3] = std::make_unique<Core>(c, b, 1003);
  ASSERT_TRUE(net[1].propose_conf_change({ConfChangeType::kAddLearner, 3, "h:3"}).ok());
  net.stabilize();
  net.tick_all(2);
  EXPECT_TRUE(net[1].wants_snapshot());
  EXPECT_EQ(net[3].last_index(), 0u) << "nothing sent without data";
  // The driver takes the snapshot it asks for; the learner is brought up from it.
  Snapshot s;
  s.meta = {net[1].applied(), net[1].term_at(net[1].applied()), net[1].conf()};
  s.data = std::make_shared<const std::string>("tree");
  net[1].compact(s);
  EXPECT_FALSE(net[1].wants_snapshot());
  net.tick_all(3);
  EXPECT_EQ(net[3].first_index(), s.meta.index + 1);
  ASSERT_TRUE(net[1].propose("after").ok());
  net.stabilize();
  net.tick_all();
  EXPECT_EQ(net.applied[3].back().data, "after");
}
