// Messages, configuration and the Ready batch of the pure Raft core (core.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/entry.h"

namespace conclave::raft {

/// The cluster membership. Voters count for elections and commitment; learners only replicate
/// (ZooKeeper observers, Consul non-voters).
struct ConfState {
  std::set<NodeId> voters;
  std::set<NodeId> learners;
  bool operator==(const ConfState&) const = default;
  bool contains(NodeId id) const { return voters.count(id) || learners.count(id); }
};

/// A kConfig entry's payload: one change at a time (Raft thesis §4.1, single-server changes).
enum class ConfChangeType : uint8_t { kAddVoter = 1, kAddLearner = 2, kRemove = 3 };
struct ConfChange {
  ConfChangeType type;
  NodeId node;
  std::string address = {};  // host:port of the node's peer listener (adds only)
  std::string context = {};  // opaque to Raft: the member's description for the front-ends (server/membership.h)
};
Bytes encode_conf_change(const ConfChange& cc);
bool decode_conf_change(std::string_view bytes, ConfChange* out);

struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  ConfState conf;
};

/// A state-machine snapshot: metadata plus the opaque bytes state/ produced.
struct Snapshot {
  SnapshotMeta meta;
  std::shared_ptr<const std::string> data;
};

enum class MessageType : uint8_t {
  kPreVote = 1,
  kPreVoteResp,
  kVote,
  kVoteResp,
  kAppend,
  kAppendResp,
  kHeartbeat,
  kHeartbeatResp,
  kSnapshot,
  kTimeoutNow,
};
const char* message_type_name(MessageType t);

struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from = 0;
  NodeId to = 0;
  Term term = 0;
  Index index = 0;      // kAppend: index of the entry before `entries`; responses: the match/hint
  Term log_term = 0;    // kAppend: term of `index`; votes: candidate's last log term
  Index commit = 0;
  bool reject = false;
  Index reject_hint = 0;  // kAppendResp on reject: follower's last index (fast back-off)
  uint64_t context = 0;   // ReadIndex round id carried by heartbeats
  Index replicated = 0;   // kAppend, kHeartbeat: every member holds the log durably up to here
  std::vector<Entry> entries;
  std::optional<Snapshot> snapshot;
};

/// A linearizable read point: reads issued with `context` may be served once the local applied
/// index reaches `index` (Raft thesis §6.4, ReadIndex).
struct ReadState {
  Index index = 0;
  uint64_t context = 0;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* role_name(Role r);

/// Everything the driver must do, in this order: persist `hard_state`/`entries` (and install
/// `snapshot`) durably, THEN send `messages`, then apply `committed`; finally call advance().
/// (etcd-io/raft node.go: "Entries specifies entries to be saved to stable storage BEFORE Messages
/// are sent".)
struct Ready {
  std::optional<HardState> hard_state;   // changed since the last Ready
  std::vector<Entry> entries;            // to append to the log; may overwrite a suffix
  std::optional<Snapshot> snapshot;      // received from the leader: install before applying
  std::vector<Message> messages;
  std::vector<Entry> committed;          // to apply, in order
  std::vector<ReadState> read_states;
  bool empty() const {
    return !hard_state && entries.empty() && !snapshot && messages.empty() && committed.empty() &&
           read_states.empty();
  }
};

struct Config {
  NodeId id = 0;
  int election_ticks = 10;   // a follower campaigns after a random timeout in [election, 2*election)
  int heartbeat_ticks = 1;
  size_t max_inflight = 256;              // append messages in flight per follower (pipelining)
  size_t max_entries_per_append = 1024;   // batching bound
  uint64_t max_bytes_per_append = 1 << 20;
  bool pre_vote = true;
  bool check_quorum = true;
};

}  // namespace conclave::raft
