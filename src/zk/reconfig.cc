#include "zk/reconfig.h"

#include <charconv>
#include <set>
#include <vector>

namespace conclave::zk {
namespace {

// StringUtils.split: pieces trimmed, empty ones dropped.
std::vector<std::string_view> split_list(std::string_view s, std::string_view seps) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find_first_of(seps, start);
    std::string_view piece = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    while (!piece.empty() && (piece.front() == ' ' || piece.front() == '\t' || piece.front() == '\r')) piece.remove_prefix(1);
    while (!piece.empty() && (piece.back() == ' ' || piece.back() == '\t' || piece.back() == '\r')) piece.remove_suffix(1);
    if (!piece.empty()) out.push_back(piece);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

bool same_address(const std::string& h1, uint16_t p1, const std::string& h2, uint16_t p2) { return p1 == p2 && h1 == h2; }

// QuorumServer.checkAddressDuplicate: no quorum or election address of one server may be another's.
bool duplicates(const state::ServerSpec& a, const state::ServerSpec& b) {
  for (auto pa : {a.port, a.election_port})
    for (auto pb : {b.port, b.election_port})
      if (same_address(a.host, pa, b.host, pb)) return true;
  return false;
}

ReconfigParse bad(std::string message) {
  ReconfigParse p;
  p.code = state::Code::kBadArguments;
  p.message = std::move(message);
  return p;
}

// One `server.N=spec` joiner; every port required, as ZooKeeper requires for reconfig.
bool parse_joiner(std::string_view line, uint64_t* id, state::ServerSpec* spec, std::string* why) {
  auto eq = line.find('=');
  if (eq == std::string_view::npos || line.find('=', eq + 1) != std::string_view::npos) {
    *why = "Wrong format of server string";
    return false;
  }
  auto parsed = state::parse_server_line(line);
  if (!parsed) {
    *why = "Reconfiguration failed: cannot parse '" + std::string(line) + "'";
    return false;
  }
  if (!parsed->second.has_client()) {
    *why = "Wrong format of server string - each server should have 3 ports specified";
    return false;
  }
  *id = parsed->first;
  *spec = parsed->second;
  return true;
}

server::MemberChangeSpec add_change(uint64_t id, const state::ServerSpec& s) {
  server::MemberChangeSpec c;
  c.kind = s.observer ? server::MemberChangeSpec::Kind::kAddLearner : server::MemberChangeSpec::Kind::kAddVoter;
  c.id = id;
  c.address = s.quorum_address();
  c.spec = state::render_server_spec(s);
  return c;
}

}  // namespace

ReconfigParse parse_reconfig(const std::optional<std::string_view>& joining, const std::optional<std::string_view>& leaving,
                             const std::optional<std::string_view>& members, int64_t from_version,
                             const state::ClusterConfig& current) {
  ReconfigParse out;
  out.request.from_version = from_version;
  std::map<uint64_t, state::ServerSpec> next = current.servers;
  if (members) {
    std::map<uint64_t, state::ServerSpec> wanted;
    for (auto line : split_list(*members, ",\n")) {
      uint64_t id = 0;
      state::ServerSpec spec;
      std::string why;
      if (!parse_joiner(line, &id, &spec, &why)) return bad(why);
      wanted[id] = spec;
    }
    if (wanted.empty()) return bad("Reconfiguration failed: no members given");
    for (const auto& [id, spec] : current.servers)
      if (!wanted.count(id)) out.request.changes.push_back({server::MemberChangeSpec::Kind::kRemove, id, "", ""});
    for (const auto& [id, spec] : wanted)
      if (!current.servers.count(id) || !(current.servers.at(id) == spec)) out.request.changes.push_back(add_change(id, spec));
    return out;
  }
  if (leaving) {
    for (auto piece : split_list(*leaving, ",")) {
      uint64_t id = 0;
      auto [p, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), id);
      if (ec != std::errc() || p != piece.data() + piece.size()) return bad("Reconfiguration failed: bad server id '" + std::string(piece) + "'");
      next.erase(id);
      out.request.changes.push_back({server::MemberChangeSpec::Kind::kRemove, id, "", ""});
    }
  }
  if (joining) {
    for (auto line : split_list(*joining, ",")) {
      uint64_t id = 0;
      state::ServerSpec spec;
      std::string why;
      if (!parse_joiner(line, &id, &spec, &why)) return bad(why);
      for (const auto& [other, s] : next)
        if (other != id && duplicates(spec, s)) return bad("Reconfiguration failed: server " + std::to_string(id) + " uses the address of server " + std::to_string(other));
      next[id] = spec;
      out.request.changes.push_back(add_change(id, spec));
    }
  }
  return out;
}

}  // namespace conclave::zk
