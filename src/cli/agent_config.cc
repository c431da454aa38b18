#include "cli/agent_config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "common/digest.h"
#include "storage/file_util.h"
#include "zk/sasl.h"

namespace conclave::cli {
namespace {

struct Flag {
  const char* name;
  bool takes_value;
  const char* help;
};

const Flag kFlags[] = {
    {"dev", false, "development mode: data in a fresh temp dir, all four-letter words enabled"},
    {"data-dir", true, "directory for the WAL and snapshots (required unless --dev)"},
    {"bind", true, "address to listen on (default 127.0.0.1)"},
    {"zk-port", true, "ZooKeeper client port (default 2181; 0 picks a free port)"},
    {"http-port", true, "HTTP API port: Consul API, /metrics (default 8500; 0 picks a free port)"},
    {"io-threads", true, "threads for the sockets of client connections (ZooKeeper, HTTP); 0: the one loop thread does it all (default 0)"},
    {"dns-port", true, "DNS port, UDP and TCP (default 8600; 0 picks a free port; -1 turns DNS off)"},
    {"dns-domain", true, "the DNS domain answered (default consul)"},
    {"config", true, "config file with `name = value` lines using these flag names"},
    {"node-id", true, "this node's id, 1-255 (default 1)"},
    {"node-name", true, "Consul node name (default node-<id>)"},
    {"datacenter", true, "Consul datacenter name; ?dc= with another name is refused (default dc1)"},
    {"raft-port", true, "port for server-to-server Raft traffic (default 8300)"},
    {"peers", true, "ID=HOST:RAFTPORT,... every voter of a static cluster, this node included"},
    {"learner", false, "join as a non-voting member (ZooKeeper observer); add it with `conclave operator raft add-learner`"},
    {"raft-tick-ms", true, "Raft tick; heartbeats every tick, elections after 6-12 ticks (default 50)"},
    {"zk-reconfig", false, "accept ZooKeeper reconfig from the super user (reconfigEnabled; default off; --dev: on)"},
    {"zk-super-digest", true, "USER:BASE64SHA1 superuser digest (zookeeper.DigestAuthenticationProvider.superDigest)"},
    {"zk-sasl-users", true, "JAAS file whose Server section lists user_NAME=\"password\" for SASL DIGEST-MD5"},
    {"4lw-whitelist", true, "comma-separated four-letter words to enable, or * (default srvr; --dev: *)"},
    {"max-frame-bytes", true, "largest ZooKeeper frame accepted (default 1048576, jute.maxbuffer)"},
    {"max-connections", true, "most ZooKeeper client connections (default 60000)"},
    {"tick-ms", true, "ZooKeeper tickTime; session timeouts are bounded to [2, 20] ticks (default 2000)"},
    {"min-session-timeout-ms", true, "lower bound for negotiated session timeouts (default 2 * tick)"},
    {"max-session-timeout-ms", true, "upper bound for negotiated session timeouts (default 20 * tick)"},
    {"snapshot-entries", true, "take a snapshot every N applied log entries (default 100000)"},
    {"snapshot-log-bytes", true, "also take one once the entries since the last hold N bytes, or as many as the last snapshot if more (default 67108864)"},
    {"wal-segment-bytes", true, "a WAL segment rolls over once it holds this many bytes (default 67108864)"},
    {"snapshot-blocking", false, "encode each snapshot in one go, stopping the node meanwhile (default: in slices while it serves)"},
    {"reap-interval-ms", true, "how often empty containers and expired TTL nodes are removed (default 60000)"},
    {"no-fsync", false, "do not fdatasync the WAL (benchmarks only: acknowledged writes may be lost on power loss)"},
    {"trace-sample", true, "probability that a request the caller did not mark is traced, 0-1 (default 0.01)"},
    {"trace-rate-limit", true, "most such sampled requests per second (default 100)"},
    {"trace-max-spans", true, "recent spans kept for the Zipkin read API; oldest dropped first (default 10000)"},
    {"trace-zipkin-url", true, "send finished spans to this Zipkin collector (http://host:9411/api/v2/spans)"},
    {"trace-otlp-url", true, "send finished spans as OTLP/HTTP JSON (http://host:4318/v1/traces)"},
    {"trace-export-queue", true, "spans waiting per collector; newer ones are dropped, counted, when full (default 4096)"},
    {"trace-export-timeout-ms", true, "an export POST not answered by then fails, counted (default 5000)"},
    {"log-level", true, "debug | info | warn | error (default info)"},
    {"log-format", true, "text | json (default text); lines written while serving a traced request carry its ids"},
    {"help", false, "show this help"},
};

const Flag* find_flag(const std::string& name) {
  for (const auto& f : kFlags)
    if (name == f.name) return &f;
  return nullptr;
}

Result<int64_t> to_int(const std::string& name, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > hi)
    return make_error(Errc::kInvalid, "--" + name + ": expected an integer in [" + std::to_string(lo) + ", " +
                                          std::to_string(hi) + "], got '" + v + "'");
  return static_cast<int64_t>(n);
}

Status apply(AgentOptions& o, const std::map<std::string, std::string>& kv, bool* min_set, bool* max_set) {
  for (const auto& [name, v] : kv) {
    auto& n = o.node;
    auto num = [&](int64_t lo, int64_t hi) { return to_int(name, v, lo, hi); };
    if (name == "dev") o.dev = v != "false";
    else if (name == "help") o.help = true;
    else if (name == "data-dir") n.data_dir = v;
    else if (name == "bind") n.bind = v;
    else if (name == "node-name") {
      if (v.empty() || v.find_first_of("/ \t") != std::string::npos)
        return make_error(Errc::kInvalid, "--node-name: expected a non-empty name without '/' or spaces");
      n.node_name = v;
    } else if (name == "datacenter") {
      if (v.empty() || v.find_first_of("/ \t") != std::string::npos)
        return make_error(Errc::kInvalid, "--datacenter: expected a non-empty name without '/' or spaces");
      n.datacenter = v;
    }
    else if (name == "zk-port") { auto r = num(0, 65535); if (!r) return r.error(); o.zk_port = uint16_t(*r); }
    else if (name == "dns-port") { auto r = num(-1, 65535); if (!r) return r.error(); o.dns_port = int(*r); }
    else if (name == "dns-domain") {
      if (v.empty() || v.find_first_of("/ \t") != std::string::npos)
        return make_error(Errc::kInvalid, "--dns-domain: expected a domain name");
      o.dns_domain = v;
    }
    else if (name == "io-threads") { auto r = num(0, 64); if (!r) return r.error(); n.io_threads = int(*r); }
    else if (name == "http-port") { auto r = num(0, 65535); if (!r) return r.error(); n.http_port = uint16_t(*r); }
    else if (name == "trace-sample" || name == "trace-rate-limit") {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      bool prob = name == "trace-sample";
      if (v.empty() || *end != '\0' || !(d >= 0) || (prob && d > 1) || d > 1e9)
        return make_error(Errc::kInvalid, "--" + name + (prob ? ": expected a number in [0, 1]" : ": expected a number >= 0") +
                                              ", got '" + v + "'");
      (prob ? n.trace.probability : n.trace.max_per_second) = d;
    }
    else if (name == "trace-max-spans") { auto r = num(0, 10000000); if (!r) return r.error(); n.trace.max_spans = size_t(*r); }
    else if (name == "trace-zipkin-url" || name == "trace-otlp-url") {
      if (v.rfind("http://", 0) != 0 || v.size() <= 7)
        return make_error(Errc::kInvalid, "--" + name + ": expected an http:// URL, got '" + v + "'");
      n.trace_export.targets.push_back(
          {name == "trace-zipkin-url" ? trace::ExportFormat::kZipkinV2 : trace::ExportFormat::kOtlpJson, v});
    }
    else if (name == "trace-export-queue") { auto r = num(1, 10000000); if (!r) return r.error(); n.trace_export.queue.max_queue = size_t(*r); }
    else if (name == "trace-export-timeout-ms") { auto r = num(10, 600000); if (!r) return r.error(); n.trace_export.timeout_ms = *r; }
    else if (name == "node-id") { auto r = num(1, 255); if (!r) return r.error(); n.node_id = *r; }
    else if (name == "raft-port") { auto r = num(0, 65535); if (!r) return r.error(); n.raft_port = uint16_t(*r); }
    else if (name == "raft-tick-ms") { auto r = num(5, 10000); if (!r) return r.error(); n.raft_tick_ms = int(*r); }
    else if (name == "learner") n.learner = v != "false";
    else if (name == "peers") {
      n.peers.clear();
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) {
        auto eq = item.find('=');
        auto colon = item.rfind(':');
        if (eq == std::string::npos || colon == std::string::npos || colon < eq)
          return make_error(Errc::kInvalid, "--peers: expected ID=HOST:PORT,..., got '" + item + "'");
        auto id = to_int("peers", item.substr(0, eq), 1, 255);
        if (!id) return id.error();
        auto port = to_int("peers", item.substr(colon + 1), 1, 65535);
        if (!port) return port.error();
        n.peers[uint64_t(*id)] = item.substr(eq + 1);
      }
    }
    else if (name == "zk-reconfig") o.zk.reconfig_enabled = v != "false";
    else if (name == "zk-super-digest") {
      if (v.find(':') == std::string::npos) return make_error(Errc::kInvalid, "--zk-super-digest: expected USER:BASE64SHA1");
      o.zk.super_digest = v;
    } else if (name == "zk-sasl-users") {
      auto content = storage::read_file(v);
      if (!content) return content.error();
      if (!zk::parse_jaas_users(*content, &o.zk.sasl_users))
        return make_error(Errc::kInvalid, "--zk-sasl-users: no Server section with user_NAME=\"password\" in " + v);
    } else if (name == "4lw-whitelist") {
      o.zk.four_letter_whitelist.clear();
      std::stringstream ss(v);
      std::string w;
      while (std::getline(ss, w, ',')) {
        while (!w.empty() && w.front() == ' ') w.erase(0, 1);
        while (!w.empty() && w.back() == ' ') w.pop_back();
        if (!w.empty()) o.zk.four_letter_whitelist.insert(w);
      }
    } else if (name == "max-frame-bytes") { auto r = num(1024, 1 << 30); if (!r) return r.error(); o.zk.max_frame_bytes = uint32_t(*r); }
    else if (name == "max-connections") { auto r = num(1, 1000000); if (!r) return r.error(); o.zk.max_connections = uint32_t(*r); }
    else if (name == "tick-ms") { auto r = num(1, 600000); if (!r) return r.error(); o.zk.tick_ms = int32_t(*r); }
    else if (name == "min-session-timeout-ms") { auto r = num(1, 1 << 30); if (!r) return r.error(); o.zk.min_session_timeout_ms = int32_t(*r); *min_set = true; }
    else if (name == "max-session-timeout-ms") { auto r = num(1, 1 << 30); if (!r) return r.error(); o.zk.max_session_timeout_ms = int32_t(*r); *max_set = true; }
    else if (name == "snapshot-entries") { auto r = num(1, int64_t(1) << 40); if (!r) return r.error(); n.snapshot_every_entries = uint64_t(*r); }
    else if (name == "snapshot-log-bytes") { auto r = num(1, int64_t(1) << 50); if (!r) return r.error(); n.snapshot_every_bytes = uint64_t(*r); }
    else if (name == "wal-segment-bytes") { auto r = num(4096, int64_t(1) << 40); if (!r) return r.error(); n.wal_segment_bytes = uint64_t(*r); }
    else if (name == "reap-interval-ms") { auto r = num(100, int64_t(1) << 40); if (!r) return r.error(); n.reap_interval_ms = *r; }
    else if (name == "no-fsync") n.fsync = v == "false";
    else if (name == "snapshot-blocking") n.snapshot_blocking = v != "false";
    else if (name == "log-format") {
      if (v != "text" && v != "json") return make_error(Errc::kInvalid, "--log-format: expected text|json");
      o.log_format = v;
    }
    else if (name == "log-level") {
      if (v != "debug" && v != "info" && v != "warn" && v != "error")
        return make_error(Errc::kInvalid, "--log-level: expected debug|info|warn|error");
      o.log_level = v;
    } else if (name == "config") {
      // handled by the caller
    } else {
      return make_error(Errc::kInvalid, "unknown option --" + name);
    }
  }
  return Status::Ok();
}

Result<std::map<std::string, std::string>> read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(Errc::kIo, "cannot read config file " + path);
  std::map<std::string, std::string> kv;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    auto trim = [](std::string s) {
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
      return s;
    };
    line = trim(line);
    if (line.empty()) continue;
    auto eq = line.find('=');
    std::string key = trim(eq == std::string::npos ? line : line.substr(0, eq));
    std::string value = eq == std::string::npos ? "true" : trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    const Flag* f = find_flag(key);
    if (!f || key == "config" || key == "help")
      return make_error(Errc::kInvalid, path + ":" + std::to_string(lineno) + ": unknown setting '" + key + "'");
    kv[key] = value;
  }
  return kv;
}

}  // namespace

std::string agent_usage() {
  std::string out =
      "Usage: conclave agent [options]\n\n"
      "Runs a Conclave node: the ZooKeeper protocol on --zk-port and the HTTP API on --http-port.\n\n"
      "Options:\n";
  for (const auto& f : kFlags) {
    std::string flag = std::string("  --") + f.name + (f.takes_value ? " VALUE" : "");
    if (flag.size() < 32) flag.resize(32, ' ');
    else flag += "\n" + std::string(32, ' ');
    out += flag + f.help + "\n";
  }
  return out;
}

Result<AgentOptions> parse_agent_args(const std::vector<std::string>& args) {
  std::map<std::string, std::string> cli;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.rfind("--", 0) != 0) return make_error(Errc::kInvalid, "unexpected argument '" + a + "'");
    a = a.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    const Flag* f = find_flag(a);
    if (!f) return make_error(Errc::kInvalid, "unknown option --" + a + " (see conclave agent --help)");
    if (f->takes_value && !has_value) {
      if (i + 1 >= args.size()) return make_error(Errc::kInvalid, "--" + a + " needs a value");
      value = args[++i];
    }
    if (!f->takes_value) value = has_value ? value : "true";
    cli[a] = value;
  }
  AgentOptions o;
  bool min_set = false, max_set = false;
  if (auto it = cli.find("config"); it != cli.end()) {
    auto file = read_config_file(it->second);
    if (!file) return file.error();
    auto st = apply(o, *file, &min_set, &max_set);
    if (!st) return st.error();
  }
  auto st = apply(o, cli, &min_set, &max_set);
  if (!st) return st.error();
  if (o.help) return o;
  if (!min_set) o.zk.min_session_timeout_ms = 2 * o.zk.tick_ms;
  if (!max_set) o.zk.max_session_timeout_ms = 20 * o.zk.tick_ms;
  if (o.zk.min_session_timeout_ms > o.zk.max_session_timeout_ms)
    return make_error(Errc::kInvalid, "min session timeout is larger than max session timeout");
  if (o.dev) {
    if (!cli.count("4lw-whitelist")) o.zk.four_letter_whitelist = {"*"};
    if (!cli.count("zk-reconfig")) o.zk.reconfig_enabled = true;
    if (o.node.data_dir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "conclave-dev-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) return make_error(Errc::kIo, "cannot create a temp dir for --dev");
      o.node.data_dir = tmpl;
    }
  }
  if (o.node.data_dir.empty()) return make_error(Errc::kInvalid, "--data-dir is required (or use --dev)");
  if (!o.node.peers.empty() && !o.node.peers.count(uint64_t(o.node.node_id)) && !o.node.learner)
    return make_error(Errc::kInvalid, "--peers must include this node's --node-id");
  if (!o.node.peers.empty() && o.node.peers.count(uint64_t(o.node.node_id))) {
    // This node's own raft port comes from --peers unless given explicitly.
    const std::string& self = o.node.peers[uint64_t(o.node.node_id)];
    if (!cli.count("raft-port")) o.node.raft_port = uint16_t(std::stoi(self.substr(self.rfind(':') + 1)));
  }
  o.node.session_relay_ms = std::max(1, o.zk.tick_ms / 2);  // followers relay liveness twice a tick, as ZooKeeper's
  return o;
}

}  // namespace conclave::cli
