// Command-line flags and the optional config file for `conclave agent`.
// The config file holds one `name = value` per line using the flag names without dashes
// (e.g. `zk-port = 2181`); flags given on the command line win over the file.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "server/node.h"
#include "zk/server.h"

namespace conclave::cli {

struct AgentOptions {
  server::NodeConfig node;
  zk::ZkOptions zk;         // the ZooKeeper front-end
  uint16_t zk_port = 2181;
  int dns_port = 8600;            // UDP and TCP; -1: no DNS
  std::string dns_domain = "consul";
  bool dev = false;
  bool help = false;
  std::string log_level = "info";
  std::string log_format = "text";
};

/// Parses `conclave agent` arguments (argv after the subcommand).
Result<AgentOptions> parse_agent_args(const std::vector<std::string>& args);
std::string agent_usage();

}  // namespace conclave::cli
