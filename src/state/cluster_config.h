// The cluster's membership as ZooKeeper clients see it: the text of /zookeeper/config.
//
// ZooKeeper 3.5+ keeps its dynamic configuration in that znode, one line per server and the
// configuration's version last (QuorumMaj.toString()):
//
//   server.1=127.0.0.1:8301:8301:participant;127.0.0.1:2181
//   server.4=127.0.0.1:8304:8304:observer;127.0.0.1:2184
//   version=1a
//
// Here the members are the Raft configuration (participants are voters, observers learners);
// the quorum address is the member's Raft address (Conclave has no separate election port, so a
// member described by Conclave names its Raft port twice; a spec given to `reconfig` is kept as
// given). The version is the log index, in hex, of the last change to the text. The tree rewrites
// the znode when a membership change or a member's own announcement (its client address) is
// applied; see DataTree::apply and CommandKind::kMembership.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace conclave::state {

/// One `server.N=` line's value: host:port:port[:role][;[client_host:]client_port].
struct ServerSpec {
  std::string host;         // quorum (Raft) host, as given (IPv6 without brackets)
  uint16_t port = 0;        // quorum (Raft) port
  uint16_t election_port = 0;
  bool observer = false;    // role: participant (voter) or observer (learner)
  std::string client_host;  // "" when the line names no client address
  uint16_t client_port = 0;
  bool has_client() const { return client_port != 0; }
  /// "host:port" of the quorum address (brackets around IPv6 hosts).
  std::string quorum_address() const;
  /// "client_host:client_port", or "".
  std::string client_address() const;
  bool operator==(const ServerSpec&) const = default;
};

/// Parses a server spec as ZooKeeper's QuorumServer does; nullopt when malformed (unknown role,
/// missing or bad ports, more than one ';').
std::optional<ServerSpec> parse_server_spec(std::string_view spec);
/// ZooKeeper's QuorumServer.toString(): "host:port:eport:participant;chost:cport".
std::string render_server_spec(const ServerSpec& s);

/// Parses "server.N=SPEC" into its id and spec; nullopt when malformed.
std::optional<std::pair<uint64_t, ServerSpec>> parse_server_line(std::string_view line);

struct ClusterConfig {
  std::map<uint64_t, ServerSpec> servers;
  int64_t version = 0;
};

/// Reads /zookeeper/config's text (empty text: no servers, version 0). Unparseable lines are
/// skipped: the text is only ever written by render_cluster_config.
ClusterConfig parse_cluster_config(std::string_view text);
/// Lines sorted by id, then "version=<hex>" with no newline after it, as ZooKeeper writes it.
std::string render_cluster_config(const ClusterConfig& c);

/// A member's line when only its Raft address is known ("host:port"): the Raft port as both
/// quorum and election port, no client address. nullopt when the address is malformed.
std::optional<ServerSpec> spec_from_raft_address(std::string_view address, bool observer);

}  // namespace conclave::state
