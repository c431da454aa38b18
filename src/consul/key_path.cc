#include "consul/key_path.h"

#include "state/path.h"

namespace conclave::consul {

std::optional<std::string> key_to_path(std::string_view key, std::string* error) {
  while (!key.empty() && key.back() == '/') key.remove_suffix(1);
  if (key.empty()) {
    *error = "Missing key name";
    return std::nullopt;
  }
  std::string path = "/" + std::string(key);
  if (!state::valid_path(path)) {
    *error = "Invalid key name \"" + std::string(key) +
             "\": empty segments, '.' or '..' segments and control characters cannot be stored";
    return std::nullopt;
  }
  return path;
}

bool is_reserved_key(std::string_view key) {
  return key == "zookeeper" || key.substr(0, 10) == "zookeeper/";
}

std::optional<PrefixScan> prefix_to_scan(std::string_view prefix, std::string* error) {
  auto slash = prefix.rfind('/');
  PrefixScan s;
  if (slash == std::string_view::npos) {
    s.dir = "/";
    s.fragment = std::string(prefix);
  } else {
    auto dir = key_to_path(prefix.substr(0, slash), error);
    if (!dir) return std::nullopt;
    s.dir = *dir;
    s.fragment = std::string(prefix.substr(slash + 1));
  }
  if (s.fragment.find('\0') != std::string::npos) {
    *error = "Invalid key prefix";
    return std::nullopt;
  }
  return s;
}

}  // namespace conclave::consul
