#include "server/node.h"

#include <chrono>
#include <filesystem>

#include "common/assert.h"
#include "common/log.h"

namespace conclave::server {
namespace fs = std::filesystem;

Node::Node(NodeConfig config) : config_(std::move(config)), rng_(std::random_device{}()) {}

Node::~Node() {
  stop();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  if (wal_) wal_->close();
}

int64_t Node::wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t Node::monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

state::SessionId Node::next_session_id() {
  if (next_session_ == 0) {
    // ZooKeeper's SessionTrackerImpl.initializeNextSessionId: time in the middle bits, the
    // server id in the top byte, so ids stay unique across restarts and servers.
    uint64_t base = (static_cast<uint64_t>(wall_ms()) << 24) >> 8;
    next_session_ = static_cast<int64_t>(base | (static_cast<uint64_t>(config_.node_id & 0xFF) << 56));
  }
  while (tree_.session(next_session_)) ++next_session_;
  return next_session_++;
}

std::string Node::random_bytes(size_t n) {
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng_() & 0xFF);
  return out;
}

zk::NodeInfo Node::info() {
  zk::NodeInfo i;
  i.mode = "standalone";
  i.data_dir = config_.data_dir;
  i.client_address = config_.bind + ":" + std::to_string(zk_port_);
  i.node_id = config_.node_id;
  i.wal_fsyncs = wal_ ? wal_->stats().fsyncs : 0;
  i.outstanding_proposals = proposals_.size();
  return i;
}

Status Node::recover() {
  snapshots_ = std::make_unique<storage::SnapshotStore>((fs::path(config_.data_dir) / "snap").string(), config_.fsync);
  auto st = snapshots_->init();
  if (!st) return st;
  auto snap = snapshots_->load_latest();
  if (!snap) return snap.error();
  auto t0 = std::chrono::steady_clock::now();
  if (snap->has_value()) {
    const auto& s = **snap;
    if (!tree_.decode_snapshot(s.payload))
      return make_error(Errc::kCorrupt, fmt::format("snapshot at index {} has a valid checksum but cannot be decoded", s.index));
    snapshot_index_ = applied_index_ = last_index_ = s.index;
    term_ = std::max<raft::Term>(1, s.term);
    log::info("node", "loaded snapshot at index {} ({} znodes, {} sessions)", s.index, tree_.node_count(),
              tree_.sessions().size());
  }
  storage::WalOptions wopt;
  wopt.dir = (fs::path(config_.data_dir) / "wal").string();
  wopt.fsync = config_.fsync;
  storage::RecoveredLog log;
  auto wal = storage::Wal::open(wopt, snapshot_index_, &log);
  if (!wal) return wal.error();
  wal_ = std::move(*wal);
  for (const auto& e : log.entries) {
    if (e.type == raft::EntryType::kCommand) {
      state::Command cmd;
      if (!state::decode_command(e.data, &cmd))
        return make_error(Errc::kCorrupt, fmt::format("WAL entry {} holds an undecodable command", e.index));
      tree_.apply(static_cast<int64_t>(e.index), cmd);
    }
    applied_index_ = last_index_ = e.index;
    term_ = std::max(term_, e.term);
  }
  if (log.hard_state.term == 0) wal_->save_hard_state(raft::HardState{term_, config_.node_id, applied_index_});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  log::info("node", "recovered to index {} in {} ms ({} log entries replayed, {} znodes, {} sessions)", applied_index_,
            ms, log.entries.size(), tree_.node_count(), tree_.sessions().size());
  wal_->set_durable_callback([this](raft::Index index) { loop_.post([this, index] { on_durable(index); }); });
  return Status::Ok();
}

Status Node::start() {
  std::error_code ec;
  fs::create_directories(config_.data_dir, ec);
  if (ec) return make_error(Errc::kIo, "cannot create data dir " + config_.data_dir + ": " + ec.message());
  started_ms_ = monotonic_ms();
  auto st = recover();
  if (!st) return st;

  zk_ = std::make_unique<zk::ZkServer>(*this, config_.zk);
  zk_->restore_sessions();
  http_ = std::make_unique<net::HttpServer>(*this);

  net::ListenerOptions zo;
  zo.host = config_.bind;
  zo.port = config_.zk_port;
  auto zl = net::TcpListener::listen(loop_, zo, *zk_);
  if (!zl) return zl.error();
  zk_listener_ = std::move(*zl);
  zk_port_ = zk_listener_->port();

  net::ListenerOptions ho;
  ho.host = config_.bind;
  ho.port = config_.http_port;
  auto hl = net::TcpListener::listen(loop_, ho, *http_);
  if (!hl) return hl.error();
  http_listener_ = std::move(*hl);
  http_port_ = http_listener_->port();

  loop_.every(std::chrono::milliseconds(100), [this] { zk_->tick(); });
  loop_.every(std::chrono::milliseconds(std::max<int64_t>(100, config_.reap_interval_ms)), [this] { reap(); });
  return Status::Ok();
}

void Node::run() { loop_.run(); }

void Node::stop() { loop_.stop(); }

void Node::propose(state::Command cmd, Done done) {
  raft::Entry e;
  e.term = term_;
  e.index = ++last_index_;
  e.type = raft::EntryType::kCommand;
  state::encode_command(cmd, e.data);
  proposals_.emplace(e.index, Proposal{std::move(cmd), std::move(done)});
  wal_->append(std::move(e));
}

void Node::on_durable(raft::Index index) {
  while (applied_index_ < index) {
    raft::Index i = applied_index_ + 1;
    auto it = proposals_.find(i);
    CONCLAVE_ASSERT(it != proposals_.end(), "durable entry without a proposal on a single node");
    Proposal p = std::move(it->second);
    proposals_.erase(it);
    state::ApplyResult r = tree_.apply(static_cast<int64_t>(i), p.cmd);
    applied_index_ = i;
    ++applied_total_;
    zk_->on_applied(r);
    if (p.done) p.done(r);
  }
  maybe_snapshot();
}

void Node::maybe_snapshot() {
  if (snapshot_running_ || applied_index_ - snapshot_index_ < config_.snapshot_every_entries) return;
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  snapshot_running_ = true;
  storage::SnapshotFile snap;
  snap.index = applied_index_;
  snap.term = term_;
  auto t0 = std::chrono::steady_clock::now();
  tree_.encode_snapshot(snap.payload);
  auto encode_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  snapshot_thread_ = std::thread([this, snap = std::move(snap), encode_ms]() mutable {
    auto st = snapshots_->save(snap);
    raft::Index index = snap.index;
    size_t bytes = snap.payload.size();
    loop_.post([this, st, index, bytes, encode_ms] {
      snapshot_running_ = false;
      if (!st) {
        log::error("node", "snapshot at index {} failed: {}", index, st.error().message);
        return;
      }
      snapshot_index_ = index;
      wal_->retire_through(index);
      log::info("node", "snapshot at index {} written ({} bytes, {} ms on the loop thread)", index, bytes, encode_ms);
    });
  });
}

void Node::reap() {
  for (const auto& path : tree_.reap_candidates(wall_ms())) {
    if (!reaping_.insert(path).second) continue;
    state::Command cmd;
    cmd.kind = state::CommandKind::kReap;
    cmd.time_ms = wall_ms();
    cmd.reap_path = path;
    propose(std::move(cmd), [this, path](const state::ApplyResult&) { reaping_.erase(path); });
  }
}

std::string Node::metrics_text() {
  const auto& c = zk_->counters();
  auto ws = wal_->stats();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("conclave_up", "gauge", "1 while the node serves requests.", 1);
  metric("conclave_applied_index", "gauge", "Highest log index applied to the state machine.", applied_index_);
  metric("conclave_znode_count", "gauge", "Number of znodes in the tree.", tree_.node_count());
  metric("conclave_sessions", "gauge", "Open sessions.", tree_.sessions().size());
  metric("conclave_ephemerals", "gauge", "Ephemeral znodes.", tree_.ephemeral_count());
  metric("conclave_zk_connections", "gauge", "Open ZooKeeper client connections.", zk_->connection_count());
  metric("conclave_zk_watches", "gauge", "Registered watches.", zk_->watches().watch_count());
  metric("conclave_zk_packets_received_total", "counter", "ZooKeeper packets received.", c.packets_received);
  metric("conclave_zk_packets_sent_total", "counter", "ZooKeeper packets sent.", c.packets_sent);
  metric("conclave_zk_malformed_frames_total", "counter", "Connections closed for malformed or oversized frames.",
         c.malformed_frames);
  metric("conclave_zk_rejected_connections_total", "counter", "Connections refused at the connection limit.",
         c.rejected_connections);
  metric("conclave_zk_expired_sessions_total", "counter", "Sessions expired by timeout.", c.expired_sessions);
  metric("conclave_wal_fsyncs_total", "counter", "WAL group commits (fdatasync calls).", ws.fsyncs);
  metric("conclave_wal_records_total", "counter", "WAL records written.", ws.records);
  metric("conclave_wal_bytes_total", "counter", "WAL bytes written.", ws.bytes);
  metric("conclave_wal_fsync_seconds_total", "counter", "Time spent in fdatasync.", double(ws.fsync_ns_total) / 1e9);
  out += "# HELP conclave_zk_requests_total ZooKeeper requests by op.\n# TYPE conclave_zk_requests_total counter\n";
  for (int op = 0; op < 128; ++op)
    if (c.requests_by_op[op]) out += fmt::format("conclave_zk_requests_total{{op=\"{}\"}} {}\n", zk::op_name(op), c.requests_by_op[op]);
  return out;
}

void Node::handle(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse resp;
  std::string self = fmt::format("\"{}:{}\"", config_.bind, 8300);
  if (req.method != "GET" && req.method != "HEAD" && (req.path == "/metrics" || req.path.rfind("/v1/status", 0) == 0)) {
    resp.status = 405;
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = "method not allowed\n";
  } else if (req.path == "/metrics" || req.path == "/v1/agent/metrics") {
    resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp.body = metrics_text();
  } else if (req.path == "/v1/status/leader") {
    resp.body = self;
  } else if (req.path == "/v1/status/peers") {
    resp.body = "[" + self + "]";
  } else {
    resp.status = 404;
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = "Not found: " + req.path + "\n";
  }
  respond(std::move(resp));
}

}  // namespace conclave::server
