// Subcommands of `conclave` that talk to a node's HTTP API, with the output shapes and exit codes
// of the Consul CLI commands they mirror (`consul kv ...`, `consul lock`, `consul catalog`,
// `consul services`, `consul members`, `consul watch`).
#pragma once

#include <map>

#include "common/json.h"
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

/// Helpers the subcommands share (cli/registry.cc).
/// Prints "Error MSG" to stderr and returns 1, as Consul's CLI does.
int fail(const std::string& msg);
/// GETs `path` from the node and parses the JSON reply; false with `error` set otherwise.
bool get_json(const CommandOpts& o, const std::string& path, json::value* out, std::string* error,
              std::string* index = nullptr, int timeout_ms = 10000);
/// A JSON scalar as text ("" for null).
std::string str(const json::value& v);
/// Columns padded to their widest cell, two spaces apart (Consul's columnize).
void print_table(const std::vector<std::vector<std::string>>& rows);

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
/// `conclave trace ID` (a trace as a timeline) and `conclave trace -recent` (the slowest recent traces).
int run_trace(std::vector<std::string> args);

}  // namespace conclave::cli
