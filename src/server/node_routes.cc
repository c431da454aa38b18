// The node's own HTTP routes: /v1/status/*, /v1/operator/raft/*, /metrics. (Consul API routes
// are registered by consul/.)
#include <map>

#include "common/json.h"
#include "common/log.h"
#include "server/node.h"
#include "trace/zipkin_api.h"

namespace conclave::server {
namespace {
net::HttpResponse json_response(const json::value& v) {
  net::HttpResponse r;
  r.body = json::serialize(v);
  return r;
}
}  // namespace

void Node::register_routes() {
  // Zipkin's v2 read API over this node's recent spans (trace/zipkin_api.h).
  router_.prefix("/api/v2/", {"GET"}, [this](const net::HttpRequest& req, net::HttpHandler::Respond respond) {
    // With every member's spans (server/trace_gather.h, which answers a refused request at once),
    // unless ?local=true asks for this node's.
    auto local = req.query.find("local");
    if (trace_gather_ && (local == req.query.end() || local->second != "true")) {
      auto q = req.query;
      q.erase("local");
      trace_gather_->query(req.path, q, [respond = std::move(respond)](TraceGather::Answer g) {
        net::HttpResponse r;
        r.status = g.api.status;
        if (g.api.status != 200) r.content_type = "text/plain; charset=utf-8";
        r.headers.emplace_back("X-Conclave-Members-Replied", fmt::format("{}/{}", g.replied, g.asked));
        r.body = std::move(g.api.body);
        respond(std::move(r));
      });
      return;
    }
    auto a = trace::zipkin_api(tracer_->store(), req.path, req.query, wall_ms());
    net::HttpResponse r;
    r.status = a.status;
    if (a.status != 200) r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(a.body);
    respond(std::move(r));
  });
  router_.exact("/metrics", {"GET"}, [this](const net::HttpRequest&, net::HttpHandler::Respond respond) {
    net::HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_text();
    respond(std::move(r));
  });
  router_.exact("/v1/agent/metrics", {"GET"}, [this](const net::HttpRequest&, net::HttpHandler::Respond respond) {
    net::HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_text();
    respond(std::move(r));
  });
  router_.exact("/v1/status/leader", {"GET"}, [this](const net::HttpRequest&, net::HttpHandler::Respond respond) {
    uint64_t leader = driver_->core().leader();
    respond(json_response(json::string(leader ? peer_address(leader) : "")));
  });
  router_.exact("/v1/status/peers", {"GET"}, [this](const net::HttpRequest&, net::HttpHandler::Respond respond) {
    json::array a;
    for (auto id : driver_->core().conf().voters) a.emplace_back(peer_address(id));
    respond(json_response(a));
  });
  router_.prefix("/v1/operator/raft/", {"GET", "POST", "PUT", "DELETE"},
                 [this](const net::HttpRequest& req, net::HttpHandler::Respond respond) {
                   handle_operator(req, std::move(respond));
                 });
}

std::string Node::metrics_text() {
  auto ws = driver_->wal().stats();
  const auto& core = driver_->core();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("conclave_up", "gauge", "1 while the node serves requests.", 1);
  metric("conclave_raft_term", "gauge", "Current Raft term.", core.term());
  metric("conclave_raft_leader", "gauge", "1 when this node is the Raft leader.", core.role() == raft::Role::kLeader ? 1 : 0);
  metric("conclave_raft_commit_index", "gauge", "Highest committed log index.", core.commit_index());
  metric("conclave_applied_index", "gauge", "Highest log index applied to the state machine.", driver_->applied_index());
  metric("conclave_state_digest", "gauge", "Digest of the replicated tree (equal on nodes at the same applied index).",
         tree_.digest() & 0xFFFFFFFFFFFFull);
  metric("conclave_znodes", "gauge", "Number of znodes in the tree.", tree_.node_count());
  metric("conclave_sessions", "gauge", "Open sessions.", tree_.sessions().size());
  metric("conclave_ephemerals", "gauge", "Ephemeral znodes.", tree_.ephemeral_count());
  metric("conclave_peer_malformed_frames_total", "counter", "Peer connections dropped for malformed frames.",
         peers_ ? peers_->malformed_frames() : 0);
  const auto& ds = driver_->stats();
  metric("conclave_raft_apply_lag", "gauge", "Committed entries not yet applied.",
         core.commit_index() > driver_->applied_index() ? core.commit_index() - driver_->applied_index() : 0);
  metric("conclave_raft_elections_total", "counter", "Elections this node started (became a candidate).", ds.elections);
  metric("conclave_raft_became_leader_total", "counter", "Times this node became the leader.", ds.became_leader);
  out += "# HELP conclave_wal_write_duration_seconds A batch of log entries from its submission to the WAL until durable (write and fdatasync, queueing included).\n"
         "# TYPE conclave_wal_write_duration_seconds histogram\n";
  out += ds.wal_write.text("conclave_wal_write_duration_seconds", "");
  if (!replication_latency_.by_follower().empty()) {
    out += "# HELP conclave_raft_replication_duration_seconds On the leader: an append carrying new entries, from its sending to the follower's acknowledgement (the network both ways and the follower's fsync).\n"
           "# TYPE conclave_raft_replication_duration_seconds histogram\n";
    for (const auto& [follower, h] : replication_latency_.by_follower())
      out += h.text("conclave_raft_replication_duration_seconds", fmt::format("follower=\"{}\"", follower));
  }
  out += "# HELP conclave_raft_apply_duration_seconds Applying one committed entry to the tree, its watches and blocking queries included.\n"
         "# TYPE conclave_raft_apply_duration_seconds histogram\n";
  out += apply_latency_.text("conclave_raft_apply_duration_seconds", "");
  metric("conclave_snapshots_written_total", "counter", "Snapshots this node wrote.", ds.snapshots_written);
  metric("conclave_snapshot_failures_total", "counter", "Snapshots that failed to be written.", ds.snapshots_failed);
  metric("conclave_snapshots_installed_total", "counter", "Snapshots received from the leader and installed.",
         ds.snapshots_installed);
  metric("conclave_snapshot_last_bytes", "gauge", "Size of the last snapshot written.", ds.last_snapshot_bytes);
  metric("conclave_snapshot_last_encode_seconds", "gauge", "Time to encode the last snapshot written.",
         double(ds.last_snapshot_encode_ms) / 1e3);
  metric("conclave_snapshot_last_longest_slice_seconds", "gauge",
         "Longest slice of encoding the last snapshot took from the loop (the longest a request waited for it).",
         double(ds.last_snapshot_longest_slice_us) / 1e6);
  metric("conclave_wal_fsyncs_total", "counter", "WAL group commits (fdatasync calls).", ws.fsyncs);
  metric("conclave_wal_records_total", "counter", "WAL records written.", ws.records);
  metric("conclave_wal_bytes_total", "counter", "WAL bytes written.", ws.bytes);
  metric("conclave_wal_fsync_seconds_total", "counter", "Time spent in fdatasync.", double(ws.fsync_ns_total) / 1e9);
  metric("conclave_http_connections", "gauge", "Open HTTP connections.", http_->connection_count());
  metric("conclave_trace_sampled_total", "counter", "Requests traced.", tracer_->sampled());
  metric("conclave_trace_spans_stored", "gauge", "Spans held for the Zipkin read API.", tracer_->store().size());
  metric("conclave_trace_spans_dropped_total", "counter", "Spans dropped from the full span store, oldest first.",
         tracer_->store().dropped());
  if (exporter_) out += exporter_->metrics_text();
  out += router_.metrics_text();
  for (const auto& source : metrics_sources_) out += source();
  return out;
}

void Node::handle_operator(const net::HttpRequest& req, net::HttpHandler::Respond respond) {
  auto error = [&](int status, const std::string& msg) { respond(HttpRouter::text(status, msg)); };
  auto& core = driver_->core();
  if (req.path == "/v1/operator/raft/configuration" && req.method == "GET") {
    json::array servers;
    // Members are named as the catalog names them (each node registers itself with its raft id).
    auto names = tree_.catalog().server_nodes();
    auto add = [&](uint64_t id, bool voter) {
      auto named = names.find(id);
      servers.push_back(json::object{{"ID", std::to_string(id)},
                                     {"Node", named != names.end() ? named->second->spec.name : "node-" + std::to_string(id)},
                                     {"Address", peer_address(id)},
                                     {"Leader", id == core.leader()},
                                     {"Voter", voter},
                                     {"ProtocolVersion", "3"}});
    };
    for (auto id : core.conf().voters) add(id, true);
    for (auto id : core.conf().learners) add(id, false);
    respond(json_response(json::object{{"Servers", servers}, {"Index", core.commit_index()}}));
    return;
  }
  auto ok = [&](const char* body) {
    net::HttpResponse r;
    r.body = body;
    respond(std::move(r));
  };
  uint64_t id = req.query.count("id") ? std::strtoull(req.query.at("id").c_str(), nullptr, 10) : 0;
  if (id == 0 && req.query.count("address") && req.method == "DELETE") {
    // Consul names the peer to remove by its Raft address as often as by its id.
    for (const auto& [member, addr] : addresses_)
      if (addr == req.query.at("address") && core.conf().contains(member)) id = member;
    if (id == 0) return error(400, "no member has Raft address " + req.query.at("address"));
  }
  if (id == 0) return error(400, "missing or invalid ?id= (or ?address=)");
  if (req.path == "/v1/operator/raft/peer" && req.method != "GET") {
    MemberChangeSpec change;
    change.id = id;
    if (req.method == "DELETE") {
      change.kind = MemberChangeSpec::Kind::kRemove;
    } else {
      change.address = req.query.count("address") ? req.query.at("address") : "";
      if (change.address.empty() || change.address.find(':') == std::string::npos)
        return error(400, "missing ?address=host:port");
      bool voter = !req.query.count("voter") || req.query.at("voter") != "false";
      change.kind = voter ? MemberChangeSpec::Kind::kAddVoter : MemberChangeSpec::Kind::kAddLearner;
    }
    MembershipRequest mr;
    mr.changes.push_back(std::move(change));
    // Any server takes the request; a follower forwards it to the leader.
    change_membership(std::move(mr), [respond = std::move(respond)](const MembershipResult& r) {
      if (r.code == state::Code::kOk) {
        net::HttpResponse resp;
        resp.body = "true";
        return respond(std::move(resp));
      }
      int status = r.code == state::Code::kConnectionLoss ? 503 : r.code == state::Code::kBadArguments ? 400 : 409;
      respond(HttpRouter::text(status, r.message));
    });
    return;
  }
  if (core.role() != raft::Role::kLeader) return error(503, "not the leader; send this to the leader");
  if (req.path == "/v1/operator/raft/transfer-leader" && (req.method == "POST" || req.method == "PUT")) {
    auto st = core.transfer_leadership(id);
    driver_->drive();
    if (!st) return error(409, st.error().message);
    return ok("{\"Success\":true}");
  }
  error(404, "Not found: " + req.path);
}

}  // namespace conclave::server
