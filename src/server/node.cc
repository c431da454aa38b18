#include "server/node.h"

#include <malloc.h>

#include <chrono>
#include <filesystem>

#include "common/assert.h"
#include "common/log.h"
#include "raft/codec.h"

namespace conclave::server {
namespace fs = std::filesystem;

namespace {
// Peer payload kinds (first byte).
constexpr uint8_t kPeerRaft = 1;
constexpr uint8_t kPeerForward = 2;     // u64 origin, command bytes
constexpr uint8_t kPeerForwardAck = 3;  // u64 origin, u64 index (0: refused, not the leader)
constexpr uint8_t kPeerTouch = 4;       // u32 n, n x i64 session id

// Snapshot payload: conf state, then the tree's own encoding.
void encode_snapshot_payload(const raft::ConfState& conf, const state::DataTree& tree, std::string& out) {
  Writer w(out);
  raft::encode_conf_state(conf, w);
  tree.encode_snapshot(out);
}
bool decode_snapshot_payload(std::string_view payload, raft::ConfState* conf, state::DataTree* tree) {
  Reader r(payload);
  if (!raft::decode_conf_state(r, conf)) return false;
  return tree->decode_snapshot(payload.substr(r.position()));
}
}  // namespace

Node::Node(NodeConfig config) : config_(std::move(config)), rng_(std::random_device{}()) {
  if (config_.peers.empty())
    config_.peers[static_cast<uint64_t>(config_.node_id)] = config_.bind + ":" + std::to_string(config_.raft_port);
  addresses_ = config_.peers;
}

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
  const auto& conf = core_->conf();
  if (conf.voters.size() + conf.learners.size() <= 1) i.mode = "standalone";
  else if (core_->role() == raft::Role::kLeader) i.mode = "leader";
  else if (conf.learners.count(static_cast<uint64_t>(config_.node_id))) i.mode = "observer";
  else i.mode = "follower";
  i.data_dir = config_.data_dir;
  i.client_address = config_.bind + ":" + std::to_string(zk_port_);
  i.node_id = config_.node_id;
  i.wal_fsyncs = wal_ ? wal_->stats().fsyncs : 0;
  i.outstanding_proposals = pending_.size();
  return i;
}

std::string Node::peer_address(uint64_t id) const {
  auto it = addresses_.find(id);
  return it == addresses_.end() ? std::string() : it->second;
}

// ---- recovery ----

Status Node::recover() {
  snapshots_ = std::make_unique<storage::SnapshotStore>((fs::path(config_.data_dir) / "snap").string(), config_.fsync);
  auto st = snapshots_->init();
  if (!st) return st;
  auto snap = snapshots_->load_latest();
  if (!snap) return snap.error();
  auto t0 = std::chrono::steady_clock::now();
  raft::Bootstrap boot;
  for (const auto& [id, addr] : config_.peers) boot.conf.voters.insert(id);
  if (config_.learner) {
    boot.conf.voters.erase(static_cast<uint64_t>(config_.node_id));
    boot.conf.learners.insert(static_cast<uint64_t>(config_.node_id));
  }
  if (snap->has_value()) {
    const auto& s = **snap;
    raft::Snapshot rs;
    rs.meta.index = s.index;
    rs.meta.term = s.term;
    if (!decode_snapshot_payload(s.payload, &rs.meta.conf, &tree_))
      return make_error(Errc::kCorrupt,
                        fmt::format("snapshot at index {} has a valid checksum but cannot be decoded (this build reads "
                                    "snapshot format {}; a data directory from another version needs that version)",
                                    s.index, state::DataTree::kSnapshotFormat));
    boot.snapshot = rs;  // metadata only; the bytes are read back from the file when a follower needs them
    snapshot_index_ = applied_index_ = s.index;
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
  boot.hard_state = log.hard_state;
  boot.entries = std::move(log.entries);
  boot.applied = snapshot_index_;
  submitted_last_index_ = boot.entries.empty() ? snapshot_index_ : boot.entries.back().index;
  size_t replay = boot.entries.size();
  raft::Config rc;
  rc.id = static_cast<uint64_t>(config_.node_id);
  rc.election_ticks = config_.election_ticks;
  rc.heartbeat_ticks = 1;
  core_ = std::make_unique<raft::Core>(rc, std::move(boot), rng_());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  log::info("node", "recovered: snapshot at {}, {} log entries after it, commit {} ({} ms)", snapshot_index_, replay,
            core_->commit_index(), ms);
  malloc_trim(0);  // the snapshot file's bytes are gone
  wal_->set_ticket_callback([this](uint64_t ticket) { loop_.post([this, ticket] { on_ticket_durable(ticket); }); });
  return Status::Ok();
}

Status Node::start() {
  std::error_code ec;
  fs::create_directories(config_.data_dir, ec);
  if (ec) return make_error(Errc::kIo, "cannot create data dir " + config_.data_dir + ": " + ec.message());
  auto st = recover();
  if (!st) return st;

  zk_ = std::make_unique<zk::ZkServer>(*this, config_.zk);
  zk_->set_leader(false);
  http_ = std::make_unique<net::HttpServer>(*this);

  net::PeerOptions po;
  po.self = static_cast<uint64_t>(config_.node_id);
  po.peers = config_.peers;
  po.bind_host = config_.bind;
  po.port = config_.raft_port;
  if (config_.peers.size() > 1 || config_.learner) {
    peers_ = std::make_unique<net::PeerTransport>(
        loop_, po, [this](uint64_t from, std::string payload) { on_peer_message(from, std::move(payload)); },
        [this](uint64_t peer) {
          core_->report_unreachable(peer);
          drive();
        });
    st = peers_->start();
    if (!st) return st;
    raft_port_ = peers_->port();
  }

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

  // A lone voter need not wait for an election timeout.
  if (core_->conf().voters.size() == 1 && core_->conf().voters.count(static_cast<uint64_t>(config_.node_id)))
    core_->campaign();
  drive();

  loop_.every(std::chrono::milliseconds(config_.raft_tick_ms), [this] { on_raft_tick(); });
  loop_.every(std::chrono::milliseconds(100), [this] { zk_->tick(); });
  loop_.every(std::chrono::milliseconds(std::max<int64_t>(100, config_.reap_interval_ms)), [this] { reap(); });
  return Status::Ok();
}

void Node::run() { loop_.run(); }

void Node::stop() { loop_.stop(); }

// ---- the Raft driver ----

void Node::drive() {
  while (core_->has_ready()) {
    raft::Ready rd = core_->ready();
    raft::Index truncate_from = 0;
    if (rd.snapshot) {
      install_snapshot(*rd.snapshot);
      truncate_from = rd.snapshot->meta.index + 1;
    }
    if (rd.hard_state || !rd.entries.empty() || truncate_from) {
      uint64_t ticket = wal_->submit(rd.hard_state, rd.entries, truncate_from);
      if (!rd.entries.empty()) submitted_last_index_ = rd.entries.back().index;
      if (truncate_from) submitted_last_index_ = std::max(submitted_last_index_, truncate_from - 1);
      held_.push_back({ticket, submitted_last_index_, std::move(rd.messages)});
    } else if (!held_.empty()) {
      // Keep message order behind earlier batches that are not durable yet.
      auto& back = held_.back();
      for (auto& m : rd.messages) back.messages.push_back(std::move(m));
    } else {
      send_messages(rd.messages);
    }
    for (const auto& e : rd.committed) apply_or_defer(e);
    core_->advance(rd);
  }
  update_role();
  maybe_snapshot();
}

void Node::schedule_drive() {
  if (drive_scheduled_) return;
  drive_scheduled_ = true;
  loop_.post([this] {
    drive_scheduled_ = false;
    drive();
  });
}

void Node::on_ticket_durable(uint64_t ticket) {
  durable_ticket_ = std::max(durable_ticket_, ticket);
  raft::Index durable = 0;
  while (!held_.empty() && held_.front().ticket <= durable_ticket_) {
    durable = held_.front().last_index;
    send_messages(held_.front().messages);
    held_.pop_front();
  }
  if (durable) core_->persisted(durable);
  schedule_drive();
}

void Node::send_messages(std::vector<raft::Message>& messages) {
  if (!peers_) {
    messages.clear();
    return;
  }
  for (auto& m : messages) {
    if (m.type == raft::MessageType::kSnapshot && m.snapshot && !m.snapshot->data) {
      // Read the snapshot back from disk. If the file for this index is not written yet, skip:
      // the leader sends the snapshot again after a while.
      auto file = snapshots_->load_latest();
      if (!file || !file->has_value() || (**file).index != m.snapshot->meta.index) continue;
      m.snapshot->data = std::make_shared<const std::string>(std::move((**file).payload));
    }
    std::string payload(1, static_cast<char>(kPeerRaft));
    raft::encode_message(m, payload);
    peers_->send(m.to, std::move(payload));
  }
  messages.clear();
}

void Node::install_snapshot(const raft::Snapshot& s) {
  wait_for_encoding();
  raft::ConfState conf;
  state::DataTree fresh;
  if (!s.data || !decode_snapshot_payload(*s.data, &conf, &fresh)) {
    log::error("node", "snapshot from the leader at index {} cannot be decoded; stopping", s.meta.index);
    std::abort();
  }
  tree_ = std::move(fresh);
  applied_index_ = s.meta.index;
  // The file goes to disk before the WAL records that the log restarts after it.
  auto st = snapshots_->save(s.meta.index, s.meta.term, *s.data);
  if (!st) {
    log::error("node", "cannot save installed snapshot: {}; stopping", st.error().message);
    std::abort();
  }
  snapshot_index_ = s.meta.index;
  log::info("node", "installed snapshot at index {} from the leader ({} znodes)", s.meta.index, tree_.node_count());
  zk_->restore_sessions();
}

void Node::apply_or_defer(const raft::Entry& e) {
  if (encoding_) apply_backlog_.push_back(e);
  else apply(e);
}

void Node::apply(const raft::Entry& e) {
  if (e.index <= applied_index_) return;
  CONCLAVE_ASSERT(e.index == applied_index_ + 1, "entries must be applied in order without gaps");
  applied_index_ = e.index;
  if (e.type == raft::EntryType::kConfig) {
    raft::ConfChange cc{};
    if (raft::decode_conf_change(e.data, &cc) && !cc.address.empty()) {
      addresses_[cc.node] = cc.address;
      if (peers_ && cc.node != static_cast<uint64_t>(config_.node_id)) peers_->set_peer(cc.node, cc.address);
    }
    log::info("node", "membership change at index {}: {} node {}", e.index,
              cc.type == raft::ConfChangeType::kAddVoter ? "add voter" : cc.type == raft::ConfChangeType::kAddLearner ? "add learner" : "remove",
              cc.node);
  }
  if (e.type == raft::EntryType::kCommand) {
    state::Command cmd;
    if (!state::decode_command(e.data, &cmd)) {
      log::error("node", "committed entry {} holds an undecodable command; stopping", e.index);
      std::abort();
    }
    state::ApplyResult r = tree_.apply(static_cast<int64_t>(e.index), cmd);
    zk_->on_applied(r);
    auto it = pending_.find(cmd.origin);
    if (it != pending_.end()) {
      Done done = std::move(it->second.done);
      pending_.erase(it);
      if (done) done(r);
    }
  }
  // Proposals whose index has now been applied with someone else's entry were lost (a leader
  // change truncated them): their clients get ConnectionLoss, ZooKeeper's "outcome unknown".
  while (!pending_by_index_.empty() && pending_by_index_.begin()->first <= e.index) {
    uint64_t origin = pending_by_index_.begin()->second;
    pending_by_index_.erase(pending_by_index_.begin());
    fail_pending(origin, "lost in a leader change");  // no-op when it was answered above
  }
}

void Node::fail_pending(uint64_t origin, const char* why) {
  auto it = pending_.find(origin);
  if (it == pending_.end()) return;
  Done done = std::move(it->second.done);
  pending_.erase(it);
  log::debug("node", "proposal {:x} failed: {}", origin, why);
  state::ApplyResult r;
  r.code = state::Code::kConnectionLoss;
  if (done) done(r);
}

void Node::propose(state::Command cmd, Done done) {
  cmd.origin = (static_cast<uint64_t>(config_.node_id) << 48) | (++origin_seq_ & 0xFFFFFFFFFFFFull);
  uint64_t origin = cmd.origin;
  Bytes bytes;
  state::encode_command(cmd, bytes);
  if (core_->role() == raft::Role::kLeader) {
    auto idx = core_->propose(std::move(bytes));
    if (!idx) {
      state::ApplyResult r;
      r.code = state::Code::kConnectionLoss;
      if (done) done(r);
      return;
    }
    pending_[origin] = Pending{std::move(done), *idx, 0};
    pending_by_index_[*idx] = origin;
    schedule_drive();
    return;
  }
  uint64_t leader = core_->leader();
  if (leader == 0 || !peers_) {
    state::ApplyResult r;
    r.code = state::Code::kConnectionLoss;
    if (done) done(r);
    return;
  }
  pending_[origin] = Pending{std::move(done), 0, monotonic_ms() + config_.forward_timeout_ms, leader};
  std::string payload(1, static_cast<char>(kPeerForward));
  Writer w(payload);
  w.u64(origin);
  w.raw(bytes);
  peers_->send(leader, std::move(payload));
}

void Node::on_peer_message(uint64_t from, std::string payload) {
  if (payload.empty()) return;
  uint8_t kind = static_cast<uint8_t>(payload[0]);
  std::string_view body = std::string_view(payload).substr(1);
  switch (kind) {
    case kPeerRaft: {
      raft::Message m;
      if (!raft::decode_message(body, &m) || m.from != from) {
        log::warn("node", "dropping a malformed raft message from peer {}", from);
        return;
      }
      core_->step(m);
      schedule_drive();
      break;
    }
    case kPeerForward: {
      Reader r(body);
      uint64_t origin = r.u64();
      std::string_view cmd = r.rest();
      raft::Index index = 0;
      if (r.ok() && core_->role() == raft::Role::kLeader) {
        state::Command c;
        if (state::decode_command(cmd, &c) && c.origin == origin) {
          auto idx = core_->propose(std::string(cmd));
          if (idx) index = *idx;
        }
      }
      std::string ack(1, static_cast<char>(kPeerForwardAck));
      Writer w(ack);
      w.u64(origin);
      w.u64(index);
      peers_->send(from, std::move(ack));
      schedule_drive();
      break;
    }
    case kPeerForwardAck: {
      Reader r(body);
      uint64_t origin = r.u64();
      raft::Index index = r.u64();
      if (!r.ok()) return;
      auto it = pending_.find(origin);
      if (it == pending_.end()) return;
      if (index == 0) fail_pending(origin, "the peer is not the leader");
      else if (index <= applied_index_) fail_pending(origin, "lost in a leader change");
      else {
        it->second.index = index;
        pending_by_index_[index] = origin;
      }
      break;
    }
    case kPeerTouch: {
      Reader r(body);
      uint32_t n = r.u32();
      if (n > r.remaining() / 8) return;
      for (uint32_t i = 0; i < n; ++i) zk_->touch_remote(r.i64());
      break;
    }
    default:
      log::warn("node", "unknown peer payload kind {} from {}", kind, from);
  }
}

void Node::on_raft_tick() {
  core_->tick();
  drive();
  int64_t now = monotonic_ms();
  // Forwarded proposals the leader never acknowledged.
  // Forwards to a node that is no longer the leader will not be answered: fail them now rather
  // than at the deadline, so clients retry against the new leader quickly.
  std::vector<uint64_t> expired;
  for (const auto& [origin, p] : pending_)
    if (p.index == 0 && p.deadline_ms != 0 && (now > p.deadline_ms || p.forwarded_to != core_->leader()))
      expired.push_back(origin);
  for (auto origin : expired) fail_pending(origin, "no answer from the leader");
  // Relay client activity to the leader, which alone expires sessions (ZooKeeper's followers do
  // the same with their pings to the leader).
  if (core_->role() != raft::Role::kLeader && peers_ && now - last_touch_relay_ms_ >= config_.zk.tick_ms / 2) {
    last_touch_relay_ms_ = now;
    auto ids = zk_->take_touched();
    uint64_t leader = core_->leader();
    if (!ids.empty() && leader != 0) {
      std::string payload(1, static_cast<char>(kPeerTouch));
      Writer w(payload);
      w.u32(static_cast<uint32_t>(ids.size()));
      for (auto id : ids) w.i64(id);
      peers_->send(leader, std::move(payload));
    }
  }
}

void Node::update_role() {
  raft::Role role = core_->role();
  if (role == last_role_) return;
  log::info("node", "now {} in term {} (leader {})", raft::role_name(role), core_->term(), core_->leader());
  zk_->set_leader(role == raft::Role::kLeader);
  if (last_role_ == raft::Role::kLeader) {
    // Proposals made as leader may still commit under the next leader, but we can no longer tell:
    // their clients get ConnectionLoss, as ZooKeeper's do when their server loses leadership.
    std::vector<uint64_t> mine;
    for (const auto& [origin, p] : pending_)
      if (p.index != 0) mine.push_back(origin);
    for (auto origin : mine) fail_pending(origin, "leadership lost");
  }
  last_role_ = role;
}

void Node::maybe_snapshot() {
  if (snapshot_running_ || applied_index_ - snapshot_index_ < config_.snapshot_every_entries) return;
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  snapshot_running_ = true;
  // Encoding into fresh memory is mostly page faults. Fault a buffer of the expected size in
  // first, on the snapshot thread while applies go on; applies wait only for the encoding itself.
  size_t expect = last_snapshot_bytes_ ? last_snapshot_bytes_ + last_snapshot_bytes_ / 4 : 0;
  snapshot_thread_ = std::thread([this, expect] {
    auto buffer = std::make_shared<std::string>();
    if (expect) {
      buffer->resize(expect);
      buffer->clear();  // keeps the capacity, and the pages
    }
    loop_.post([this, buffer] { start_encoding(std::move(*buffer)); });
  });
}

void Node::start_encoding(std::string buffer) {
  if (snapshot_thread_.joinable()) snapshot_thread_.join();  // the thread that prepared `buffer`
  encoding_ = true;
  const uint64_t generation = ++encode_generation_;
  raft::SnapshotMeta meta;
  meta.index = applied_index_;
  meta.term = core_->term_at(applied_index_);
  meta.conf = core_->conf();
  // The core keeps only the metadata: the bytes live in the file, and are read back only when a
  // follower needs them (send_messages), so a snapshot does not double the node's memory. Until
  // the file exists, a follower that needs it is skipped and retried; the WAL still holds every
  // entry the snapshot covers.
  raft::Snapshot meta_only;
  meta_only.meta = meta;
  core_->compact(meta_only);
  snapshot_thread_ = std::thread([this, meta, generation, buffer = std::move(buffer)]() mutable {
    // Reads the tree while the loop thread only reads it too (apply is deferred meanwhile).
    auto t0 = std::chrono::steady_clock::now();
    encode_snapshot_payload(meta.conf, tree_, buffer);
    auto encode_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lock(encode_mu_);
      encode_done_ = true;
    }
    encode_cv_.notify_all();
    loop_.post([this, generation] {
      if (generation == encode_generation_) finish_encoding();  // else wait_for_encoding did it
    });
    auto st = snapshots_->save(meta.index, meta.term, buffer);
    size_t size = buffer.size();
    buffer = std::string();
    // The encoded snapshot (hundreds of MB for millions of znodes) is freed now; hand the pages
    // back to the OS instead of keeping them in malloc's free lists.
    malloc_trim(0);
    loop_.post([this, st, meta, encode_ms, size] {
      snapshot_running_ = false;
      if (!st) {
        log::error("node", "snapshot at index {} failed: {}", meta.index, st.error().message);
        return;
      }
      snapshot_index_ = std::max(snapshot_index_, meta.index);
      last_snapshot_bytes_ = size;
      wal_->retire_through(meta.index);
      log::info("node", "snapshot at index {} written ({} bytes; encoded in {} ms while applies waited)", meta.index,
                size, encode_ms);
    });
  });
}

void Node::wait_for_encoding() {
  if (!encoding_) return;
  {
    std::unique_lock<std::mutex> lock(encode_mu_);
    encode_cv_.wait(lock, [this] { return encode_done_; });
  }
  finish_encoding();
}

void Node::finish_encoding() {
  if (!encoding_) return;
  {
    std::lock_guard<std::mutex> lock(encode_mu_);
    encode_done_ = false;
  }
  encoding_ = false;
  while (!apply_backlog_.empty()) {
    raft::Entry e = std::move(apply_backlog_.front());
    apply_backlog_.pop_front();
    apply(e);
  }
}

void Node::reap() {
  if (core_->role() != raft::Role::kLeader) return;
  for (const auto& path : tree_.reap_candidates(wall_ms())) {
    if (!reaping_.insert(path).second) continue;
    state::Command cmd;
    cmd.kind = state::CommandKind::kReap;
    cmd.time_ms = wall_ms();
    cmd.reap_path = path;
    propose(std::move(cmd), [this, path](const state::ApplyResult&) { reaping_.erase(path); });
  }
}

// ---- HTTP: status, operator, metrics ----

std::string Node::metrics_text() {
  const auto& c = zk_->counters();
  auto ws = wal_->stats();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("conclave_up", "gauge", "1 while the node serves requests.", 1);
  metric("conclave_raft_term", "gauge", "Current Raft term.", core_->term());
  metric("conclave_raft_leader", "gauge", "1 when this node is the Raft leader.", core_->role() == raft::Role::kLeader ? 1 : 0);
  metric("conclave_raft_commit_index", "gauge", "Highest committed log index.", core_->commit_index());
  metric("conclave_applied_index", "gauge", "Highest log index applied to the state machine.", applied_index_);
  metric("conclave_state_digest", "gauge", "Digest of the replicated tree (equal on nodes at the same applied index).",
         tree_.digest() & 0xFFFFFFFFFFFFull);
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
  metric("conclave_peer_malformed_frames_total", "counter", "Peer connections dropped for malformed frames.",
         peers_ ? peers_->malformed_frames() : 0);
  metric("conclave_wal_fsyncs_total", "counter", "WAL group commits (fdatasync calls).", ws.fsyncs);
  metric("conclave_wal_records_total", "counter", "WAL records written.", ws.records);
  metric("conclave_wal_bytes_total", "counter", "WAL bytes written.", ws.bytes);
  metric("conclave_wal_fsync_seconds_total", "counter", "Time spent in fdatasync.", double(ws.fsync_ns_total) / 1e9);
  out += "# HELP conclave_zk_requests_total ZooKeeper requests by op.\n# TYPE conclave_zk_requests_total counter\n";
  for (int op = 0; op < 128; ++op)
    if (c.requests_by_op[op]) out += fmt::format("conclave_zk_requests_total{{op=\"{}\"}} {}\n", zk::op_name(op), c.requests_by_op[op]);
  return out;
}

static std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void Node::handle_operator(const net::HttpRequest& req, Respond& respond) {
  net::HttpResponse resp;
  auto error = [&](int status, const std::string& msg) {
    resp.status = status;
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = msg + "\n";
    respond(std::move(resp));
  };
  if (req.path == "/v1/operator/raft/configuration" && req.method == "GET") {
    std::string body = "{\"Servers\":[";
    bool first = true;
    auto add = [&](uint64_t id, bool voter) {
      if (!first) body += ",";
      first = false;
      body += fmt::format("{{\"ID\":\"{}\",\"Node\":\"node-{}\",\"Address\":{},\"Leader\":{},\"Voter\":{},"
                          "\"ProtocolVersion\":\"3\"}}",
                          id, id, json_string(peer_address(id)), id == core_->leader() ? "true" : "false",
                          voter ? "true" : "false");
    };
    for (auto id : core_->conf().voters) add(id, true);
    for (auto id : core_->conf().learners) add(id, false);
    body += fmt::format("],\"Index\":{}}}", core_->commit_index());
    resp.body = body;
    respond(std::move(resp));
    return;
  }
  if (core_->role() != raft::Role::kLeader) return error(503, "not the leader; send this to the leader");
  uint64_t id = req.query.count("id") ? std::strtoull(req.query.at("id").c_str(), nullptr, 10) : 0;
  if (id == 0) return error(400, "missing or invalid ?id=");
  if (req.path == "/v1/operator/raft/peer" && (req.method == "POST" || req.method == "PUT")) {
    std::string addr = req.query.count("address") ? req.query.at("address") : "";
    if (addr.empty() || addr.find(':') == std::string::npos) return error(400, "missing ?address=host:port");
    bool voter = !req.query.count("voter") || req.query.at("voter") != "false";
    auto st = core_->propose_conf_change({voter ? raft::ConfChangeType::kAddVoter : raft::ConfChangeType::kAddLearner, id, addr});
    drive();
    if (!st) return error(409, st.error().message);
    resp.body = "true";
    respond(std::move(resp));
    return;
  }
  if (req.path == "/v1/operator/raft/peer" && req.method == "DELETE") {
    auto st = core_->propose_conf_change({raft::ConfChangeType::kRemove, id, ""});
    drive();
    if (!st) return error(409, st.error().message);
    resp.body = "true";
    respond(std::move(resp));
    return;
  }
  if (req.path == "/v1/operator/raft/transfer-leader" && (req.method == "POST" || req.method == "PUT")) {
    auto st = core_->transfer_leadership(id);
    drive();
    if (!st) return error(409, st.error().message);
    resp.body = "{\"Success\":true}";
    respond(std::move(resp));
    return;
  }
  error(404, "Not found: " + req.path);
}

void Node::handle(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse resp;
  if (req.path.rfind("/v1/operator/raft/", 0) == 0) {
    handle_operator(req, respond);
    return;
  }
  if (req.method != "GET" && req.method != "HEAD" && (req.path == "/metrics" || req.path.rfind("/v1/status", 0) == 0)) {
    resp.status = 405;
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = "method not allowed\n";
  } else if (req.path == "/metrics" || req.path == "/v1/agent/metrics") {
    resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp.body = metrics_text();
  } else if (req.path == "/v1/status/leader") {
    uint64_t leader = core_->leader();
    resp.body = leader ? json_string(peer_address(leader)) : "\"\"";
  } else if (req.path == "/v1/status/peers") {
    std::string body = "[";
    for (auto id : core_->conf().voters) body += (body.size() > 1 ? "," : "") + json_string(peer_address(id));
    resp.body = body + "]";
  } else {
    resp.status = 404;
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = "Not found: " + req.path + "\n";
  }
  respond(std::move(resp));
}

}  // namespace conclave::server
