// A Conclave node: recovery, the write pipeline, the read path and the listeners.
//
// Write pipeline (one-member Raft group for now; the replicated pipeline reuses every step):
//   front-end builds a state::Command -> propose() gives it the next log index and queues it to
//   the WAL -> the WAL writer group-commits (one fdatasync for everything queued) and reports the
//   durable index -> the loop thread applies entries in index order -> watch notifications go
//   out -> the proposer's completion sends the reply.
// Reads are served by the front-ends straight from the tree on the loop thread.
//
// Threads: the event loop (everything above except disk I/O), the WAL writer, and a snapshot
// writer that only writes bytes encoded on the loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "net/event_loop.h"
#include "net/http.h"
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
  int64_t node_id = 1;
  bool fsync = true;
  uint64_t snapshot_every_entries = 100000;
  int64_t reap_interval_ms = 60000;  // ZooKeeper's znode.container.checkIntervalMs
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
  struct Proposal {
    state::Command cmd;
    Done done;
  };
  Status recover();
  void on_durable(raft::Index index);
  void maybe_snapshot();
  void reap();
  std::string metrics_text();

  NodeConfig config_;
  net::EventLoop loop_;
  state::DataTree tree_;
  std::unique_ptr<storage::Wal> wal_;
  std::unique_ptr<storage::SnapshotStore> snapshots_;
  std::unique_ptr<zk::ZkServer> zk_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<net::TcpListener> zk_listener_;
  std::unique_ptr<net::TcpListener> http_listener_;
  uint16_t zk_port_ = 0;
  uint16_t http_port_ = 0;

  raft::Term term_ = 1;
  raft::Index last_index_ = 0;     // last index handed to the WAL
  raft::Index applied_index_ = 0;  // Invariant: applied_index_ <= durable <= last_index_
  std::unordered_map<raft::Index, Proposal> proposals_;
  raft::Index snapshot_index_ = 0;
  bool snapshot_running_ = false;
  std::thread snapshot_thread_;
  std::set<std::string> reaping_;

  state::SessionId next_session_ = 0;
  std::mt19937_64 rng_;
  int64_t started_ms_ = 0;
  uint64_t applied_total_ = 0;
};

}  // namespace conclave::server
