// Subcommands of `conclave` that talk to a node's HTTP API, with the output shapes and exit codes
// of the Consul CLI commands they mirror (`consul kv ...`, `consul lock`, `consul catalog`,
// `consul services`, `consul members`, `consul watch`).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace conclave::cli {

/// Options as Consul's CLI takes them: `-name=value` or `-flag` (one or two dashes) before the
/// positional arguments; `-http-addr` picks the node.
struct CommandOpts {
  std::string addr;
  std::map<std::string, std::string> flags;  // name -> value ("" for bare flags)
  std::vector<std::string> args;
};
CommandOpts parse_command_opts(const std::vector<std::string>& in);

/// `conclave kv get|put|delete|export|import` (args after "kv").
int run_kv(std::vector<std::string> args);
/// `conclave lock [options] PREFIX CHILD...` (args after "lock").
int run_lock(std::vector<std::string> args);
/// `conclave catalog services|nodes` (args after "catalog").
int run_catalog(std::vector<std::string> args);
/// `conclave services register|deregister` (args after "services").
int run_services(std::vector<std::string> args);
/// `conclave members`.
int run_members(std::vector<std::string> args);
/// `conclave watch -type=... [CMD...]`.
int run_watch(std::vector<std::string> args);

}  // namespace conclave::cli
