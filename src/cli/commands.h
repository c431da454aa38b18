// Subcommands of `conclave` that talk to a node's HTTP API, with the output shapes and exit codes
// of the Consul CLI commands they mirror (`consul kv ...`, `consul lock`).
#pragma once

#include <string>
#include <vector>

namespace conclave::cli {

/// `conclave kv get|put|delete|export|import` (args after "kv").
int run_kv(std::vector<std::string> args);
/// `conclave lock [options] PREFIX CHILD...` (args after "lock").
int run_lock(std::vector<std::string> args);

}  // namespace conclave::cli
