#include "server/node.h"

#include <sys/prctl.h>

#include <chrono>
#include <filesystem>

#include "common/assert.h"
#include "common/log.h"
#include "raft/codec.h"
#include "server/entry_codec.h"
#include "trace/zipkin_api.h"
#include "state/cluster_config.h"

namespace conclave::server {

namespace fs = std::filesystem;

namespace {
// Bulk loads in huge pages, the rest in normal ones. A whole tree decoded at once (recovery, a
// snapshot from the leader) fills its memory densely, and 2 MiB faults halve a 1M-znode restart
// (cli/main.cc puts the heap in huge pages). Memory that grows a write at a time would leave huge
// pages partly used: 5-8 B more per znode at 1M znodes. Process-wide; pages already huge stay so.
void allow_huge_pages(bool on) { ::prctl(PR_SET_THP_DISABLE, on ? 0 : 1, 0, 0, 0); }

// Peer payload kinds (first byte); Proposals owns kForward (2) and kForwardAck (3),
// SessionLiveness kTouch (4), Reads kAsk (5) and kAnswer (6), Membership kChange (7) and
// kChangeAck (8), Proposals kForwardTraced (9), TraceGather kQuery (10) and kReply (11).
constexpr uint8_t kPeerRaft = 1;
constexpr int64_t kReadTimeoutMs = 5000;
}  // namespace

Node::Node(NodeConfig config) : config_(std::move(config)), rng_(std::random_device{}()) {
  if (config_.peers.empty())
    config_.peers[static_cast<uint64_t>(config_.node_id)] = config_.bind + ":" + std::to_string(config_.raft_port);
  if (config_.node_name.empty()) config_.node_name = "node-" + std::to_string(config_.node_id);
  addresses_ = config_.peers;
}

Node::~Node() {
  stop();
  listeners_.clear();
  http_listener_.reset();
  io_threads_.reset();
  driver_.reset();
}

int64_t Node::wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t Node::wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t Node::monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t Node::monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
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

ReplicaInfo Node::info() {
  ReplicaInfo i;
  const auto& core = driver_->core();
  const auto& conf = core.conf();
  if (conf.voters.size() + conf.learners.size() <= 1) i.mode = "standalone";
  else if (core.role() == raft::Role::kLeader) i.mode = "leader";
  else if (conf.learners.count(static_cast<uint64_t>(config_.node_id))) i.mode = "observer";
  else i.mode = "follower";
  i.data_dir = config_.data_dir;
  i.client_address = client_address_;
  i.node_id = config_.node_id;
  i.node_name = config_.node_name;
  i.datacenter = config_.datacenter;
  i.wal_fsyncs = driver_->wal().stats().fsyncs;
  i.outstanding_proposals = proposals_->outstanding();
  i.is_leader = core.role() == raft::Role::kLeader;
  i.known_leader = core.leader() != 0;
  i.leader_address = core.leader() ? peer_address(core.leader()) : "";
  i.last_contact_ms = i.is_leader || !last_leader_contact_ms_ ? 0 : monotonic_ms() - last_leader_contact_ms_;
  i.applied_index = static_cast<int64_t>(driver_->applied_index());
  i.commit_index = static_cast<int64_t>(core.commit_index());
  return i;
}

std::vector<MemberView> Node::members() {
  const auto& conf = driver_->core().conf();
  std::vector<MemberView> out;
  const int64_t now = monotonic_ms();
  for (const auto* set : {&conf.voters, &conf.learners}) {
    for (uint64_t id : *set) {
      MemberView m;
      m.id = static_cast<int64_t>(id);
      m.address = peer_address(id);
      m.voter = set == &conf.voters;
      m.self = id == static_cast<uint64_t>(config_.node_id);
      if (m.self) m.last_heard_ms = 0;
      else if (auto it = peer_heard_ms_.find(id); it != peer_heard_ms_.end()) m.last_heard_ms = now - it->second;
      out.push_back(std::move(m));
    }
  }
  return out;
}

LeaderView Node::leader_view() {
  const auto& core = driver_->core();
  LeaderView v;
  v.is_leader = core.role() == raft::Role::kLeader;
  v.known_leader = core.leader() != 0;
  v.last_contact_ms = v.is_leader || !last_leader_contact_ms_ ? 0 : monotonic_ms() - last_leader_contact_ms_;
  return v;
}

std::string Node::peer_address(uint64_t id) const {
  auto it = addresses_.find(id);
  return it == addresses_.end() ? std::string() : it->second;
}

void Node::touch_session(state::SessionId id) {
  if (sessions_) sessions_->touch(id);
}

void Node::session_closing(state::SessionId id) {
  if (sessions_) sessions_->closing(id);
}

// ---- lifecycle ----

Status Node::start() {
  std::error_code ec;
  fs::create_directories(config_.data_dir, ec);
  if (ec) return make_error(Errc::kIo, "cannot create data dir " + config_.data_dir + ": " + ec.message());

  RaftDriverOptions ro;
  ro.node_id = static_cast<uint64_t>(config_.node_id);
  for (const auto& [id, addr] : config_.peers) ro.bootstrap_conf.voters.insert(id);
  if (config_.learner) {
    ro.bootstrap_conf.voters.erase(ro.node_id);
    ro.bootstrap_conf.learners.insert(ro.node_id);
  }
  ro.election_ticks = config_.election_ticks;
  ro.snapshot_every_entries = config_.snapshot_every_entries;
  ro.snapshot_every_bytes = config_.snapshot_every_bytes;
  ro.snapshot_slice_nodes = config_.snapshot_blocking ? 0 : ro.snapshot_slice_nodes;
  RaftDriver::Hooks dh;
  dh.apply = [this](const raft::Entry& e) {
    int64_t start = monotonic_us();
    apply_entry(e);
    apply_latency_.observe_us(monotonic_us() - start);
  };
  dh.tree_replaced = [this] { on_tree_replaced(); };
  dh.role_changed = [this](raft::Role o, raft::Role n) { on_role_changed(o, n); };
  dh.read_state = [this](const raft::ReadState& rs) {
    if (reads_) reads_->on_read_state(rs.context, rs.index);
  };
  dh.wall_us = [this] { return wall_us(); };
  dh.bulk_load = [](bool on) { allow_huge_pages(on); };
  dh.monotonic_us = [this] { return monotonic_us(); };
  dh.entries_durable = [this](uint64_t ticket, raft::Index first, raft::Index last, int64_t submitted_us) {
    if (proposals_) proposals_->entries_durable(ticket, first, last, submitted_us);
  };
  bool clustered = config_.peers.size() > 1 || config_.learner;
  if (clustered)
    dh.send = [this](const raft::Message& m) {
      if (replication_trace_) replication_trace_->on_send(m);
      replication_latency_.on_send(m, monotonic_us());
      std::string payload(1, static_cast<char>(kPeerRaft));
      raft::encode_message(m, payload);
      peers_->send(m.to, std::move(payload));
    };
  driver_env_ = make_loop_driver_env(loop_, config_.data_dir, config_.fsync, config_.wal_segment_bytes);
  driver_ = std::make_unique<RaftDriver>(*driver_env_, ro, tree_, std::move(dh), rng_());
  auto st = driver_->recover();
  if (!st) return st;
  allow_huge_pages(false);  // recovery was the bulk load; a snapshot from the leader is another

  trace::TracerOptions to = config_.trace;
  to.ip = config_.bind;
  to.port = config_.http_port;
  tracer_ = std::make_unique<trace::Tracer>(std::move(to));
  if (!config_.trace_export.targets.empty()) {
    export_prober_ = net::make_prober(loop_);
    exporter_ = std::make_unique<SpanExporter>(config_.trace_export, *export_prober_, [this] { return wall_us(); });
    tracer_->set_sink([e = exporter_.get()](const trace::Span& s) { e->add(s); });
  }
  Proposals::Hooks ph;
  ph.tracer = tracer_.get();
  ph.wall_us = [this] { return wall_us(); };
  if (clustered) ph.send = [this](uint64_t to, std::string payload) { peers_->send(to, std::move(payload)); };
  ph.wall_ms = [this] { return wall_ms(); };
  ph.monotonic_ms = [this] { return monotonic_ms(); };
  proposals_ = std::make_unique<Proposals>(*driver_, static_cast<uint64_t>(config_.node_id), config_.forward_timeout_ms,
                                           static_cast<uint64_t>(wall_us()), std::move(ph));
  Reads::Hooks rdh;
  if (clustered) rdh.send = [this](uint64_t to, std::string payload) { peers_->send(to, std::move(payload)); };
  rdh.monotonic_ms = [this] { return monotonic_ms(); };
  reads_ = std::make_unique<Reads>(*driver_, static_cast<uint64_t>(config_.node_id), kReadTimeoutMs,
                                   static_cast<uint64_t>(wall_us()), std::move(rdh));
  SessionLiveness::Hooks sh;
  if (clustered) sh.send = [this](uint64_t to, std::string payload) { peers_->send(to, std::move(payload)); };
  sh.monotonic_ms = [this] { return monotonic_ms(); };
  sh.propose = [this](state::Command cmd, std::function<void()> failed) {
    propose(std::move(cmd), [failed = std::move(failed)](const state::ApplyResult& r) {
      if (r.code == state::Code::kConnectionLoss) failed();
    });
  };
  sh.expiring = [this](state::SessionId id) {
    for (auto* o : observers_) o->on_session_expiring(id);
  };
  sessions_ = std::make_unique<SessionLiveness>(*driver_, tree_, config_.session_relay_ms, std::move(sh));
  sessions_->role_changed(driver_->core().role() == raft::Role::kLeader);
  ReplicationTrace::Hooks rh;
  rh.tracer = tracer_.get();
  rh.wall_us = [this] { return wall_us(); };
  rh.await_wal = [this](raft::Index index, const trace::Parent& parent) { proposals_->await_wal(index, parent); };
  replication_trace_ = std::make_unique<ReplicationTrace>(std::move(rh));
  if (clustered) {
    TraceGather::Hooks gh;
    gh.send = [this](uint64_t to, std::string payload) { peers_->send(to, std::move(payload)); };
    gh.members = [this] {
      std::vector<uint64_t> out;
      const auto& conf = driver_->core().conf();
      for (const auto* set : {&conf.voters, &conf.learners})
        for (auto id : *set)
          if (id != static_cast<uint64_t>(config_.node_id)) out.push_back(id);
      return out;
    };
    gh.local = [this](const std::string& path, const TraceGather::Query& q) {
      return trace::zipkin_api(tracer_->store(), path, q, wall_ms());
    };
    gh.after = [this](int64_t ms, std::function<void()> fn) { loop_.after(std::chrono::milliseconds(ms), std::move(fn)); };
    trace_gather_ = std::make_unique<TraceGather>(std::move(gh));
  }
  Membership::Hooks mh;
  if (clustered) mh.send = [this](uint64_t to, std::string payload) { peers_->send(to, std::move(payload)); };
  mh.monotonic_ms = [this] { return monotonic_ms(); };
  mh.heard_ms_ago = [this](uint64_t id) -> int64_t {
    auto it = peer_heard_ms_.find(id);
    return it == peer_heard_ms_.end() ? -1 : monotonic_ms() - it->second;
  };
  mh.own_spec = [this] { return own_spec(); };
  membership_ = std::make_unique<Membership>(*driver_, *proposals_, tree_, static_cast<uint64_t>(config_.node_id),
                                             static_cast<uint64_t>(wall_us()), std::move(mh));
  learn_addresses();

  router_.set_latency_clock([this] { return monotonic_us(); });
  router_.set_tracer(
      tracer_.get(),
      [this] { return wall_us(); }, [this] { return monotonic_ms(); });
  register_routes();
  http_ = std::make_unique<net::HttpServer>(router_);

  net::PeerOptions po;
  po.self = static_cast<uint64_t>(config_.node_id);
  po.peers = addresses_;
  po.bind_host = config_.bind;
  po.port = config_.raft_port;
  if (clustered) {
    peers_ = std::make_unique<net::PeerTransport>(
        loop_, po, [this](uint64_t from, std::string payload) { on_peer_message(from, std::move(payload)); },
        [this](uint64_t peer) {
          driver_->core().report_unreachable(peer);
          driver_->drive();
        });
    st = peers_->start();
    if (!st) return st;
    raft_port_ = peers_->port();
    // A learner lists only the voters in --peers: its own address is where it listens.
    addresses_.emplace(static_cast<uint64_t>(config_.node_id), config_.bind + ":" + std::to_string(raft_port_));
  }

  if (config_.io_threads > 0) io_threads_ = std::make_unique<net::IoThreads>(loop_, config_.io_threads);
  net::ListenerOptions ho;
  ho.io_threads = io_threads_.get();
  ho.host = config_.bind;
  ho.port = config_.http_port;
  auto hl = net::TcpListener::listen(loop_, ho, *http_);
  if (!hl) return hl.error();
  http_listener_ = std::move(*hl);
  http_port_ = http_listener_->port();

  // A lone voter need not wait for an election timeout.
  const auto& conf = driver_->core().conf();
  if (conf.voters.size() == 1 && conf.voters.count(static_cast<uint64_t>(config_.node_id)))
    driver_->core().campaign();
  driver_->drive();

  loop_.every(std::chrono::milliseconds(config_.raft_tick_ms), [this] { on_raft_tick(); });
  loop_.every(std::chrono::milliseconds(100), [this] { sessions_->expire(); });
  loop_.every(std::chrono::milliseconds(std::max<int64_t>(100, config_.reap_interval_ms)), [this] { reap(); });
  loop_.every(std::chrono::milliseconds(1000), [this] { http_->tick(monotonic_ms()); });
  if (exporter_) loop_.every(std::chrono::milliseconds(100), [this] { exporter_->tick(monotonic_ms()); });
  return Status::Ok();
}

Result<uint16_t> Node::listen(uint16_t port, net::Acceptor& acceptor) {
  net::ListenerOptions o;
  o.host = config_.bind;
  o.port = port;
  o.io_threads = io_threads_.get();
  auto l = net::TcpListener::listen(loop_, o, acceptor);
  if (!l) return l.error();
  uint16_t bound = (*l)->port();
  listeners_.push_back(std::move(*l));
  return bound;
}

void Node::every(std::chrono::milliseconds period, std::function<void()> fn) { loop_.every(period, std::move(fn)); }

void Node::run() { loop_.run(); }

void Node::stop() { loop_.stop(); }

// ---- applying ----

void Node::apply_entry(const raft::Entry& e) {
  if (e.type == raft::EntryType::kConfig) {
    raft::ConfChange cc{};
    if (!raft::decode_conf_change(e.data, &cc)) {
      log::error("node", "committed entry {} holds an undecodable membership change; stopping", e.index);
      std::abort();
    }
    if (!cc.address.empty()) {
      addresses_[cc.node] = cc.address;
      if (peers_ && cc.node != static_cast<uint64_t>(config_.node_id)) peers_->set_peer(cc.node, cc.address);
    }
    log::info("node", "membership change at index {}: {} node {}", e.index,
              cc.type == raft::ConfChangeType::kAddVoter ? "add voter" : cc.type == raft::ConfChangeType::kAddLearner ? "add learner" : "remove",
              cc.node);
    // The same entry rewrites /zookeeper/config on every node.
    state::Command cmd;
    cmd.kind = state::CommandKind::kMembership;
    cmd.member.change = cc.type == raft::ConfChangeType::kAddVoter     ? state::MemberChange::kAddVoter
                        : cc.type == raft::ConfChangeType::kAddLearner ? state::MemberChange::kAddLearner
                                                                       : state::MemberChange::kRemove;
    cmd.member.id = cc.node;
    cmd.member.raft_address = cc.address;
    cmd.member.spec = cc.context;
    state::ApplyResult r = tree_.apply(static_cast<int64_t>(e.index), cmd);
    for (auto* o : observers_) o->on_applied(cmd, r);
  }
  if (e.type == raft::EntryType::kCommand) {
    EntryPayload payload;
    state::Command cmd;
    if (!decode_entry(e.data, &payload) || !state::decode_command(payload.command, &cmd)) {
      log::error("node", "committed entry {} holds an undecodable command; stopping", e.index);
      std::abort();
    }
    if (proposals_) proposals_->committed_through(e.index, wall_us());
    // A traced entry gets an "apply" span here: under the proposal's own span on the node that
    // has one (the request's node, the leader), else under the leader's span the entry names.
    // Its child "notify" covers the watches and blocking queries the change wakes (on_applied).
    std::optional<trace::Parent> parent;
    if (proposals_) {
      if (const trace::Span* own = proposals_->span_of(cmd.origin)) parent = trace::parent_of(*own);
      else parent = payload.parent;
    }
    int64_t apply_us = parent ? wall_us() : 0;
    state::ApplyResult r = tree_.apply(static_cast<int64_t>(e.index), cmd);
    int64_t notify_us = parent ? wall_us() : 0;
    for (auto* o : observers_) o->on_applied(cmd, r);
    if (parent) {
      auto span = tracer_->child(*parent, "apply", trace::Kind::kUnset, apply_us);
      span.tags.add("raft.index", e.index);
      auto notify = tracer_->child(span, "notify", trace::Kind::kUnset, notify_us);
      notify.tags.add("watch.triggers", r.triggers.size());
      if (!r.catalog_changes.empty()) notify.tags.add("catalog.changes", r.catalog_changes.size());
      int64_t end_us = wall_us();
      tracer_->finish(std::move(notify), end_us);
      tracer_->finish(std::move(span), end_us);
    }
    if (proposals_) proposals_->complete(cmd.origin, r);
  }
  // Recovery applies the WAL before the parts below exist.
  if (proposals_) proposals_->applied_through(e.index);
  if (membership_) membership_->applied_through(e.index);
  if (reads_) reads_->applied();
}

void Node::learn_addresses() {
  for (const auto& [id, spec] : tree_.cluster_config().servers) {
    if (addresses_.count(id)) continue;
    addresses_[id] = spec.quorum_address();
    if (peers_ && id != static_cast<uint64_t>(config_.node_id)) peers_->set_peer(id, addresses_[id]);
  }
}

std::string Node::own_spec() const {
  auto known = addresses_.find(static_cast<uint64_t>(config_.node_id));  // as the peers know it
  std::string raft = known != addresses_.end() ? known->second
                                               : config_.bind + ":" + std::to_string(raft_port_ ? raft_port_ : config_.raft_port);
  auto spec = state::spec_from_raft_address(raft, driver_->core().conf().learners.count(static_cast<uint64_t>(config_.node_id)) > 0);
  if (!spec) return "";
  std::string out = state::render_server_spec(*spec);
  if (!client_address_.empty()) out += ";" + client_address_;
  return out;
}

void Node::shutdown() {
  log::info("node", "leaving: stopping");
  loop_.after(std::chrono::milliseconds(200), [this] { stop(); });
}

void Node::change_membership(MembershipRequest request, std::function<void(const MembershipResult&)> done) {
  membership_->change(std::move(request), std::move(done));
}

void Node::on_tree_replaced() {
  if (sessions_) sessions_->tree_replaced();
  // Proposals the snapshot covers will never be applied here one by one: their outcome is unknown.
  if (proposals_) proposals_->applied_through(driver_->applied_index());
  if (reads_) reads_->applied();
  learn_addresses();
  for (auto* o : observers_) o->on_tree_replaced();
}

void Node::on_role_changed(raft::Role old_role, raft::Role new_role) {
  if (sessions_) sessions_->role_changed(new_role == raft::Role::kLeader);
  if (old_role == raft::Role::kLeader) {
    proposals_->leadership_lost();
    replication_trace_->leadership_lost();
    replication_latency_.leadership_lost();
    if (membership_) membership_->leadership_lost();
  }
}

// ---- ReadIndex (server/reads.h) ----

void Node::read_index(std::function<void(bool)> done) { reads_->read_index(std::move(done)); }

// ---- proposals and peers ----

void Node::propose(state::Command cmd, Done done) { proposals_->propose(std::move(cmd), std::move(done)); }

void Node::on_peer_message(uint64_t from, std::string payload) {
  if (payload.empty()) return;
  peer_heard_ms_[from] = monotonic_ms();
  uint8_t kind = static_cast<uint8_t>(payload[0]);
  std::string_view body = std::string_view(payload).substr(1);
  switch (kind) {
    case kPeerRaft: {
      raft::Message m;
      if (!raft::decode_message(body, &m) || m.from != from) {
        log::warn("node", "dropping a malformed raft message from peer {}", from);
        return;
      }
      if (m.from == driver_->core().leader() || m.term > last_term_seen_) last_leader_contact_ms_ = monotonic_ms();
      last_term_seen_ = std::max<uint64_t>(last_term_seen_, m.term);
      replication_trace_->on_receive(m);
      replication_latency_.on_receive(m, monotonic_us());
      driver_->step(m);
      if (m.type == raft::MessageType::kAppendResp && driver_->core().role() == raft::Role::kLeader)
        proposals_->committed_through(driver_->core().commit_index(), wall_us());
      break;
    }
    case Proposals::kForward:
      proposals_->on_forward(from, body);
      driver_->schedule_drive();
      break;
    case Proposals::kForwardTraced:
      proposals_->on_forward_traced(from, body);
      driver_->schedule_drive();
      break;
    case Proposals::kForwardAck:
      proposals_->on_forward_ack(body);
      break;
    case Membership::kChange:
      membership_->on_change(from, body);
      driver_->schedule_drive();
      break;
    case Membership::kChangeAck:
      membership_->on_change_ack(body);
      break;
    case TraceGather::kQuery:
      if (trace_gather_) trace_gather_->on_query(from, body);
      break;
    case TraceGather::kReply:
      if (trace_gather_) trace_gather_->on_reply(from, body);
      break;
    case SessionLiveness::kTouch:
      sessions_->on_touch(body);
      break;
    case Reads::kAsk:
      reads_->on_ask(from, body);
      break;
    case Reads::kAnswer:
      reads_->on_answer(body);
      break;
    default:
      log::warn("node", "unknown peer payload kind {} from {}", kind, from);
  }
}

void Node::on_raft_tick() {
  driver_->tick();
  proposals_->tick();
  membership_->tick();
  reads_->tick();
  sessions_->relay();
}

void Node::reap() {
  if (driver_->core().role() != raft::Role::kLeader) return;
  for (const auto& path : tree_.reap_candidates(wall_ms())) {
    if (!reaping_.insert(path).second) continue;
    state::Command cmd;
    cmd.kind = state::CommandKind::kReap;
    cmd.reap_path = path;
    propose(std::move(cmd), [this, path](const state::ApplyResult&) { reaping_.erase(path); });
  }
}

}  // namespace conclave::server
