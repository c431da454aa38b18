// ZooKeeper's reconfig (op 16) request, turned into membership changes.
//
// ReconfigRequest { ustring joiningServers; ustring leavingServers; ustring newMembers;
// long curConfigId } as ZooKeeper 3.8's PrepRequestProcessor reads it:
//   - incremental (newMembers null): `leaving` is a comma-separated list of server ids, `joining`
//     a comma-separated list of `server.N=host:port:port[:role];[host:]clientport` lines; each
//     joiner needs all three ports, and its addresses may not be another server's;
//   - non-incremental (newMembers given): the whole new membership as such lines (separated by
//     commas or newlines); servers missing from it are removed;
//   - curConfigId: the configuration version the caller read (-1: any).
// Participants become Raft voters, observers Raft learners; the quorum address is the member's
// Raft address. Errors carry ZooKeeper's code (BadArguments for anything malformed).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "server/replica.h"
#include "state/cluster_config.h"

namespace conclave::zk {

struct ReconfigParse {
  state::Code code = state::Code::kOk;
  std::string message;
  server::MembershipRequest request;
};

/// `joining`, `leaving` and `members` are null when their optional is empty.
ReconfigParse parse_reconfig(const std::optional<std::string_view>& joining, const std::optional<std::string_view>& leaving,
                             const std::optional<std::string_view>& members, int64_t from_version,
                             const state::ClusterConfig& current);

}  // namespace conclave::zk
