// The pure Raft core: decides; never does.
//
// Inputs: tick() (logical time), step(message), propose()/propose_conf_change()/read_index()/
// transfer_leadership(), persisted(index) (the driver's fsync finished), compact(snapshot).
// Output: ready() -> Ready, carried out by the driver, then advance().
//
// No sockets, threads, clocks, files or global randomness: the election jitter comes from a PRNG
// seeded by the caller, so a run is reproducible from its inputs (tests/sim relies on this).
//
// Implemented: leader election with pre-vote and check-quorum (Raft thesis §9.6, §6.2), log
// replication with batching and a bounded in-flight window per follower, fast conflict back-off,
// commitment by counting only for current-term entries (§5.4.2), snapshots and InstallSnapshot,
// single-server membership changes applied at commit (one pending change at a time), learners,
// leadership transfer (§3.10), ReadIndex (§6.4), and dropping from memory the data of applied
// commands every member holds (Message::replicated, released_through()).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "common/result.h"
#include "raft/types.h"

namespace conclave::raft {

/// What a node recovered from its own disk.
struct Bootstrap {
  HardState hard_state;
  ConfState conf;                        // from the snapshot, or the static initial configuration
  std::optional<Snapshot> snapshot;      // the newest local snapshot, if any
  std::vector<Entry> entries;            // the log after the snapshot, consecutive
  Index applied = 0;                     // what the state machine already reflects
};

class Core {
 public:
  Core(const Config& config, Bootstrap boot, uint64_t seed);

  void tick();
  void step(const Message& m);
  /// Leader only: appends a command. Errors: kUnavailable when not the leader or while a
  /// leadership transfer is in progress.
  [[nodiscard]] Result<Index> propose(Bytes data);
  [[nodiscard]] Status propose_conf_change(const ConfChange& cc);
  /// Leader only: requests a linearizable read point; it appears in Ready::read_states.
  [[nodiscard]] Status read_index(uint64_t context);
  [[nodiscard]] Status transfer_leadership(NodeId to);
  /// Starts an election now (as if the election timeout fired).
  void campaign();
  /// The transport lost its connection to `peer`. A follower that loses its leader this way
  /// (e.g. the leader process died) campaigns after a short random delay instead of waiting for
  /// the full election timeout; a leader falls back to probing that follower.
  void report_unreachable(NodeId peer);

  /// The driver made entries up to `index` durable (leader: counts toward its own match).
  void persisted(Index index);
  /// The driver snapshotted the state machine at snap.meta.index (<= applied): drop the log prefix.
  void compact(Snapshot snap);

  bool has_ready() const;
  Ready ready();
  void advance(const Ready& rd);

  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId id() const { return config_.id; }
  NodeId leader() const { return leader_; }
  Index commit_index() const { return committed_; }
  Index last_index() const { return offset_ + log_.size(); }
  Index first_index() const { return offset_ + 1; }
  Term term_at(Index i) const;
  const ConfState& conf() const { return conf_; }
  /// A membership change has been appended and not applied yet.
  bool conf_change_pending() const { return pending_conf_index_ > applied_; }
  Index applied() const { return applied_; }
  /// Entries in (from, to], for tests and the leader's snapshot decisions. Commands at or below
  /// released_through() come back with empty data.
  std::vector<Entry> entries(Index from, Index to) const;
  /// Commands up to here are applied and were held durably by every member (as the leader knew
  /// them when it said so), so their data is no longer
  /// kept in memory: the log keeps their index, term and type only (the WAL still has them whole).
  /// A member that turns out to need them anyway (a new one, or one whose disk was replaced) gets
  /// a snapshot, and the leader asks for a fresh one through wants_snapshot().
  Index released_through() const { return released_; }
  /// The leader needs a snapshot newer than its latest to bring a member up: the driver should
  /// take one now rather than at its usual interval. Cleared by a compact() past the released
  /// commands.
  bool wants_snapshot() const { return wants_snapshot_; }

 private:
  struct Progress {
    Index match = 0;
    Index next = 1;
    enum class State { kProbe, kReplicate, kSnapshot } state = State::kProbe;
    bool probe_sent = false;      // kProbe: one append outstanding
    std::deque<Index> inflight = {};  // kReplicate: last index of each unacknowledged append
    Index pending_snapshot = 0;
    int snapshot_elapsed = 0;
    Index match_at_heartbeat = 0;
    bool recent_active = false;
    Index commit_sent = 0;        // the highest commit index this follower was told it can reach
  };
  struct PendingRead {
    Index index;
    uint64_t context;
    std::set<NodeId> acks;
  };

  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  /// How an election starts: a normal one (with a pre-vote when configured), the real vote after a
  /// won pre-vote, or one the leader asked for (transfer: no pre-vote, and peers vote even inside
  /// their leader lease).
  enum class Election { kNormal, kAfterPreVote, kTransfer };
  void start_election(Election how);
  void reset(Term term);
  void reset_randomized_timeout();

  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);
  void handle_vote_request(const Message& m);
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);
  void handle_append_response(const Message& m);

  void send(Message m);
  bool send_append(NodeId to, bool send_if_empty);
  void send_heartbeat(NodeId to, uint64_t context);
  void broadcast_append(bool send_if_empty);
  void broadcast_heartbeat(uint64_t context);
  bool maybe_commit();
  void append_local(std::vector<Entry> entries);
  Index conflict_hint(Index index, Term term) const;
  bool log_up_to_date(Index index, Term term) const;
  size_t quorum() const { return conf_.voters.size() / 2 + 1; }
  bool promotable() const { return conf_.voters.count(config_.id) != 0; }
  void apply_conf_change(const Entry& e);
  void release_reads();
  /// Leader: recomputes the index every member holds (the lowest match, its own persisted index
  /// included); then releases what is also applied.
  void update_replicated();
  void learn_replicated(Index index);
  void release_entries();
  uint64_t next_random();

  Config config_;
  uint64_t rng_;
  Role role_ = Role::kFollower;
  Term term_ = 0;
  NodeId vote_ = 0;
  NodeId leader_ = 0;
  ConfState conf_;

  // Log. Invariant: log_[i].index == offset_ + 1 + i; applied_ <= committed_ <= last_index().
  // A deque, not a vector: it holds everything since the last snapshot (100 000 entries by
  // default), and a vector's doubling would keep up to twice that many slots, and compaction
  // would move the whole tail to the front.
  Index offset_ = 0;
  Term offset_term_ = 0;
  std::deque<Entry> log_;
  Index committed_ = 0;
  Index applied_ = 0;           // handed to the driver for applying
  Index unstable_from_ = 1;     // first index not yet handed to storage
  Index persisted_ = 0;         // highest index the driver reported durable
  Index replicated_ = 0;        // every member holds the log durably up to here (monotonic)
  Index released_ = 0;          // commands up to here have their data dropped (<= applied_, replicated_)
  Index released_command_ = 0;  // the highest command whose data was dropped (<= released_)
  bool wants_snapshot_ = false;
  std::optional<Snapshot> snapshot_;           // newest local snapshot (leader sends it)
  std::optional<Snapshot> pending_install_;    // received, not yet handed to the driver

  std::map<NodeId, Progress> progress_;
  std::set<NodeId> votes_granted_;
  std::set<NodeId> votes_rejected_;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;
  NodeId transferee_ = 0;
  int transfer_elapsed_ = 0;
  Index pending_conf_index_ = 0;
  std::deque<PendingRead> pending_reads_;
  std::vector<uint64_t> reads_waiting_for_commit_;

  HardState last_hard_state_;
  std::vector<Message> outbox_;
  std::vector<ReadState> read_states_;
};

}  // namespace conclave::raft
