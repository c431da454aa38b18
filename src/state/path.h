// ZooKeeper path rules (PathUtils.validatePath) and helpers to split paths.
#pragma once

#include <string>
#include <string_view>

namespace conclave::state {

/// True when ZooKeeper's PathUtils.validatePath accepts `path`. A sequential create is checked
/// as `path + "1"`, as ZooKeeper does, so "/queue/" is a valid sequential prefix.
bool valid_path(std::string_view path, bool sequential = false);

/// "/a/b" -> "/a", "/a" -> "/", "/" -> "".
inline std::string_view parent_of(std::string_view path) {
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos || path.size() <= 1) return {};
  return slash == 0 ? std::string_view("/") : path.substr(0, slash);
}

/// "/a/b" -> "b".
inline std::string_view basename_of(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

inline std::string child_path(std::string_view parent, std::string_view name) {
  std::string out(parent);
  if (out != "/") out += '/';
  out += name;
  return out;
}

}  // namespace conclave::state
