// The replica as every front-end sees it (ZooKeeper protocol, Consul HTTP API, later DNS).
//
// A front-end reads the local tree, proposes commands and learns what was applied; it never sees
// Raft, the WAL or peers. Implemented by server::Node; unit tests implement it in memory.
//
// Contract:
//   - Everything is called on the node's event-loop thread, and every callback runs there.
//   - propose(): `done` runs once, after the command is applied on this node (the local tree shows
//     its effect), or with Code::kConnectionLoss when its outcome cannot be known (no leader, the
//     leader changed). The leader stamps time_ms (and nothing else) into the command, so every
//     replica applies the same times whichever node received the request.
//   - Observers see every applied entry of the log on this node, in log order, before the
//     proposer's `done` runs; both front-ends therefore see changes made through the other.
//   - Sessions (ZooKeeper sessions and Consul sessions are one table in the tree) are expired by
//     the leader alone: front-ends report activity with touch_session(); followers relay it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "state/command.h"
#include "state/tree.h"

namespace conclave::trace {
class Tracer;
}

namespace conclave::server {

/// Where a request came from and how it is traced, carried with its command.
struct RequestContext {
  std::string trace;       // opaque trace context (trace/), copied into Command::trace
  int64_t received_ms = 0; // monotonic time the request arrived
};

struct ReplicaInfo {
  std::string mode = "standalone";  // standalone | leader | follower | observer
  std::string data_dir;
  std::string client_address;       // host:port the ZooKeeper port is bound to
  int64_t node_id = 0;
  std::string node_name;            // Consul node name (node-<id> unless configured)
  std::string datacenter = "dc1";
  uint64_t wal_fsyncs = 0;
  uint64_t outstanding_proposals = 0;
  bool is_leader = false;
  bool known_leader = false;
  std::string leader_address;       // raft address of the leader, "" when unknown
  int64_t last_contact_ms = 0;      // ms since the leader was last heard from (0 on the leader)
  int64_t applied_index = 0;
  int64_t commit_index = 0;
};

/// A Raft member as this node sees it.
struct MemberView {
  int64_t id = 0;
  std::string address;        // raft address host:port
  bool voter = true;
  bool self = false;
  int64_t last_heard_ms = -1; // ms since this node last received anything from it; -1: never
};

/// One change to the cluster's membership (ZooKeeper's reconfig, Consul's operator API).
struct MemberChangeSpec {
  enum class Kind : uint8_t { kAddVoter = 1, kAddLearner = 2, kRemove = 3 };
  Kind kind = Kind::kAddVoter;
  uint64_t id = 0;
  std::string address;  // host:port of the member's Raft listener (adds)
  std::string spec;     // ZooKeeper server spec to publish for it (adds; "" derives one)
};

struct MembershipRequest {
  std::vector<MemberChangeSpec> changes;
  int64_t from_version = -1;  // /zookeeper/config version the caller saw; -1: any
  /// The caller may change the membership. ZooKeeper checks this last (after the version and
  /// the new configuration's quorum), so an unauthorized caller is refused at that point.
  bool authorized = true;
};

/// The peer wire form of a request (a follower forwards it to the leader's Membership).
std::string encode_membership_request(const MembershipRequest& r);
bool decode_membership_request(std::string_view body, MembershipRequest* r);

struct MembershipResult {
  state::Code code = state::Code::kOk;  // ZooKeeper's: BadVersion, BadArguments, NewConfigNoQuorum...
  std::string message;
  int64_t index = 0;                    // the last membership entry (0: nothing changed)
};

/// What a read needs to know about leadership, cheaply (per request).
struct LeaderView {
  bool is_leader = false;
  bool known_leader = false;
  int64_t last_contact_ms = 0;  // ms since the leader was last heard from (0 on the leader)
};

/// Sees every applied log entry and session expiry on this node.
class ApplyObserver {
 public:
  virtual ~ApplyObserver() = default;
  virtual void on_applied(const state::Command& cmd, const state::ApplyResult& result) = 0;
  /// The leader is about to propose closing `id` because it timed out.
  virtual void on_session_expiring(state::SessionId id) {}
  /// The tree was replaced by a snapshot from the leader.
  virtual void on_tree_replaced() {}
};

class Replica {
 public:
  using Done = std::function<void(const state::ApplyResult&)>;
  virtual ~Replica() = default;

  virtual const state::DataTree& tree() const = 0;
  virtual void propose(state::Command cmd, Done done) = 0;
  /// Calls `done(true)` once this node has applied everything committed when it was called, as
  /// confirmed by a quorum (Raft ReadIndex), or `done(false)` if that cannot be established.
  virtual void read_index(std::function<void(bool)> done) { done(true); }
  virtual void subscribe(ApplyObserver* observer) {}

  virtual int64_t wall_ms() = 0;
  /// Wall time in microseconds (span timestamps).
  virtual int64_t wall_us() { return wall_ms() * 1000; }
  virtual int64_t monotonic_ms() = 0;
  /// Monotonic time in microseconds (request latencies).
  virtual int64_t monotonic_us() { return monotonic_ms() * 1000; }
  /// The node's tracer (trace/tracer.h), or nullptr when requests are not traced.
  virtual trace::Tracer* tracer() { return nullptr; }
  virtual state::SessionId next_session_id() = 0;
  virtual std::string random_bytes(size_t n) = 0;
  virtual ReplicaInfo info() = 0;
  /// The cluster's members (voters and learners), with when this node last heard from each.
  virtual std::vector<MemberView> members() { return {}; }
  /// Changes the membership (server/membership.h); `done` runs once the change is applied on
  /// this node, or with the reason it was refused.
  virtual void change_membership(MembershipRequest request, std::function<void(const MembershipResult&)> done) {
    done(MembershipResult{state::Code::kUnimplemented, "membership changes need a clustered node", 0});
  }
  virtual LeaderView leader_view() {
    auto i = info();
    return LeaderView{i.is_leader, i.known_leader, i.last_contact_ms};
  }

  /// Stops this node once the replies in flight are sent (Consul's agent leave).
  virtual void shutdown() {}

  // ---- session liveness (one mechanism for both protocols) ----
  /// A client of `id` is alive (a ZooKeeper request or ping, a Consul session renew).
  virtual void touch_session(state::SessionId id) {}
  /// A session that is being closed on purpose must not also be expired.
  virtual void session_closing(state::SessionId id) {}
};

}  // namespace conclave::server
