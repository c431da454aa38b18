// One namespace, two views: how a Consul key names a znode (docs/consul.md has the table).
//
//   key "app/config"  <-> znode "/app/config"
//   key "app/"        -> the znode "/app" (a key ending in '/' is the same entry as without it)
//   empty segments ("a//b", a leading '/'), "." and ".." segments and characters ZooKeeper paths
//   refuse are invalid keys (400); keys under "zookeeper/" are reserved for ZooKeeper (403 on write).
// A key prefix (recurse, keys, delete-tree) is a string prefix, as in Consul: it becomes a
// directory znode and a name fragment ("app/co" -> "/app" and children starting with "co").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace conclave::consul {

/// The znode path of `key`, or nullopt with `error` set when the key cannot be stored.
std::optional<std::string> key_to_path(std::string_view key, std::string* error);
/// The Consul key of a znode path ("/app/config" -> "app/config").
inline std::string path_to_key(std::string_view path) { return std::string(path.substr(1)); }
/// Writes may not touch the ZooKeeper system subtree.
bool is_reserved_key(std::string_view key);

struct PrefixScan {
  std::string dir;       // znode whose children may match
  std::string fragment;  // the children's names must start with this
};
std::optional<PrefixScan> prefix_to_scan(std::string_view prefix, std::string* error);

}  // namespace conclave::consul
