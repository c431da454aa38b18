// The ZooKeeper front-end: client connections, the session handshake, request decoding and
// replies, per-session FIFO ordering, watch delivery, session liveness and four-letter words.
//
// Owns the connections and the watch registry of this node. Never touches sockets directly (it
// speaks to net::Stream) and never mutates the tree: writes become state::Commands proposed
// through Backend, and their replies are sent when the command has been applied.
//
// Ordering (ZooKeeper's guarantees): replies leave in request order per session; a read waits
// for the session's earlier writes to be applied; watch notifications produced by an applied
// command are queued before the reply that the same apply completes.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/histogram.h"
#include "net/stream.h"
#include "state/watches.h"
#include "trace/context.h"
#include "zk/backend.h"
#include "zk/protocol.h"

#define CONCLAVE_ZK_COMPAT_VERSION "3.8.0"
#define CONCLAVE_VERSION "0.1.0"

namespace conclave::zk {

struct ZkOptions {
  uint32_t max_frame_bytes = 1024 * 1024;  // jute.maxbuffer
  uint32_t max_connections = 60000;
  int32_t tick_ms = 2000;                  // ZooKeeper tickTime: session timeout bounds derive from it
  int32_t min_session_timeout_ms = 4000;   // 2 * tickTime
  int32_t max_session_timeout_ms = 40000;  // 20 * tickTime
  std::set<std::string> four_letter_whitelist = {"srvr"};  // "*" enables all
  std::string super_digest;                // "super:BASE64SHA1" (zookeeper.DigestAuthenticationProvider.superDigest)
  bool reconfig_enabled = false;           // ZooKeeper's reconfigEnabled
  std::map<std::string, std::string> sasl_users;  // user -> password (DigestLoginModule)
  std::string sasl_realm = "zk-sasl-md5";
};

struct ZkCounters {
  uint64_t packets_received = 0;
  uint64_t packets_sent = 0;
  uint64_t malformed_frames = 0;
  uint64_t malformed_requests = 0;  // undecodable bodies, answered with MarshallingError
  uint64_t rejected_connections = 0;
  uint64_t connections_total = 0;
  uint64_t requests_by_op[128] = {};
  std::map<int32_t, LatencyHistogram> latency_by_op;  // request read -> reply queued, by op (not ping)
  uint64_t latency_count = 0;
  uint64_t latency_sum_ms = 0;
  uint64_t latency_min_ms = UINT64_MAX;
  uint64_t latency_max_ms = 0;
  uint64_t expired_sessions = 0;
};

class Connection;

class ZkServer : public net::Acceptor, public server::ApplyObserver {
 public:
  ZkServer(Backend& backend, ZkOptions options);
  ~ZkServer() override;

  std::unique_ptr<net::StreamHandler> accept(net::Stream& stream) override;

  /// Delivers the watch notifications of an applied command. Called by the node for every
  /// applied entry, before the entry's proposer is told it is done.
  void on_applied(const state::Command& cmd, const state::ApplyResult& result) override;
  /// The leader expires `id` (session liveness is the replica's, server/session_tracker.h):
  /// its connection here, if any, is closed.
  void on_session_expiring(state::SessionId id) override;

  const ZkCounters& counters() const { return counters_; }
  /// This front-end's Prometheus metrics (appended to the node's /metrics).
  std::string metrics_text() const;
  const ZkOptions& options() const { return options_; }
  size_t connection_count() const { return connections_.size(); }
  state::WatchRegistry& watches() { return watches_; }
  Backend& backend() { return backend_; }

  // Used by Connection.
  void register_connection(Connection* c);
  void unregister_connection(Connection* c);
  void bind_session(state::SessionId id, Connection* c, int32_t timeout_ms);
  void touch_session(state::SessionId id);
  void session_closing(state::SessionId id);
  /// The session joined a trace (addauth b3/traceparent; an invalid context leaves it): its end,
  /// when it expires or is closed, is logged under that trace and is a span in it.
  void session_joined(state::SessionId id, const trace::Incoming& in);
  Connection* connection_for_session(state::SessionId id);
  Connection* find_connection(uint64_t id);
  ZkCounters& mutable_counters() { return counters_; }
  std::string four_letter(std::string_view cmd);
  std::vector<Connection*> connections() const;

 private:
  std::string cmd_srvr(bool with_clients);
  std::string cmd_mntr();
  std::string cmd_conf();
  std::string cmd_cons();
  std::string cmd_envi();
  std::string cmd_wchs();
  std::string cmd_dump();

  Backend& backend_;
  ZkOptions options_;
  ZkCounters counters_;
  state::WatchRegistry watches_;
  std::unordered_map<uint64_t, Connection*> connections_;  // by watcher id
  std::unordered_map<state::SessionId, Connection*> session_owner_;
  std::set<state::SessionId> closing_by_client_;  // closeSession sent by the session's own connection
  std::unordered_map<state::SessionId, trace::Incoming> joined_;  // sessions in a trace, until they end
  void session_ended(state::SessionId id, const char* how);
  uint64_t next_connection_id_ = 1;
};

}  // namespace conclave::zk
