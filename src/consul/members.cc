// The cluster's servers as Consul's agent shows and manages them: /v1/agent/members,
// /v1/operator/autopilot/health, /v1/agent/join|leave|force-leave, and the leader's serfHealth
// watch over its members.
//
// Conclave has no gossip layer: the members are the Raft configuration, "alive" is what the
// leader hears over its peer links (or, on a follower, the serfHealth check the leader wrote),
// and joining or leaving is a Raft membership change (server/membership.h).
//   join/<address>   asks the member whose HTTP API is at <address> to add this node as a
//                    learner (Consul's servers join as non-voters too, until autopilot promotes
//                    them; here `operator raft add-voter` promotes);
//   leave            deregisters this node's catalog entry, removes it from the configuration,
//                    and stops the agent, as Consul's graceful leave does;
//   force-leave/<n>  removes a failed member and its catalog entry; a live member is left alone
//                    (Consul's force-leave acts on failed members only).
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "consul/api.h"
#include "net/probe.h"

namespace conclave::consul {
namespace {

constexpr std::string_view kSerfHealth = "serfHealth";
constexpr int64_t kDeadMs = 3000;  // a member not heard from for this long is failed

bool serf_alive(const state::Catalog::NodeEntry* n) {
  if (!n) return false;
  auto serf = n->checks.find(std::string(kSerfHealth));
  return serf != n->checks.end() && serf->second.spec.status != state::kCritical;
}

}  // namespace

bool ConsulApi::member_alive(const server::MemberView& m, const state::Catalog::NodeEntry* n, bool is_leader) const {
  if (m.self) return true;
  if (is_leader) return m.last_heard_ms >= 0 && m.last_heard_ms <= kDeadMs;
  return serf_alive(n);
}

void ConsulApi::monitor_members() {
  // serfHealth, the leader's way: a member it has not heard from for kDeadMs is critical. The
  // member itself turns it passing again (sync_own_node) once it can reach the leader.
  const int64_t now = replica_.monotonic_ms();
  if (!replica_.leader_view().is_leader) {
    leader_since_ms_ = -1;
    return;
  }
  if (leader_since_ms_ < 0) leader_since_ms_ = now;
  if (member_check_in_flight_ || now - leader_since_ms_ < kDeadMs) return;
  std::map<uint64_t, server::MemberView> members;
  for (auto& m : replica_.members()) members[static_cast<uint64_t>(m.id)] = std::move(m);
  state::CheckUpdateOp op;
  for (const auto& [id, n] : replica_.tree().catalog().server_nodes()) {
    if (!serf_alive(n)) continue;
    auto m = members.find(id);
    if (m != members.end() && m->second.self) continue;
    const std::string& name = n->spec.name;
    if (m == members.end()) {
      op.updates.push_back({name, std::string(kSerfHealth), std::string(state::kCritical), "Agent is not a cluster member"});
    } else if (m->second.last_heard_ms < 0 || m->second.last_heard_ms > kDeadMs) {
      op.updates.push_back({name, std::string(kSerfHealth), std::string(state::kCritical), "Agent not live or unreachable"});
    }
  }
  if (op.updates.empty()) return;
  state::Command cmd = multi_command({std::move(op)});
  member_check_in_flight_ = true;
  replica_.propose(std::move(cmd), [this](const state::ApplyResult&) { member_check_in_flight_ = false; });
}

void ConsulApi::agent_members(const net::HttpRequest&, Respond respond) {
  auto servers = replica_.tree().catalog().server_nodes();
  bool is_leader = replica_.leader_view().is_leader;
  json::array out;
  for (const auto& m : replica_.members()) {
    auto it = servers.find(static_cast<uint64_t>(m.id));
    const state::Catalog::NodeEntry* n = it == servers.end() ? nullptr : it->second;
    std::string host = m.address.substr(0, m.address.rfind(':'));
    int port = std::atoi(m.address.substr(m.address.rfind(':') + 1).c_str());
    bool alive = m.self || (is_leader ? member_alive(m, n, true) : serf_alive(n));
    out.push_back(json::object{
        {"Name", n ? n->spec.name : "node-" + std::to_string(m.id)},
        {"Addr", host},
        {"Port", port},
        {"Tags", json::object{{"role", "consul"}, {"dc", datacenter_}, {"id", std::to_string(m.id)},
                              {"voter", m.voter ? "1" : "0"}, {"build", "1.15.0:conclave"}}},
        {"Status", alive ? 1 : 4},  // serf: 1 alive, 4 failed
        {"ProtocolMin", 1}, {"ProtocolMax", 5}, {"ProtocolCur", 2},
        {"DelegateMin", 2}, {"DelegateMax", 5}, {"DelegateCur", 4}});
  }
  respond(json_response(out));
}

void ConsulApi::autopilot_health(const net::HttpRequest&, Respond respond) {
  // Consul's autopilot health from what this node knows: a member is healthy when the leader (or,
  // on a follower, its serfHealth in the catalog) says it is alive.
  auto info = replica_.info();
  auto nodes = replica_.tree().catalog().server_nodes();
  json::array servers;
  int voters = 0, healthy_voters = 0;
  bool all_healthy = true;
  for (const auto& m : replica_.members()) {
    auto it = nodes.find(static_cast<uint64_t>(m.id));
    const state::Catalog::NodeEntry* n = it == nodes.end() ? nullptr : it->second;
    bool alive = member_alive(m, n, info.is_leader);
    bool is_leader = info.leader_address == m.address || (m.self && info.is_leader);
    if (m.voter) {
      ++voters;
      if (alive) ++healthy_voters;
    }
    all_healthy = all_healthy && alive;
    servers.push_back(json::object{{"ID", std::to_string(m.id)},
                                   {"Name", n ? n->spec.name : "node-" + std::to_string(m.id)},
                                   {"Address", m.address},
                                   {"SerfStatus", alive ? "alive" : "failed"},
                                   {"Version", "1.15.0"},
                                   {"Leader", is_leader},
                                   {"LastContact", m.self || m.last_heard_ms < 0 ? "0s" : format_duration(m.last_heard_ms)},
                                   {"LastTerm", 0},
                                   {"LastIndex", info.applied_index},
                                   {"Healthy", alive},
                                   {"Voter", m.voter},
                                   {"StableSince", "0001-01-01T00:00:00Z"}});
  }
  int quorum = voters / 2 + 1;
  json::object out{{"Healthy", all_healthy},
                   {"FailureTolerance", std::max(0, healthy_voters - quorum)},
                   {"Servers", std::move(servers)}};
  respond(json_response(out, all_healthy ? 200 : 429));
}

// ---- join, leave, force-leave ----

void ConsulApi::agent_join(const net::HttpRequest& req, Respond respond) {
  std::string address = tail_of(req.path, "/v1/agent/join/");
  if (address.empty()) return respond(text_error(400, "missing address to join"));
  if (address.find(':') == std::string::npos || address.back() == ']') address += ":8500";
  auto colon = address.rfind(':');
  std::string port = address.substr(colon + 1);
  if (colon == 0 || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return respond(text_error(400, "bad address to join: " + address));
  if (req.query.count("wan")) return respond(text_error(500, "WAN join is not supported: Conclave runs one datacenter"));
  auto members = replica_.members();
  auto self = std::find_if(members.begin(), members.end(), [](const auto& m) { return m.self; });
  if (self == members.end() || members.size() == 1)
    return respond(text_error(400, "this node runs alone (started without --peers); start it with --peers "
                                   "<the cluster's members> --learner to join a cluster"));
  if (!prober_) return respond(text_error(500, "this agent cannot make outbound requests"));
  net::HttpProbe probe;
  probe.method = "PUT";
  probe.url = fmt::format("http://{}/v1/operator/raft/peer?id={}&address={}&voter=false", address, self->id, self->address);
  probe.timeout_ms = 20000;
  prober_->http(std::move(probe), [respond = std::move(respond), address](net::ProbeResult r) {
    if (!r.connected) return respond(text_error(500, "Error joining address '" + address + "': " + r.error));
    if (r.http_status != 200)
      return respond(text_error(500, "Error joining address '" + address + "': " + std::to_string(r.http_status) + " " + r.body));
    net::HttpResponse ok;
    respond(std::move(ok));
  });
}

void ConsulApi::agent_leave(const net::HttpRequest&, Respond respond) {
  leaving_ = true;  // no more sync_own_node
  auto info = replica_.info();
  auto members = replica_.members();
  bool alone = members.size() <= 1;
  auto finish = [this, respond, alone, id = info.node_id]() {
    if (alone) {
      net::HttpResponse ok;
      respond(std::move(ok));
      replica_.shutdown();
      return;
    }
    server::MembershipRequest mr;
    mr.changes.push_back({server::MemberChangeSpec::Kind::kRemove, static_cast<uint64_t>(id), "", ""});
    replica_.change_membership(std::move(mr), [this, respond](const server::MembershipResult& r) {
      if (r.code != state::Code::kOk) {
        leaving_ = false;
        return respond(text_error(500, "leave failed: " + r.message));
      }
      net::HttpResponse ok;
      respond(std::move(ok));
      replica_.shutdown();
    });
  };
  if (alone) return finish();
  // Deregister this node's catalog entry first (its services and checks go with it), while it
  // is still a member that can reach the leader.
  state::Command cmd = multi_command({state::CatalogDeregisterOp{info.node_name, "", ""}});
  replica_.propose(std::move(cmd), [finish](const state::ApplyResult&) { finish(); });
}

void ConsulApi::agent_force_leave(const net::HttpRequest& req, Respond respond) {
  std::string name = tail_of(req.path, "/v1/agent/force-leave/");
  const auto servers = replica_.tree().catalog().server_nodes();
  uint64_t id = 0;
  for (const auto& [raft_id, n] : servers)
    if (n->spec.name == name) id = raft_id;
  if (id == 0 && name.rfind("node-", 0) == 0) id = std::strtoull(name.c_str() + 5, nullptr, 10);
  auto members = replica_.members();
  auto m = std::find_if(members.begin(), members.end(), [&](const auto& mv) { return static_cast<uint64_t>(mv.id) == id; });
  if (id == 0 || m == members.end()) return respond(text_error(500, "agent: No node found with name '" + name + "'"));
  const state::Catalog::NodeEntry* n = servers.count(id) ? servers.at(id) : nullptr;
  if (member_alive(*m, n, replica_.leader_view().is_leader)) {
    net::HttpResponse ok;  // a live member is not touched, as Consul's force-leave
    return respond(std::move(ok));
  }
  server::MembershipRequest mr;
  mr.changes.push_back({server::MemberChangeSpec::Kind::kRemove, id, "", ""});
  std::string node_name = n ? n->spec.name : "";
  replica_.change_membership(std::move(mr), [this, respond, node_name](const server::MembershipResult& r) {
    if (r.code != state::Code::kOk) return respond(text_error(500, "force-leave failed: " + r.message));
    if (node_name.empty()) {
      net::HttpResponse ok;
      return respond(std::move(ok));
    }
    state::Command cmd = multi_command({state::CatalogDeregisterOp{node_name, "", ""}});
    replica_.propose(std::move(cmd), [respond](const state::ApplyResult& ar) {
      if (ar.code != state::Code::kOk) return respond(text_error(500, "removed from the cluster; deregistering its node failed"));
      net::HttpResponse ok;
      respond(std::move(ok));
    });
  });
}

}  // namespace conclave::consul
