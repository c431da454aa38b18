// Proposals: from a front-end's command to its reply.
//
//   propose() numbers the command with an origin id ((node id << 48) | sequence) -> on the leader
//   it is stamped with the leader's wall time and appended to the Raft log; on a follower it is
//   forwarded to the leader (peer message), which stamps and appends it and acknowledges with the
//   log index -> when an entry is applied, complete() answers the proposer whose origin it
//   carries -> a proposal whose index was applied with someone else's entry, whose forward the
//   leader refused or never acknowledged, or that was pending when this node lost leadership, is
//   answered with Code::kConnectionLoss (ZooKeeper's "outcome unknown"; clients retry).
//
// Tracing: a proposal made while a traced request is active (trace::Tracer::active()) gets a span,
// a child of the request's: "raft propose" on the leader (append -> applied here), or a CLIENT span
// "forward" on a follower (forward -> applied here). A traced forward carries the context, and the
// leader makes its own "raft propose" span as the forward's child, so one write's trace shows
// both nodes. The leader writes its span's context into the log entry (server/entry_codec.h):
// every follower makes its "wal fsync" and "apply" spans of the entry under it
// (server/replication_trace.h, Node::apply_entry), and the span is annotated "committed" when the
// leader's commit index passes the entry.
//
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "raft/types.h"
#include "server/raft_driver.h"
#include "state/command.h"
#include "trace/tracer.h"

namespace conclave::server {

class Proposals {
 public:
  using Done = std::function<void(const state::ApplyResult&)>;
  struct Hooks {
    /// Sends a forward or an acknowledgement to a peer (absent on a lone node).
    std::function<void(uint64_t to, std::string payload)> send;
    std::function<int64_t()> wall_ms;
    std::function<int64_t()> monotonic_ms;
    trace::Tracer* tracer = nullptr;  // spans for proposals made by traced requests
    std::function<int64_t()> wall_us;
  };
  // Peer payload kinds this part owns (first byte of a peer message).
  static constexpr uint8_t kForward = 2;     // u64 origin, command bytes
  // u64 origin, u64 index (0: refused, not the leader), then u64 term of the entry (absent from
  // older nodes' acknowledgements)
  static constexpr uint8_t kForwardAck = 3;
  // u64 trace high, u64 trace low, u64 parent span id, u8 flags (1: debug), then as kForward.
  static constexpr uint8_t kForwardTraced = 9;

  /// `first_sequence` numbers this incarnation's first proposal. Origins must never repeat across
  /// restarts: the log may still hold, and apply after the restart, entries the node proposed in
  /// an earlier life, and an origin reused since would answer a new request with an old entry's
  /// result. The node passes its wall clock in µs at start: no incarnation proposes more than
  /// one command per µs, so each one's range ends before the next begins (unless the clock is
  /// stepped back by more than the time since the earlier incarnation started).
  Proposals(RaftDriver& driver, uint64_t node_id, int64_t forward_timeout_ms, uint64_t first_sequence, Hooks hooks);

  void propose(state::Command cmd, Done done);
  /// A peer forwarded a command (we may be the leader).
  void on_forward(uint64_t from, std::string_view body);
  void on_forward_traced(uint64_t from, std::string_view body);
  /// The span of the traced proposal `origin` on this node (nullptr when it has none): the node
  /// makes its "apply" span a child of it.
  const trace::Span* span_of(uint64_t origin) const;
  /// Entries [first, last] became durable here in WAL batch `ticket`: each traced entry among
  /// them gets a "wal fsync" span (one per entry, tagged with the shared batch id).
  void entries_durable(uint64_t ticket, raft::Index first, raft::Index last, int64_t submitted_us);
  /// The traced entry at `index` will get a "wal fsync" span under `parent` once durable here.
  void await_wal(raft::Index index, const trace::Parent& parent);
  /// The leader's commit index reached `index`: its "raft propose" spans up to it are annotated.
  void committed_through(raft::Index index, int64_t now_us);
  void on_forward_ack(std::string_view body);
  /// The entry at `index` carrying `origin` was applied with result `r`.
  void complete(uint64_t origin, const state::ApplyResult& r);
  /// Everything through `index` is applied (one entry at a time, or by a snapshot that replaced
  /// the tree): proposals still waiting for an index at or below it were lost, or their outcome
  /// is unknown.
  void applied_through(raft::Index index);
  /// Periodic: forwards that the leader never acknowledged, or that went to a former leader, and
  /// acknowledged ones whose entry can no longer commit: the committed log has reached a later
  /// term below their index (a new leader replaced the entry; without this, a quiet log would
  /// leave the client waiting until the log grows past the index).
  void tick();
  void leadership_lost();
  size_t outstanding() const { return pending_.size(); }

 private:
  struct Pending {
    // User-provided, so that an entry made in place is not zeroed whole first (its span's storage
    // is a few hundred bytes).
    Pending() {}
    Pending(Done d, int64_t deadline, uint64_t to) : done(std::move(d)), deadline_ms(deadline), forwarded_to(to) {}
    Done done;
    raft::Index index = 0;  // known log index (0: forwarded, not yet acknowledged by the leader)
    int64_t deadline_ms = 0;
    uint64_t forwarded_to = 0;
    std::optional<trace::Span> span;
    raft::Term term = 0;  // of the entry at `index`, when known
  };
  /// A forwarded proposal's span on the leader, finished when its entry is applied here.
  struct LeaderSpan {
    trace::Span span;
    raft::Index index = 0;
  };
  void fail(uint64_t origin, const char* why);
  void forward(uint64_t origin, const state::Command& cmd, uint64_t leader, const trace::Span* span);
  raft::Index accept_forward(uint64_t from, uint64_t origin, std::string_view bytes, const trace::Span* span);
  void finish_span(trace::Span& span, raft::Index index, const state::ApplyResult* r, const char* why);
  /// On the leader: stamps the leader's time and appends, with `span`'s context in the entry when
  /// there is one. Returns the index, or 0.
  raft::Index append(state::Command& cmd, const trace::Span* span);

  RaftDriver& driver_;
  uint64_t node_id_;
  int64_t forward_timeout_ms_;
  Hooks hooks_;
  std::unordered_map<uint64_t, Pending> pending_;  // by command origin
  // Known log index -> origin (may hold stale origins). Several proposals may have been told one
  // index (by leaders of different terms): each must hear its outcome.
  std::multimap<raft::Index, uint64_t> by_index_;
  std::unordered_map<uint64_t, LeaderSpan> leader_spans_;  // by origin, bounded
  // Traced proposals' log indexes whose WAL batch is not durable yet, with the span that becomes
  // the "wal fsync" span's parent. Kept apart from the spans: a leader may commit and apply an
  // entry (a quorum of followers has it) before its own fsync of it completes.
  // Both are sorted by index and bounded; entries arrive in index order, so adding is a push at
  // the back and taking the durable or committed ones a pop at the front.
  std::deque<std::pair<raft::Index, trace::Parent>> awaiting_wal_;
  std::deque<std::pair<raft::Index, uint64_t>> awaiting_commit_;  // traced entry's index -> origin
  void await_commit(raft::Index index, uint64_t origin);
  uint64_t seq_;  // the last sequence used
  // Commands are encoded here first and copied out at their exact size: the log keeps an entry
  // until the next snapshot (up to 100 000 of them), and a string grown by appending would keep
  // up to twice the bytes it holds.
  Bytes scratch_;
};

}  // namespace conclave::server
