// A Conclave node: recovery, the Raft driver, the write pipeline, the read path and listeners.
//
// Every node, including a lone dev node, runs the same path: a raft::Core whose Ready batches this
// class carries out.
//   front-end builds a state::Command -> propose(): on the leader, Core::propose appends it; on a
//   follower it is forwarded to the leader over the peer link -> Ready: hard state + entries go to
//   the WAL as one group-commit batch; the Ready's messages are held until that batch is durable
//   (Raft's "persist before send") -> committed entries are applied in index order on every node
//   -> watch notifications -> the proposer (matched by the command's origin id) gets its reply.
// Reads are served by the front-ends from the local tree; `sync` is a no-op command through the
// log, so a read after it sees everything committed before it (ZooKeeper's sync).
//
// Threads: the event loop (everything above except disk I/O), the WAL writer, a snapshot writer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "net/event_loop.h"
#include "net/http.h"
#include "net/peer.h"
#include "raft/core.h"
#include "state/tree.h"
#include "storage/snapshot_store.h"
#include "storage/wal.h"
#include "zk/backend.h"
#include "zk/server.h"

namespace conclave::server {

struct NodeConfig {
  std::string data_dir;
  std::string bind = "127.0.0.1";
  uint16_t zk_port = 2181;
  uint16_t http_port = 8500;
  uint16_t raft_port = 8300;
  int64_t node_id = 1;
  std::map<uint64_t, std::string> peers;  // id -> host:raft-port, including this node; empty: alone
  bool learner = false;                   // start as a non-voting member (only with an empty log)
  int raft_tick_ms = 50;
  int election_ticks = 6;                 // election timeout: [6, 12) ticks = 300-600 ms
  bool fsync = true;
  uint64_t snapshot_every_entries = 100000;
  int64_t reap_interval_ms = 60000;  // ZooKeeper's znode.container.checkIntervalMs
  int64_t forward_timeout_ms = 5000;
  zk::ZkOptions zk;
};

class Node : public zk::Backend, public net::HttpHandler {
 public:
  explicit Node(NodeConfig config);
  ~Node() override;

  /// Recovers state from disk and opens the listeners. Errors name the file/port at fault.
  Status start();
  /// Runs the event loop on the calling thread until stop().
  void run();
  /// Thread-safe.
  void stop();

  uint16_t zk_port() const { return zk_port_; }
  uint16_t http_port() const { return http_port_; }
  uint16_t raft_port() const { return raft_port_; }

  // zk::Backend
  const state::DataTree& tree() const override { return tree_; }
  void propose(state::Command cmd, Done done) override;
  int64_t wall_ms() override;
  int64_t monotonic_ms() override;
  state::SessionId next_session_id() override;
  std::string random_bytes(size_t n) override;
  zk::NodeInfo info() override;

  // net::HttpHandler
  void handle(const net::HttpRequest& request, Respond respond) override;

 private:
  struct Pending {
    Done done;
    raft::Index index = 0;  // known log index (0: forwarded, not yet acknowledged by the leader)
    int64_t deadline_ms = 0;
    uint64_t forwarded_to = 0;
  };
  struct Held {
    uint64_t ticket;
    raft::Index last_index;
    std::vector<raft::Message> messages;
  };

  Status recover();
  void drive();
  /// Runs drive() once at the end of this event-loop turn, so that every proposal and message
  /// handled in the turn shares one Ready: one WAL batch, one append per follower.
  void schedule_drive();
  void apply(const raft::Entry& e);
  /// Applies `e`, or queues it while a snapshot of the tree is being encoded.
  void apply_or_defer(const raft::Entry& e);
  /// Starts encoding the tree into `buffer` on the snapshot thread; applies wait until it ends.
  void start_encoding(std::string buffer);
  /// Ends the encoding phase of a snapshot (on the loop thread) and applies what was deferred.
  void finish_encoding();
  /// Blocks until the snapshot thread has stopped reading the tree (before replacing the tree).
  void wait_for_encoding();
  void install_snapshot(const raft::Snapshot& s);
  void on_ticket_durable(uint64_t ticket);
  void send_messages(std::vector<raft::Message>& messages);
  void on_peer_message(uint64_t from, std::string payload);
  void on_raft_tick();
  void fail_pending(uint64_t origin, const char* why);
  void maybe_snapshot();
  void reap();
  void update_role();
  std::string peer_address(uint64_t id) const;
  std::string metrics_text();
  void handle_operator(const net::HttpRequest& req, Respond& respond);

  NodeConfig config_;
  net::EventLoop loop_;
  state::DataTree tree_;
  std::unique_ptr<raft::Core> core_;
  std::unique_ptr<storage::Wal> wal_;
  std::unique_ptr<storage::SnapshotStore> snapshots_;
  std::unique_ptr<zk::ZkServer> zk_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<net::TcpListener> zk_listener_;
  std::unique_ptr<net::TcpListener> http_listener_;
  std::unique_ptr<net::PeerTransport> peers_;
  uint16_t zk_port_ = 0;
  uint16_t http_port_ = 0;
  uint16_t raft_port_ = 0;

  std::unordered_map<uint64_t, Pending> pending_;  // by command origin
  std::map<raft::Index, uint64_t> pending_by_index_;  // known log index -> origin (may hold stale origins)
  uint64_t origin_seq_ = 0;
  std::deque<Held> held_;            // messages waiting for their WAL batch to be durable
  uint64_t durable_ticket_ = 0;
  raft::Index submitted_last_index_ = 0;
  raft::Index applied_index_ = 0;
  raft::Index snapshot_index_ = 0;
  bool snapshot_running_ = false;
  std::thread snapshot_thread_;
  // While the snapshot thread encodes the tree, the loop thread keeps serving reads, Raft and the
  // WAL but applies nothing: committed entries wait in apply_backlog_.
  bool encoding_ = false;
  std::deque<raft::Entry> apply_backlog_;
  std::mutex encode_mu_;
  std::condition_variable encode_cv_;
  bool encode_done_ = false;  // guarded by encode_mu_
  uint64_t encode_generation_ = 0;  // numbers encodings, so a late "done" cannot end a newer one
  size_t last_snapshot_bytes_ = 0;
  std::set<std::string> reaping_;
  raft::Role last_role_ = raft::Role::kFollower;
  bool drive_scheduled_ = false;
  std::map<uint64_t, std::string> addresses_;  // raft addresses of members, incl. added ones
  int64_t last_touch_relay_ms_ = 0;

  state::SessionId next_session_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace conclave::server
