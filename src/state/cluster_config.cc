#include "state/cluster_config.h"

#include <charconv>
#include <vector>

namespace conclave::state {
namespace {

std::optional<uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// ZooKeeper's splitWithLeadingHostname: "[v6::addr]:a:b" keeps the bracketed host whole.
std::optional<std::vector<std::string>> split_host_parts(std::string_view s) {
  std::vector<std::string> parts;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    parts.emplace_back(s.substr(1, close - 1));
    s.remove_prefix(close + 1);
    if (s.empty()) return parts;
    if (s[0] != ':') return std::nullopt;
    s.remove_prefix(1);
  }
  size_t start = 0;
  while (true) {
    size_t colon = s.find(':', start);
    parts.emplace_back(s.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return parts;
}

std::string delimited(const std::string& host) { return host.find(':') != std::string::npos ? "[" + host + "]" : host; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string ServerSpec::quorum_address() const { return delimited(host) + ":" + std::to_string(port); }

std::string ServerSpec::client_address() const {
  return has_client() ? delimited(client_host) + ":" + std::to_string(client_port) : std::string();
}

std::optional<ServerSpec> parse_server_spec(std::string_view spec) {
  spec = trim(spec);
  ServerSpec out;
  std::string_view server = spec, client;
  auto semi = spec.find(';');
  if (semi != std::string_view::npos) {
    server = spec.substr(0, semi);
    client = spec.substr(semi + 1);
    if (client.find(';') != std::string_view::npos) return std::nullopt;
  }
  auto parts = split_host_parts(server);
  if (!parts || parts->size() < 3 || parts->size() > 4 || (*parts)[0].empty()) return std::nullopt;
  out.host = (*parts)[0];
  auto port = parse_port((*parts)[1]);
  auto eport = parse_port((*parts)[2]);
  if (!port || !eport) return std::nullopt;
  out.port = *port;
  out.election_port = *eport;
  if (parts->size() == 4) {
    if ((*parts)[3] == "observer") out.observer = true;
    else if ((*parts)[3] != "participant") return std::nullopt;
  }
  if (semi != std::string_view::npos) {
    auto cparts = split_host_parts(client);
    if (!cparts || cparts->empty() || cparts->size() > 2) return std::nullopt;
    auto cport = parse_port(cparts->back());
    if (!cport) return std::nullopt;
    out.client_port = *cport;
    out.client_host = cparts->size() == 2 ? (*cparts)[0] : "0.0.0.0";
    if (out.client_host.empty()) return std::nullopt;
  }
  return out;
}

std::string render_server_spec(const ServerSpec& s) {
  std::string out = delimited(s.host) + ":" + std::to_string(s.port) + ":" + std::to_string(s.election_port) +
                    (s.observer ? ":observer" : ":participant");
  if (s.has_client()) out += ";" + s.client_address();
  return out;
}

std::optional<std::pair<uint64_t, ServerSpec>> parse_server_line(std::string_view line) {
  line = trim(line);
  auto eq = line.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  std::string_view key = trim(line.substr(0, eq));
  if (key.substr(0, 7) != "server.") return std::nullopt;
  key.remove_prefix(7);
  uint64_t id = 0;
  auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
  if (key.empty() || ec != std::errc() || p != key.data() + key.size() || id == 0) return std::nullopt;
  auto spec = parse_server_spec(line.substr(eq + 1));
  if (!spec) return std::nullopt;
  return std::make_pair(id, std::move(*spec));
}

ClusterConfig parse_cluster_config(std::string_view text) {
  ClusterConfig c;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (line.substr(0, 8) == "version=") {
      std::string_view hex = line.substr(8);
      int64_t v = 0;
      auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
      if (ec == std::errc()) c.version = v;
    } else if (auto s = parse_server_line(line)) {
      c.servers[s->first] = std::move(s->second);
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return c;
}

std::string render_cluster_config(const ClusterConfig& c) {
  std::string out;
  for (const auto& [id, s] : c.servers) out += "server." + std::to_string(id) + "=" + render_server_spec(s) + "\n";
  char hex[32];
  auto [p, ec] = std::to_chars(hex, hex + sizeof hex, c.version, 16);
  out += "version=" + std::string(hex, p);
  return out;
}

std::optional<ServerSpec> spec_from_raft_address(std::string_view address, bool observer) {
  auto parts = split_host_parts(address);
  if (!parts || parts->size() != 2 || (*parts)[0].empty()) return std::nullopt;
  auto port = parse_port((*parts)[1]);
  if (!port) return std::nullopt;
  ServerSpec s;
  s.host = (*parts)[0];
  s.port = s.election_port = *port;
  s.observer = observer;
  return s;
}

}  // namespace conclave::state
