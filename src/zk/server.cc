#include "zk/server.h"

#include <unistd.h>

#include <algorithm>

#include "common/log.h"
#include "trace/tracer.h"
#include "zk/connection.h"

namespace conclave::zk {

ZkServer::ZkServer(Backend& backend, ZkOptions options) : backend_(backend), options_(std::move(options)) {}

ZkServer::~ZkServer() = default;

std::unique_ptr<net::StreamHandler> ZkServer::accept(net::Stream& stream) {
  if (connections_.size() >= options_.max_connections) {
    counters_.rejected_connections++;
    log::warn("zk", "refusing connection from {}: {} connections open (limit {})", stream.remote_address(),
              connections_.size(), options_.max_connections);
    return nullptr;
  }
  counters_.connections_total++;
  return std::make_unique<Connection>(*this, stream, next_connection_id_++);
}

std::string ZkServer::metrics_text() const {
  const auto& c = counters_;
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("conclave_zk_connections", "gauge", "Open ZooKeeper client connections.", connections_.size());
  metric("conclave_zk_watches", "gauge", "Registered watches.", watches_.watch_count());
  metric("conclave_zk_packets_received_total", "counter", "ZooKeeper packets received.", c.packets_received);
  metric("conclave_zk_packets_sent_total", "counter", "ZooKeeper packets sent.", c.packets_sent);
  metric("conclave_zk_malformed_frames_total", "counter", "Connections closed for malformed or oversized frames.",
         c.malformed_frames);
  metric("conclave_zk_rejected_connections_total", "counter", "Connections refused at the connection limit.",
         c.rejected_connections);
  metric("conclave_zk_expired_sessions_total", "counter", "Sessions expired by timeout.", c.expired_sessions);
  out += "# HELP conclave_zk_requests_total ZooKeeper requests by op.\n# TYPE conclave_zk_requests_total counter\n";
  for (int op = 0; op < 128; ++op)
    if (c.requests_by_op[op]) out += fmt::format("conclave_zk_requests_total{{op=\"{}\"}} {}\n", op_name(op), c.requests_by_op[op]);
  out += "# HELP conclave_zk_request_duration_seconds ZooKeeper request latency, from the request read to its reply "
         "queued (in session order), by op.\n# TYPE conclave_zk_request_duration_seconds histogram\n";
  for (const auto& [op, h] : c.latency_by_op)
    out += h.text("conclave_zk_request_duration_seconds", fmt::format("op=\"{}\"", op_name(op)));
  return out;
}

void ZkServer::register_connection(Connection* c) { connections_[c->id()] = c; }

void ZkServer::unregister_connection(Connection* c) {
  connections_.erase(c->id());
  watches_.remove_watcher(c->id());
  // By the session it was bound to, not its current session_id(): a connection closed after a
  // ConnectionLoss reply forgets its session id, and must not stay its owner once freed.
  auto it = session_owner_.find(c->bound_session());
  if (it != session_owner_.end() && it->second == c) session_owner_.erase(it);
}

Connection* ZkServer::find_connection(uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second;
}

Connection* ZkServer::connection_for_session(state::SessionId id) {
  auto it = session_owner_.find(id);
  return it == session_owner_.end() ? nullptr : it->second;
}

std::vector<Connection*> ZkServer::connections() const {
  std::vector<Connection*> out;
  for (const auto& [id, c] : connections_) out.push_back(c);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->id() < b->id(); });
  return out;
}

void ZkServer::bind_session(state::SessionId id, Connection* c, int32_t timeout_ms) {
  if (Connection* old = connection_for_session(id); old && old != c) {
    log::info("zk", "session 0x{:x} moved to a new connection; closing the old one", id);
    session_owner_.erase(id);
    old->detach_session_and_close();
  }
  session_owner_[id] = c;
  c->bound_session_ = id;
  backend_.touch_session(id);
}

void ZkServer::touch_session(state::SessionId id) { backend_.touch_session(id); }

void ZkServer::session_closing(state::SessionId id) {
  closing_by_client_.insert(id);
  backend_.session_closing(id);
}

void ZkServer::on_session_expiring(state::SessionId id) {
  const state::SessionInfo* s = backend_.tree().session(id);
  if (s && s->consul) return;  // a Consul session: nothing of ours
  {
    std::optional<log::ScopedTrace> ids;
    if (auto j = joined_.find(id); j != joined_.end())
      ids.emplace(j->second.trace_id.high, j->second.trace_id.low, j->second.parent_id);
    log::info("zk", "session 0x{:x} expired", id);
  }
  counters_.expired_sessions++;
  if (Connection* c = connection_for_session(id)) {
    session_owner_.erase(id);
    c->detach_session_and_close();
  }
}

void ZkServer::session_joined(state::SessionId id, const trace::Incoming& in) {
  if (id == 0) return;
  if (in.trace_id.valid()) joined_[id] = in;
  else joined_.erase(id);
}

void ZkServer::session_ended(state::SessionId id, const char* how) {
  auto j = joined_.find(id);
  if (j == joined_.end()) return;
  trace::Incoming in = std::move(j->second);
  joined_.erase(j);
  trace::Tracer* tracer = backend_.tracer();
  std::optional<trace::Span> span = tracer ? tracer->start(in, backend_.monotonic_ms()) : std::nullopt;
  std::optional<log::ScopedTrace> ids;
  if (span) {
    span->name = "session closed";
    span->timestamp_us = backend_.wall_us();
    span->tags.add_hex("zk.session", static_cast<uint64_t>(id));
    span->tags.add("zk.close", how);
    span->local.port = 0;
    ids.emplace(span->trace_id.high, span->trace_id.low, span->id);
  } else {
    ids.emplace(in.trace_id.high, in.trace_id.low, in.parent_id);
  }
  log::info("zk", "session 0x{:x} ended: {}", id, how);
  if (span) tracer->finish(std::move(*span), backend_.wall_us());
}

void ZkServer::on_applied(const state::Command& cmd, const state::ApplyResult& result) {
  if (cmd.kind == state::CommandKind::kCloseSession) {
    const bool by_client = closing_by_client_.erase(cmd.session);
    if (!joined_.empty()) session_ended(cmd.session, by_client ? "closed by its client" : "expired or closed elsewhere");
    // Closed by someone else (a Consul client destroying it): its connection here is done.
    Connection* c = by_client ? nullptr : connection_for_session(cmd.session);
    if (c) {
      log::info("zk", "session 0x{:x} closed from elsewhere; closing its connection", cmd.session);
      session_owner_.erase(cmd.session);
      c->detach_session_and_close();
    }
  }
  if (result.triggers.empty() || watches_.watch_count() == 0) return;
  std::vector<state::Delivery> deliveries;
  for (const auto& t : result.triggers) watches_.fire(t, &deliveries);
  for (const auto& d : deliveries)
    if (Connection* c = find_connection(d.watcher)) c->notify(d.type, d.path);
}

// ---- four-letter words ----

std::string ZkServer::four_letter(std::string_view cmd) {
  std::string c(cmd);
  bool allowed = options_.four_letter_whitelist.count("*") || options_.four_letter_whitelist.count(c);
  if (!allowed) return c + " is not executed because it is not in the whitelist.\n";
  if (c == "ruok") return "imok";
  if (c == "isro") return "rw";
  if (c == "srvr") return cmd_srvr(false);
  if (c == "stat") return cmd_srvr(true);
  if (c == "mntr") return cmd_mntr();
  if (c == "conf") return cmd_conf();
  if (c == "cons") return cmd_cons();
  if (c == "envi") return cmd_envi();
  if (c == "wchs") return cmd_wchs();
  if (c == "dump") return cmd_dump();
  if (c == "crst") return "Connection stats reset.\n";
  if (c == "srst") {
    counters_.latency_count = counters_.latency_sum_ms = counters_.latency_max_ms = 0;
    counters_.latency_min_ms = UINT64_MAX;
    counters_.packets_received = counters_.packets_sent = 0;
    return "Server stats reset.\n";
  }
  if (c == "dirs") return "datadir_size: 0\nlogdir_size: 0\n";
  if (c == "wchc" || c == "wchp") {
    std::string out;
    auto dump = watches_.dump_data();
    if (c == "wchp") {
      for (const auto& [path, ws] : dump) {
        out += path + "\n";
        for (auto w : ws)
          if (auto* conn = find_connection(w)) out += fmt::format("\t0x{:x}\n", conn->session_id());
      }
    } else {
      std::map<state::SessionId, std::set<std::string>> by_session;
      for (const auto& [path, ws] : dump)
        for (auto w : ws)
          if (auto* conn = find_connection(w)) by_session[conn->session_id()].insert(path);
      for (const auto& [sid, paths] : by_session) {
        out += fmt::format("0x{:x}\n", sid);
        for (const auto& p : paths) out += "\t" + p + "\n";
      }
    }
    return out;
  }
  return c + " is not executed because it is not in the whitelist.\n";
}

static std::string version_line() {
  return std::string(CONCLAVE_ZK_COMPAT_VERSION) + "-conclave-" CONCLAVE_VERSION ", built on " __DATE__;
}

std::string ZkServer::cmd_srvr(bool with_clients) {
  auto info = backend_.info();
  std::string out = "Zookeeper version: " + version_line() + "\n";
  if (with_clients) {
    out += "Clients:\n";
    for (auto* c : connections())
      out += fmt::format(" /{}:{}[1](queued={},recved={},sent={})\n", c->remote_address(), c->remote_port(),
                         c->queued(), c->received(), c->sent());
    out += "\n";
  }
  uint64_t min = counters_.latency_count ? counters_.latency_min_ms : 0;
  double avg = counters_.latency_count ? double(counters_.latency_sum_ms) / double(counters_.latency_count) : 0.0;
  out += fmt::format("Latency min/avg/max: {}/{:.4f}/{}\n", min, avg, counters_.latency_max_ms);
  out += fmt::format("Received: {}\n", counters_.packets_received);
  out += fmt::format("Sent: {}\n", counters_.packets_sent);
  out += fmt::format("Connections: {}\n", connections_.size());
  out += fmt::format("Outstanding: {}\n", info.outstanding_proposals);
  out += fmt::format("Zxid: 0x{:x}\n", backend_.tree().last_zxid());
  out += "Mode: " + info.mode + "\n";
  // ZooKeeper's DataTree maps both "" and "/" to the root, so its node count is one higher.
  out += fmt::format("Node count: {}\n", backend_.tree().node_count() + 1);
  return out;
}

std::string ZkServer::cmd_mntr() {
  auto info = backend_.info();
  const auto& tree = backend_.tree();
  uint64_t min = counters_.latency_count ? counters_.latency_min_ms : 0;
  double avg = counters_.latency_count ? double(counters_.latency_sum_ms) / double(counters_.latency_count) : 0.0;
  std::string out;
  auto kv = [&](std::string_view k, const std::string& v) { out += fmt::format("{}\t{}\n", k, v); };
  kv("zk_version", version_line());
  kv("zk_server_state", info.mode);
  kv("zk_avg_latency", fmt::format("{:.4f}", avg));
  kv("zk_max_latency", std::to_string(counters_.latency_max_ms));
  kv("zk_min_latency", std::to_string(min));
  kv("zk_packets_received", std::to_string(counters_.packets_received));
  kv("zk_packets_sent", std::to_string(counters_.packets_sent));
  kv("zk_num_alive_connections", std::to_string(connections_.size()));
  kv("zk_outstanding_requests", std::to_string(info.outstanding_proposals));
  kv("zk_znode_count", std::to_string(tree.node_count() + 1));
  kv("zk_watch_count", std::to_string(watches_.watch_count()));
  kv("zk_ephemerals_count", std::to_string(tree.ephemeral_count()));
  kv("zk_approximate_data_size", std::to_string(tree.approximate_data_size()));
  kv("zk_open_file_descriptor_count", std::to_string(connections_.size() + 16));
  kv("zk_max_file_descriptor_count", std::to_string(sysconf(_SC_OPEN_MAX)));
  kv("zk_global_sessions", std::to_string(tree.sessions().size()));
  kv("zk_local_sessions", "0");
  kv("zk_fsync_count", std::to_string(info.wal_fsyncs));
  kv("zk_malformed_frames", std::to_string(counters_.malformed_frames));
  kv("zk_expired_sessions", std::to_string(counters_.expired_sessions));
  return out;
}

std::string ZkServer::cmd_conf() {
  auto info = backend_.info();
  std::string out;
  auto port = info.client_address.substr(info.client_address.rfind(':') + 1);
  out += "clientPort=" + port + "\n";
  out += "secureClientPort=-1\n";
  out += "dataDir=" + info.data_dir + "\n";
  out += "dataDirSize=0\n";
  out += "dataLogDir=" + info.data_dir + "\n";
  out += "dataLogSize=0\n";
  out += fmt::format("tickTime={}\n", options_.tick_ms);
  out += fmt::format("maxClientCnxns={}\n", options_.max_connections);
  out += fmt::format("minSessionTimeout={}\n", options_.min_session_timeout_ms);
  out += fmt::format("maxSessionTimeout={}\n", options_.max_session_timeout_ms);
  out += "clientPortListenBacklog=-1\n";
  out += fmt::format("serverId={}\n", info.node_id);
  return out;
}

std::string ZkServer::cmd_cons() {
  std::string out;
  for (auto* c : connections()) {
    const auto& st = c->stats();
    double avg = st.responses ? double(st.sum_latency_ms) / double(st.responses) : 0.0;
    out += fmt::format(
        " /{}:{}[1](queued={},recved={},sent={},sid=0x{:x},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{:x},"
        "lresp={},llat={},minlat={},avglat={:.1f},maxlat={})\n",
        c->remote_address(), c->remote_port(), c->queued(), c->received(), c->sent(), c->session_id(), st.last_op,
        st.established_ms, c->timeout_ms(), st.last_cxid, static_cast<uint64_t>(c->last_zxid()), st.last_response_ms,
        st.last_latency_ms, std::max<int64_t>(0, st.min_latency_ms), avg, st.max_latency_ms);
  }
  return out + "\n";
}

std::string ZkServer::cmd_envi() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  auto info = backend_.info();
  std::string out = "Environment:\n";
  out += "zookeeper.version=" + version_line() + "\n";
  out += std::string("host.name=") + host + "\n";
  out += "java.version=n/a (conclave is native)\n";
  out += "java.vendor=n/a\n";
  out += "java.home=n/a\n";
  out += "java.class.path=n/a\n";
  out += "java.library.path=n/a\n";
  out += "java.io.tmpdir=/tmp\n";
  out += "java.compiler=<NA>\n";
  out += "os.name=Linux\n";
  out += "os.arch=amd64\n";
  out += "user.dir=" + info.data_dir + "\n";
  return out;
}

std::string ZkServer::cmd_wchs() {
  std::set<uint64_t> watchers;
  for (const auto& [path, ws] : watches_.dump_data()) watchers.insert(ws.begin(), ws.end());
  return fmt::format("{} connections watching {} paths\nTotal watches:{}\n", watchers.size(),
                     watches_.path_count(), watches_.data_watch_count());
}

std::string ZkServer::cmd_dump() {
  const auto& tree = backend_.tree();
  std::string out = "SessionTracker dump:\n";
  out += fmt::format("Global Sessions({}):\n", tree.sessions().size());
  std::map<state::SessionId, const state::SessionInfo*> sorted;
  for (const auto& [id, s] : tree.sessions()) sorted[id] = &s;
  for (const auto& [id, s] : sorted) out += fmt::format("0x{:x}\t{}ms\n", id, s->timeout_ms);
  size_t with = 0;
  for (const auto& [id, s] : sorted) with += !s->ephemerals.empty();
  out += "ephemeral nodes dump:\n";
  out += fmt::format("Sessions with Ephemerals ({}):\n", with);
  for (const auto& [id, s] : sorted) {
    if (s->ephemerals.empty()) continue;
    out += fmt::format("0x{:x}:\n", id);
    for (const auto& p : s->ephemerals) out += "\t" + p + "\n";
  }
  return out;
}

}  // namespace conclave::zk
