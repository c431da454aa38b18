// Deterministic simulation of a Raft cluster built from the pure core (src/raft).
//
// One uint64 seed decides everything: cluster size, message delays, drops, duplicates and
// reorders, partitions, crashes, restarts, snapshots, membership changes and client proposals.
// Nodes are driven as server::RaftDriver drives them: each Ready's writes become a WAL batch that
// is made durable later (several batches may be in flight), its messages are held until then,
// committed entries are applied and advance() is called at once, and persisted() comes when a
// batch's fsync completes, interleaved with message deliveries. Some seeds send one entry per
// append. A crash loses every batch not yet durable, and the messages held with them. After every step the checkers assert:
//   * election safety   — at most one leader per term;
//   * log matching / state-machine safety — every node applies the same entry at each index;
//   * leader completeness — a new leader holds every entry any node has applied;
//   * log matching      — two logs that agree on an entry's term agree on everything before it,
//                         unapplied suffixes included (checked every 10 ticks and at the end);
//   * snapshots         — an installed snapshot holds exactly the committed history up to its index;
//   * durability        — every proposal acknowledged to a client is, at the end, applied by every
//                         member at the index it was acknowledged at;
//   * liveness          — after healing, a leader is elected and a new proposal commits everywhere
//                         within a bounded number of ticks.
// A failure prints the seed and the command that replays it.
//
// Usage: conclave_raft_sim [--seeds N] [--first-seed S] [--seed S] [--ticks T] [--verbose]
#include <algorithm>
#include <cinttypes>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "raft/core.h"

using namespace conclave;
using namespace conclave::raft;

namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(double p) { return double(next() >> 11) / double(1ull << 53) < p; }
};

struct Failure {
  std::string what;
};

// What a node keeps on its (simulated) disk. Everything here survives a crash.
struct Disk {
  HardState hs;
  std::optional<Snapshot> snapshot;
  std::vector<Entry> entries;  // after the snapshot
  ConfState initial_conf;
};

// A WAL batch submitted but not yet durable, with the messages held until it is.
struct Batch {
  std::optional<HardState> hs;
  std::vector<Entry> entries;
  bool truncate_all = false;  // a snapshot was installed: the log restarts after it
  bool term_change = false;   // carries a new term or vote
  std::vector<Message> messages;
  Index last_index = 0;       // what persisted() reports once this batch is durable
};

struct SimNode {
  NodeId id;
  bool up = true;
  std::unique_ptr<Core> core;
  Disk disk;
  std::deque<Batch> pending;  // lost at a crash
  Index submitted_last = 0;
  HardState submitted_hs;     // the last hard state handed to the disk
  std::vector<std::string> applied;  // state machine: applied command payloads, in order
  Index applied_index = 0;
  Index snapshot_applied_base = 0;  // applied_index covered by `applied` list start
};

struct InFlight {
  uint64_t at;
  uint64_t seq;
  Message m;
  bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

struct Options {
  uint64_t seed = 1;
  int ticks = 400;
  bool verbose = false;
  // A planted driver bug, for the mutation tests only: vote grants leave at once instead of with
  // the batch that makes the vote durable (a node that crashes then may vote again in that term).
  bool bug_votes_before_fsync = false;
};

class Sim {
 public:
  explicit Sim(const Options& o) : opt_(o), rng_{o.seed} {
    n_ = 3 + static_cast<int>(rng_.below(3));  // 3..5 voters
    drop_ = rng_.chance(0.5) ? 0.02 + 0.1 * double(rng_.below(100)) / 100 : 0.0;
    dup_ = rng_.chance(0.3) ? 0.05 : 0.0;
    max_delay_ = 1 + rng_.below(4);
    crash_p_ = rng_.chance(0.6) ? 0.004 : 0.0;
    partition_p_ = rng_.chance(0.5) ? 0.01 : 0.0;
    snapshot_p_ = rng_.chance(0.5) ? 0.02 : 0.0;
    conf_change_ = rng_.chance(0.4);
    // How soon a WAL batch becomes durable: at once (a fast disk), or a few ticks later with
    // several batches in flight.
    sync_p_ = rng_.chance(0.3) ? 1.0 : 0.2 + 0.6 * double(rng_.below(100)) / 100;
    // Crashed nodes come back after a while, or at once (a reboot within an election timeout).
    restart_p_ = rng_.chance(0.5) ? 0.05 : 0.5;
    send_early_ = rng_.chance(0.5);
    // One entry per append in some seeds: a new leader's noop then travels apart from the older
    // entries before it, so an acknowledgement can cover an old-term entry and not the noop.
    max_entries_ = rng_.chance(0.3) ? 1 : 8;
    if (opt_.verbose)
      std::printf("seed=%" PRIu64 " nodes=%d drop=%.2f dup=%.2f max_delay=%" PRIu64 " crash=%.3f partition=%.2f "
                  "snapshot=%.2f confchange=%d\n",
                  opt_.seed, n_, drop_, dup_, max_delay_, crash_p_, partition_p_, snapshot_p_, int(conf_change_));
    ConfState conf;
    for (int i = 1; i <= n_; ++i) conf.voters.insert(NodeId(i));
    for (int i = 1; i <= n_ + 1; ++i) {  // one spare node that may join as a learner
      auto node = std::make_unique<SimNode>();
      node->id = NodeId(i);
      node->disk.initial_conf = conf;
      node->up = i <= n_;
      nodes_.push_back(std::move(node));
    }
    for (auto& n : nodes_)
      if (n->up) start(*n);
  }

  // Returns an error description, or empty on success. Also fills the trace hash.
  std::string run(uint32_t* trace_hash) {
    try {
      safety_phase();
      liveness_phase();
      final_checks();
    } catch (const Failure& f) {
      return f.what;
    }
    *trace_hash = trace_;
    return {};
  }

 private:
  Config config_for(NodeId id) {
    Config c;
    c.id = id;
    c.election_ticks = 10;
    c.heartbeat_ticks = 1;
    c.max_inflight = 4;
    c.max_entries_per_append = max_entries_;
    return c;
  }

  void start(SimNode& n) {
    Bootstrap b;
    b.hard_state = n.disk.hs;
    b.conf = n.disk.initial_conf;
    b.snapshot = n.disk.snapshot;
    b.entries = n.disk.entries;
    b.applied = n.disk.snapshot ? n.disk.snapshot->meta.index : 0;
    n.core = std::make_unique<Core>(config_for(n.id), std::move(b), rng_.next());
    // The state machine restarts from the snapshot; committed entries after it are re-applied.
    n.applied.clear();
    n.applied_index = 0;
    n.pending.clear();
    n.submitted_hs = n.disk.hs;
    n.submitted_last = n.disk.entries.empty() ? b.applied : n.disk.entries.back().index;
    if (n.disk.snapshot) restore_state(n, *n.disk.snapshot);
    n.up = true;
  }

  void restore_state(SimNode& n, const Snapshot& s) {
    // Snapshot data: the applied payloads joined with '\n'.
    n.applied.clear();
    const std::string& d = *s.data;
    size_t pos = 0;
    while (pos < d.size()) {
      size_t nl = d.find('\n', pos);
      n.applied.push_back(d.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    n.applied_index = s.meta.index;
  }

  void fail(const std::string& what) {
    throw Failure{what + " (seed " + std::to_string(opt_.seed) + ", tick " + std::to_string(now_) + ")"};
  }

  void mix(uint64_t v) {
    std::string b(reinterpret_cast<const char*>(&v), 8);
    trace_ = crc32c(b, trace_);
  }

  // ---- network ----
  bool blocked(NodeId a, NodeId b) const { return partitioned_.count({a, b}) || partitioned_.count({b, a}); }

  void deliver_later(Message m) {
    if (!healed_ && rng_.chance(drop_)) return;
    int copies = (!healed_ && rng_.chance(dup_)) ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      uint64_t delay = 1 + (healed_ ? 0 : rng_.below(max_delay_));
      net_.push({now_ + delay, seq_++, m});
    }
  }

  void deliver_due() {
    while (!net_.empty() && net_.top().at <= now_) {
      InFlight f = net_.top();
      net_.pop();
      SimNode& to = node(f.m.to);
      if (!to.up || blocked(f.m.from, f.m.to)) continue;
      mix(uint64_t(f.m.type) << 56 | f.m.from << 48 | f.m.to << 40 | f.m.term);
      to.core->step(f.m);
      process(to);
    }
  }

  SimNode& node(NodeId id) { return *nodes_[id - 1]; }

  // ---- the driver loop for one node (server::RaftDriver::drive) ----
  void process(SimNode& n) {
    while (n.up && n.core->has_ready()) {
      Ready rd = n.core->ready();
      if (!healed_ && crash_p_ > 0 && (!rd.entries.empty() || rd.hard_state) && rng_.chance(crash_p_)) {
        crash(n);
        return;
      }
      bool truncate_all = false;
      if (rd.snapshot) {
        // Installed synchronously, as the driver does; the log restarts after it.
        check_snapshot(n, *rd.snapshot);
        n.disk.snapshot = rd.snapshot;
        n.disk.entries.clear();
        for (auto& b : n.pending) b.entries.clear();
        restore_state(n, *rd.snapshot);
        truncate_all = true;
        n.submitted_last = std::max(n.submitted_last, rd.snapshot->meta.index);
      }
      const bool term_change = rd.hard_state && (rd.hard_state->term != n.submitted_hs.term ||
                                                 rd.hard_state->vote != n.submitted_hs.vote);
      bool term_pending = false;
      for (const auto& b : n.pending) term_pending = term_pending || b.term_change;
      if (send_early_ && n.core->role() == Role::kLeader && !term_change && !term_pending) {
        // Raft thesis §10.2.1: a leader may replicate before its own fsync, as long as it counts
        // itself only once persisted() says so. Responses and votes still wait for the disk.
        std::vector<Message> held;
        for (auto& m : rd.messages) {
          bool leader_msg = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                            m.type == MessageType::kSnapshot || m.type == MessageType::kTimeoutNow;
          if (leader_msg) deliver_later(m);
          else held.push_back(std::move(m));
        }
        rd.messages = std::move(held);
      }
      bool granted = false;
      for (const auto& m : rd.messages) granted = granted || (m.type == MessageType::kVoteResp && !m.reject);
      if (opt_.bug_votes_before_fsync) {
        std::vector<Message> held;
        for (auto& m : rd.messages) {
          if (m.type == MessageType::kVoteResp && !m.reject) deliver_later(m);
          else held.push_back(std::move(m));
        }
        rd.messages = std::move(held);
      }
      if (rd.hard_state || !rd.entries.empty() || truncate_all) {
        Batch b;
        b.hs = rd.hard_state;
        b.term_change = term_change;
        if (rd.hard_state) n.submitted_hs = *rd.hard_state;
        b.entries = rd.entries;
        b.truncate_all = truncate_all;
        b.messages = std::move(rd.messages);
        if (!rd.entries.empty()) n.submitted_last = rd.entries.back().index;
        b.last_index = n.submitted_last;
        n.pending.push_back(std::move(b));
      } else if (!n.pending.empty()) {
        // Keep message order behind earlier batches that are not durable yet.
        for (auto& m : rd.messages) n.pending.back().messages.push_back(std::move(m));
      } else {
        for (auto& m : rd.messages) deliver_later(m);
      }
      for (auto& e : rd.committed) apply(n, e);
      n.core->advance(rd);
      check_leader(n);
      // A dedicated fault: power lost right after granting a vote, before the vote is durable.
      // The grant must be lost with it; a node that voted and forgot could vote again in that term.
      if (!healed_ && crash_p_ > 0 && granted && !n.pending.empty() && rng_.chance(0.2)) {
        crash(n);
        return;
      }
      if (rng_.chance(sync_p_ >= 1.0 ? 1.0 : 0.0)) sync(n, n.pending.size());
    }
  }

  // The WAL writer finished the first `count` pending batches: they are on disk, their messages
  // leave, and the core hears how far the log is durable.
  void sync(SimNode& n, size_t count) {
    if (!n.up || n.pending.empty() || count == 0) return;
    Index durable = 0;
    for (size_t k = 0; k < count && !n.pending.empty(); ++k) {
      Batch b = std::move(n.pending.front());
      n.pending.pop_front();
      if (b.hs) n.disk.hs = *b.hs;
      if (!b.entries.empty()) {
        Index first = b.entries.front().index;
        Index base = n.disk.snapshot ? n.disk.snapshot->meta.index : 0;
        while (!n.disk.entries.empty() && n.disk.entries.back().index >= first) n.disk.entries.pop_back();
        for (auto& e : b.entries)
          if (e.index > base) n.disk.entries.push_back(e);
      }
      for (auto& m : b.messages) deliver_later(m);
      durable = b.last_index;
    }
    mix(0xD15C ^ durable);
    n.core->persisted(durable);
    process(n);
  }

  // Every node's WAL writer may finish some of its batches this tick.
  void sync_some() {
    for (auto& n : nodes_)
      if (n->up && !n->pending.empty() && rng_.chance(sync_p_)) sync(*n, 1 + rng_.below(n->pending.size()));
  }

  void check_snapshot(const SimNode& n, const Snapshot& s) {
    // The snapshot's state is the applied payloads joined with '\n', index 1 first.
    const std::string& d = *s.data;
    size_t pos = 0;
    Index idx = 0;
    while (pos <= d.size() && !d.empty()) {
      size_t nl = d.find('\n', pos);
      std::string payload = d.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      ++idx;
      auto it = global_.find(idx);
      if (it == global_.end() || it->second.second != payload)
        fail("snapshot: node " + std::to_string(n.id) + " installed a snapshot at index " + std::to_string(s.meta.index) +
             " whose entry " + std::to_string(idx) + " is '" + payload + "', not the committed '" +
             (it == global_.end() ? std::string("<none>") : it->second.second) + "'");
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    if (idx != s.meta.index)
      fail("snapshot: node " + std::to_string(n.id) + " installed a snapshot at index " + std::to_string(s.meta.index) +
           " holding " + std::to_string(idx) + " entries");
  }

  // Log matching (Raft §5.3) over whole logs, unapplied suffixes included.
  void check_log_matching() {
    for (auto& a : nodes_)
      for (auto& b : nodes_) {
        if (a->id >= b->id || !a->core || !b->core) continue;
        Index lo = std::max(a->core->first_index(), b->core->first_index());
        Index hi = std::min(a->core->last_index(), b->core->last_index());
        if (lo == 0) lo = 1;
        if (hi < lo) continue;
        auto ea = a->core->entries(lo - 1, hi);
        auto eb = b->core->entries(lo - 1, hi);
        if (ea.size() != eb.size()) continue;
        // The highest index where both logs hold the same term: everything from lo up to it must match.
        size_t agree = ea.size();
        while (agree > 0 && ea[agree - 1].term != eb[agree - 1].term) --agree;
        // Commands either node released are compared by term and type only: their data is gone
        // from memory (state-machine safety still compares what was applied).
        const Index released = std::max(a->core->released_through(), b->core->released_through());
        for (size_t k = 0; k < agree; ++k)
          if (ea[k].term != eb[k].term || ea[k].type != eb[k].type ||
              (ea[k].index > released && ea[k].data != eb[k].data))
            fail("log matching: nodes " + std::to_string(a->id) + " and " + std::to_string(b->id) + " agree on term " +
                 std::to_string(ea[agree - 1].term) + " at index " + std::to_string(ea[agree - 1].index) +
                 " but differ at index " + std::to_string(ea[k].index));
      }
  }

  void apply(SimNode& n, const Entry& e) {
    if (e.index <= n.applied_index) return;
    if (e.index != n.applied_index + 1)
      fail("node " + std::to_string(n.id) + " applies index " + std::to_string(e.index) + " after " +
           std::to_string(n.applied_index));
    n.applied_index = e.index;
    std::string payload = e.type == EntryType::kCommand ? std::string(e.data) : std::string("#") + std::to_string(int(e.type));
    n.applied.push_back(payload);
    // State-machine safety: everyone applies the same entry at the same index.
    auto [it, inserted] = global_.emplace(e.index, std::make_pair(e.term, payload));
    if (!inserted && (it->second.first != e.term || it->second.second != payload))
      fail("state machine safety: node " + std::to_string(n.id) + " applied (" + std::to_string(e.term) + ", " +
           payload + ") at index " + std::to_string(e.index) + " but another node applied (" +
           std::to_string(it->second.first) + ", " + it->second.second + ")");
    mix(e.index * 31 + e.term);
    // The client hears back when the node that took its request applies it (the leader here).
    if (e.type == EntryType::kCommand && n.core->role() == Role::kLeader) acknowledged_.emplace(payload, e.index);
  }

  void check_leader(SimNode& n) {
    if (n.core->role() != Role::kLeader) return;
    Term t = n.core->term();
    auto [it, inserted] = leaders_.emplace(t, n.id);
    if (!inserted && it->second != n.id)
      fail("election safety: nodes " + std::to_string(it->second) + " and " + std::to_string(n.id) +
           " both lead term " + std::to_string(t));
    if (inserted) {
      // Leader completeness: the new leader's log holds everything applied anywhere.
      for (const auto& [idx, te] : global_) {
        if (idx <= n.core->first_index() - 1) continue;
        if (n.core->term_at(idx) != te.first)
          fail("leader completeness: leader " + std::to_string(n.id) + " of term " + std::to_string(t) +
               " lacks committed index " + std::to_string(idx));
      }
    }
  }

  void crash(SimNode& n) {
    if (opt_.verbose) std::printf("t=%" PRIu64 " crash %" PRIu64 "\n", now_, n.id);
    n.up = false;
    n.core.reset();
    n.pending.clear();  // never reached the disk; their held messages never leave
    mix(0xC0FFEE ^ n.id);
  }

  // ---- the phases ----
  void chaos_step() {
    // Partitions come and go.
    if (partition_p_ > 0 && rng_.chance(partition_p_)) {
      partitioned_.clear();
      if (rng_.chance(0.7)) {
        NodeId a = 1 + rng_.below(n_);
        for (int i = 1; i <= n_ + 1; ++i)
          if (NodeId(i) != a && rng_.chance(0.7)) partitioned_.insert({a, NodeId(i)});
      }
    }
    // Crashed nodes come back.
    for (auto& n : nodes_)
      if (!n->up && n->core == nullptr && started(n->id) && rng_.chance(restart_p_)) {
        start(*n);
        if (opt_.verbose) std::printf("t=%" PRIu64 " restart %" PRIu64 "\n", now_, n->id);
      }
    // Idle crash of a random node.
    if (crash_p_ > 0 && rng_.chance(crash_p_)) {
      SimNode& n = node(1 + rng_.below(n_));
      if (n.up) crash(n);
    }
    // A power cut of the leader while it has WAL batches in flight: what it acknowledged must
    // already be durable on a quorum without its own unsynced copy.
    if (crash_p_ > 0 && rng_.chance(crash_p_ * 10)) {
      SimNode* l = leader();
      if (l && !l->pending.empty()) crash(*l);
    }
    // Snapshots.
    if (snapshot_p_ > 0 && rng_.chance(snapshot_p_)) {
      SimNode& n = node(1 + rng_.below(n_));
      if (n.up && n.applied_index > n.core->first_index()) take_snapshot(n);
    }

    // Leadership transfers to a random voter.
    if (rng_.chance(0.005)) {
      if (SimNode* l = leader()) {
        NodeId to = 1 + rng_.below(n_);
        if (l->core->transfer_leadership(to).ok()) process(*l);
      }
    }
    // Membership: bring the spare node in as a learner, promote it, remove it again.
    if (conf_change_ && rng_.chance(0.01)) membership_change();
  }

  bool started(NodeId id) const { return id <= NodeId(n_) || spare_started_; }

  void take_snapshot(SimNode& n) {
    std::string data;
    for (size_t i = 0; i < n.applied.size(); ++i) {
      if (i) data += '\n';
      data += n.applied[i];
    }
    Snapshot s;
    s.meta.index = n.applied_index;
    s.meta.term = n.core->term_at(n.applied_index);
    s.meta.conf = n.core->conf();
    s.data = std::make_shared<const std::string>(std::move(data));
    if (s.meta.term == 0) return;
    n.core->compact(s);
    n.disk.snapshot = s;
    auto& es = n.disk.entries;
    es.erase(std::remove_if(es.begin(), es.end(), [&](const Entry& e) { return e.index <= s.meta.index; }), es.end());
    mix(0x5A5A ^ s.meta.index);
  }

  SimNode* leader() {
    SimNode* best = nullptr;
    for (auto& n : nodes_)
      if (n->up && n->core->role() == Role::kLeader && (!best || n->core->term() > best->core->term())) best = n.get();
    return best;
  }

  void membership_change() {
    SimNode* l = leader();
    if (!l) return;
    NodeId spare = NodeId(n_ + 1);
    const ConfState& c = l->core->conf();
    ConfChange cc{};
    if (!c.contains(spare)) cc = {ConfChangeType::kAddLearner, spare};
    else if (c.learners.count(spare)) cc = {ConfChangeType::kAddVoter, spare};
    else cc = {ConfChangeType::kRemove, spare};
    if (l->core->propose_conf_change(cc).ok()) {
      if (cc.type == ConfChangeType::kAddLearner && !spare_started_) {
        spare_started_ = true;
        SimNode& s = node(spare);
        // It starts from the same static bootstrap configuration and learns the changes from the log.
        start(s);
      }
      process(*l);
    }
  }

  void propose_one() {
    SimNode* l = leader();
    if (!l) return;
    std::string payload = "c" + std::to_string(next_cmd_++);
    if (l->core->propose(payload).ok()) {
      proposed_.insert(payload);
      process(*l);
    }
  }

  void tick_all() {
    ++now_;
    for (auto& n : nodes_)
      if (n->up) {
        n->core->tick();
        process(*n);
      }
    deliver_due();
    sync_some();
    // A leader that needs a newer snapshot to bring a member up gets one, as the driver does.
    for (auto& n : nodes_)
      if (n->up && n->core->wants_snapshot()) take_snapshot(*n);
    if (healed_) {
      // After healing disks keep up: everything submitted becomes durable.
      for (auto& n : nodes_)
        if (n->up) sync(*n, n->pending.size());
    }
    if (now_ % 10 == 0) check_log_matching();
  }

  void safety_phase() {
    for (int t = 0; t < opt_.ticks; ++t) {
      chaos_step();
      if (rng_.chance(0.5)) propose_one();
      tick_all();
    }
  }

  void liveness_phase() {
    healed_ = true;
    partitioned_.clear();
    for (auto& n : nodes_)
      if (!n->up && started(n->id)) start(*n);
    // Within a bounded number of ticks: one leader, and a fresh proposal applied on every member.
    // A proposal can be lost when its leader is deposed before replicating it; like a client, the
    // probe then retries with a new proposal.
    std::vector<std::string> probes;
    int since_probe = 0;
    for (int t = 0; t < 400; ++t) {
      tick_all();
      if (probes.empty() || ++since_probe > 50) {
        SimNode* l = leader();
        std::string p = "probe" + std::to_string(probes.size());
        if (l && l->core->propose(p).ok()) {
          probes.push_back(p);
          since_probe = 0;
          proposed_.insert(p);
          process(*l);
        }
      }
      // Done once a probe is on every member, and so is everything acknowledged (a later probe may
      // have been acknowledged by the leader while a slow follower still catches up).
      bool probe_everywhere = false;
      for (const auto& p : probes) probe_everywhere = probe_everywhere || all_applied(p);
      if (probe_everywhere && all_acknowledged_applied()) return;
    }
    fail("liveness: no leader committed a proposal on all members within 400 ticks of healing\n" + dump());
  }

  std::string dump() {
    std::string out;
    for (auto& n : nodes_) {
      if (!n->core) {
        out += "  node " + std::to_string(n->id) + " down\n";
        continue;
      }
      auto& c = *n->core;
      std::string voters, learners;
      for (auto v : c.conf().voters) voters += std::to_string(v) + " ";
      for (auto v : c.conf().learners) learners += std::to_string(v) + " ";
      char buf[300];
      std::snprintf(buf, sizeof buf,
                    "  node %llu %s term=%llu leader=%llu commit=%llu applied=%llu first=%llu last=%llu voters=[%s] learners=[%s]\n",
                    (unsigned long long)n->id, role_name(c.role()), (unsigned long long)c.term(),
                    (unsigned long long)c.leader(), (unsigned long long)c.commit_index(),
                    (unsigned long long)n->applied_index, (unsigned long long)c.first_index(),
                    (unsigned long long)c.last_index(), voters.c_str(), learners.c_str());
      out += buf;
    }
    return out;
  }

  bool all_applied(const std::string& payload) {
    for (auto& n : nodes_) {
      if (!n->up || !member(n->id)) continue;
      if (std::find(n->applied.begin(), n->applied.end(), payload) == n->applied.end()) return false;
    }
    return true;
  }

  bool all_acknowledged_applied() {
    for (const auto& [p, idx] : acknowledged_)
      for (auto& n : nodes_)
        if (n->up && member(n->id) && n->applied.size() < idx) return false;
    return true;
  }

  bool member(NodeId id) {
    SimNode* l = leader();
    return l ? l->core->conf().contains(id) : id <= NodeId(n_);
  }

  void final_checks() {
    check_log_matching();
    for (const auto& [p, idx] : acknowledged_)
      for (auto& n : nodes_) {
        if (!n->up || !member(n->id)) continue;
        // `applied` holds every payload from index 1 on (snapshots carry the whole list).
        if (n->applied.size() < idx || n->applied[idx - 1] != p)
          fail("durability: node " + std::to_string(n->id) + " does not hold acknowledged " + p + " at index " +
               std::to_string(idx) + " (it has '" + (n->applied.size() >= idx ? n->applied[idx - 1] : std::string("<nothing>")) +
               "')");
      }
  }

  Options opt_;
  Rng rng_;
  int n_ = 3;
  double drop_ = 0, dup_ = 0, crash_p_ = 0, partition_p_ = 0, snapshot_p_ = 0, sync_p_ = 1.0, restart_p_ = 0.05;
  uint64_t max_delay_ = 1;
  bool conf_change_ = false;
  bool send_early_ = false;  // leaders send appends before their own batch is durable
  size_t max_entries_ = 8;   // entries per append message
  bool spare_started_ = false;
  bool healed_ = false;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  uint64_t next_cmd_ = 1;
  uint32_t trace_ = 0;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> net_;
  std::set<std::pair<NodeId, NodeId>> partitioned_;
  std::map<Term, NodeId> leaders_;
  std::map<Index, std::pair<Term, std::string>> global_;
  std::set<std::string> proposed_;
  std::map<std::string, Index> acknowledged_;  // payload -> index it was acknowledged at
};

}  // namespace

int main(int argc, char** argv) {
  uint64_t first = 1, count = 2000;
  Options o;
  bool single = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> uint64_t { return i + 1 < argc ? std::strtoull(argv[++i], nullptr, 10) : 0; };
    if (a == "--seeds") count = val();
    else if (a == "--first-seed") first = val();
    else if (a == "--seed") { first = val(); count = 1; single = true; }
    else if (a == "--ticks") o.ticks = static_cast<int>(val());
    else if (a == "--verbose") o.verbose = true;
    else if (a == "--bug" && i + 1 < argc && std::string(argv[i + 1]) == "votes-before-fsync") {
      o.bug_votes_before_fsync = true;
      ++i;
    }
    else {
      std::fprintf(stderr, "usage: %s [--seeds N] [--first-seed S] [--seed S] [--ticks T] [--verbose] [--bug votes-before-fsync]\n", argv[0]);
      return 2;
    }
  }
  int failures = 0;
  uint32_t combined = 0;
  for (uint64_t s = first; s < first + count; ++s) {
    o.seed = s;
    Sim sim(o);
    uint32_t hash = 0;
    std::string err = sim.run(&hash);
    if (!err.empty()) {
      ++failures;
      std::printf("FAIL %s\n  replay: %s --seed %" PRIu64 " --ticks %d --verbose\n", err.c_str(), argv[0], s, o.ticks);
      if (failures >= 5) break;
    }
    combined = crc32c(std::string_view(reinterpret_cast<const char*>(&hash), 4), combined);
    if (single) std::printf("seed %" PRIu64 ": %s, trace hash %08x\n", s, err.empty() ? "ok" : "FAILED", hash);
  }
  std::printf("%" PRIu64 " seeds from %" PRIu64 ": %d failed; combined trace hash %08x\n", count, first, failures, combined);
  return failures == 0 ? 0 : 1;
}
