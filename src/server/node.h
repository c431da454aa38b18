// A Conclave node: wires the named parts of the pipeline together and owns the listeners.
// It knows no front-end: the agent (cli/) creates them on the node's Replica interface, subscribes
// them, gives them listeners and HTTP routes, and hands them to the node to keep (adopt()).
//
//   front-end (zk/, consul/) builds a state::Command -> Proposals (origin id, leader time stamp,
//   forwarding to the leader) -> RaftDriver (Ready loop: WAL group commit, held messages,
//   snapshots) -> Node::apply_entry (decode, tree.apply, every ApplyObserver, then the proposer's
//   reply) -> front-ends wake their watches and blocking queries.
// Membership changes (reconfig, operator API) go through Membership, which proposes Raft
// configuration entries on the leader; applying one also rewrites /zookeeper/config.
// Session expiry for both protocols is SessionLiveness (server/session_liveness.h); only the leader
// expires sessions.
// HTTP routes are registered on one HttpRouter: the node's own (status, operator, metrics) and the
// front-ends'.
//
// Threads: the event loop (everything above except disk I/O), the WAL writer, a snapshot writer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "net/event_loop.h"
#include "net/http.h"
#include "net/io_threads.h"
#include "net/peer.h"
#include "server/http_router.h"
#include "server/membership.h"
#include "server/proposals.h"
#include "server/reads.h"
#include "server/session_liveness.h"
#include "server/raft_driver.h"
#include "server/replica.h"
#include "server/replication_metrics.h"
#include "server/replication_trace.h"
#include "server/trace_gather.h"
#include "state/tree.h"
#include "server/span_export.h"
#include "trace/tracer.h"

namespace conclave::server {

struct NodeConfig {
  std::string data_dir;
  std::string bind = "127.0.0.1";
  uint16_t http_port = 8500;
  uint16_t raft_port = 8300;
  int64_t node_id = 1;
  std::string node_name;                  // Consul node name; default "node-<id>"
  std::string datacenter = "dc1";
  std::map<uint64_t, std::string> peers;  // id -> host:raft-port, including this node; empty: alone
  bool learner = false;                   // start as a non-voting member (only with an empty log)
  int raft_tick_ms = 50;
  int election_ticks = 6;                 // election timeout: [6, 12) ticks = 300-600 ms
  bool fsync = true;
  uint64_t wal_segment_bytes = 64ull << 20;  // a WAL segment rolls over once it holds this much
  uint64_t snapshot_every_entries = 100000;
  uint64_t snapshot_every_bytes = 64ull << 20;  // RaftDriverOptions::snapshot_every_bytes
  bool snapshot_blocking = false;    // see RaftDriverOptions::snapshot_slice_nodes
  int64_t reap_interval_ms = 60000;  // ZooKeeper's znode.container.checkIntervalMs
  int64_t forward_timeout_ms = 5000;
  int64_t session_relay_ms = 1000;   // how often followers relay session liveness to the leader
  int io_threads = 0;                // threads for client sockets (net/io_threads.h); 0: the loop does it
  trace::TracerOptions trace;        // ip and port are filled in from bind and http_port
  SpanExportOptions trace_export;    // collectors that finished spans are sent to (none by default)
};

class Node : public Replica {
 public:
  explicit Node(NodeConfig config);
  ~Node() override;

  /// Recovers state from disk and opens the HTTP and peer listeners. Errors name the file/port at
  /// fault. Front-ends are attached between start() and run(): nothing is served before run().
  Status start();
  /// Runs the event loop on the calling thread until stop().
  void run();
  /// Thread-safe.
  void stop();

  // ---- attaching front-ends (between start() and run()) ----
  /// Listens on `port` of the bind address (0: a free one) and hands connections to `acceptor`.
  Result<uint16_t> listen(uint16_t port, net::Acceptor& acceptor);
  HttpRouter& router() { return router_; }
  /// The node's event loop, for front-ends that start outbound I/O (health-check probes).
  net::EventLoop& loop() { return loop_; }
  /// Runs `fn` on the loop thread every `period`.
  void every(std::chrono::milliseconds period, std::function<void()> fn);
  /// Appends a front-end's Prometheus text to /metrics.
  void add_metrics(std::function<std::string()> source) { metrics_sources_.push_back(std::move(source)); }
  /// The node keeps `part` alive until after its event loop and connections are gone.
  void adopt(std::shared_ptr<void> part) { adopted_.push_back(std::move(part)); }
  /// host:port of the ZooKeeper client port, for four-letter words.
  void set_client_address(std::string address) { client_address_ = std::move(address); }

  uint16_t http_port() const { return http_port_; }
  uint16_t raft_port() const { return raft_port_; }

  // Replica
  const state::DataTree& tree() const override { return tree_; }
  void propose(state::Command cmd, Done done) override;
  void read_index(std::function<void(bool)> done) override;
  void subscribe(ApplyObserver* observer) override { observers_.push_back(observer); }
  int64_t wall_ms() override;
  int64_t wall_us() override;
  trace::Tracer* tracer() override { return tracer_.get(); }
  int64_t monotonic_ms() override;
  int64_t monotonic_us() override;
  state::SessionId next_session_id() override;
  std::string random_bytes(size_t n) override;
  ReplicaInfo info() override;
  LeaderView leader_view() override;
  std::vector<MemberView> members() override;
  void change_membership(MembershipRequest request, std::function<void(const MembershipResult&)> done) override;
  void shutdown() override;
  void touch_session(state::SessionId id) override;
  void session_closing(state::SessionId id) override;

 private:
  void apply_entry(const raft::Entry& e);
  void on_role_changed(raft::Role old_role, raft::Role new_role);
  void on_tree_replaced();
  void on_peer_message(uint64_t from, std::string payload);
  void on_raft_tick();
  void reap();
  std::string peer_address(uint64_t id) const;
  /// Learns Raft addresses of members from /zookeeper/config (members added before the
  /// newest snapshot are not in the log any more).
  void learn_addresses();
  /// This node's line for /zookeeper/config.
  std::string own_spec() const;
  void register_routes();
  std::string metrics_text();
  void handle_operator(const net::HttpRequest& req, net::HttpHandler::Respond respond);

  NodeConfig config_;
  // Declared before the loop so that they outlive it: connections still held by the loop refer
  // to the front-ends and the HTTP server until the loop is destroyed.
  std::vector<std::shared_ptr<void>> adopted_;
  HttpRouter router_;
  std::unique_ptr<trace::Tracer> tracer_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<net::Prober> export_prober_;  // before the loop, so in-flight POSTs never outlive it
  std::unique_ptr<SpanExporter> exporter_;
  net::EventLoop loop_;
  state::DataTree tree_;
  std::unique_ptr<DriverEnv> driver_env_;  // outlives driver_
  std::unique_ptr<RaftDriver> driver_;
  std::unique_ptr<Proposals> proposals_;
  std::unique_ptr<Reads> reads_;  // ReadIndex for the Consul API's reads
  std::unique_ptr<ReplicationTrace> replication_trace_;  // after proposals_: it feeds their fsync spans
  ReplicationLatency replication_latency_;
  std::unique_ptr<TraceGather> trace_gather_;  // clustered nodes only
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<SessionLiveness> sessions_;  // touches relayed to the leader, which closes silent sessions
  std::vector<ApplyObserver*> observers_;
  std::vector<std::function<std::string()>> metrics_sources_;
  std::vector<std::unique_ptr<net::TcpListener>> listeners_;
  std::unique_ptr<net::TcpListener> http_listener_;
  std::unique_ptr<net::IoThreads> io_threads_;
  LatencyHistogram apply_latency_;  // per committed entry, Node::apply_entry  // destroyed in ~Node, before the front-ends' state
  std::unique_ptr<net::PeerTransport> peers_;
  std::string client_address_;
  uint16_t http_port_ = 0;
  uint16_t raft_port_ = 0;

  std::set<std::string> reaping_;
  std::map<uint64_t, std::string> addresses_;  // raft addresses of members, incl. added ones
  int64_t last_leader_contact_ms_ = 0;
  std::map<uint64_t, int64_t> peer_heard_ms_;  // monotonic ms of the last message from each peer
  uint64_t last_term_seen_ = 0;

  state::SessionId next_session_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace conclave::server
