// /v1/kv/<key>: GET (recurse, keys, separator, raw), PUT (flags, cas, acquire, release), DELETE
// (recurse, cas). Consul's KV endpoint (agent/kvs_endpoint.go) is the reference.
#include <algorithm>

#include "consul/api.h"
#include "consul/key_path.h"
#include "state/acl.h"

namespace conclave::consul {
namespace {

/// Consul requests carry no ZooKeeper identity: they act as world:anyone.
bool readable(const state::DataTree& tree, const state::Node& n) {
  return state::acl_allows(tree.acl_of(n), state::perms::kRead, {});
}

std::string key_of(const net::HttpRequest& req) {
  constexpr std::string_view kPrefix = "/v1/kv/";
  return req.path.size() > kPrefix.size() ? req.path.substr(kPrefix.size()) : std::string();
}

/// The znode paths of every key matching `scan`, sorted as Consul lists them.
std::vector<std::string> scan_keys(const state::DataTree& tree, const PrefixScan& scan) {
  std::vector<std::string> all, out;
  tree.kv_scan(scan.dir, scan.fragment, &all);
  for (auto& p : all)
    if (readable(tree, *tree.find(p))) out.push_back(std::move(p));
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return path_to_key(a) < path_to_key(b);
  });
  return out;
}

std::string watch_prefix(const PrefixScan& scan) {
  if (scan.fragment.empty()) return scan.dir;
  return (scan.dir == "/" ? "/" : scan.dir + "/") + scan.fragment;
}

}  // namespace

void ConsulApi::kv(const net::HttpRequest& req, Respond respond) {
  if (req.method == "PUT") return kv_put(req, std::move(respond));
  if (req.method == "DELETE") return kv_delete(req, std::move(respond));
  kv_get(req, std::move(respond));
}

void ConsulApi::kv_get(const net::HttpRequest& req, Respond respond) {
  QueryOptions opts;
  net::HttpResponse err;
  if (!parse_query_options(req, datacenter_, &opts, &err)) return respond(std::move(err));
  std::string key = key_of(req);
  std::string error;
  const bool recurse = req.has_query("recurse"), keys = req.has_query("keys");
  if (recurse || keys) {
    auto scan = prefix_to_scan(key, &error);
    if (!scan) return respond(text_error(400, error));
    std::string separator = req.query.count("separator") ? req.query.at("separator") : "";
    auto read = [this, scan = *scan, keys, key, separator]() {
      ReadResult r;
      r.index = prefix_index(scan.dir, scan.fragment);
      auto paths = scan_keys(replica_.tree(), scan);
      if (paths.empty()) {
        r.response = text_error(404, "");
        return r;
      }
      json::array a;
      if (keys) {
        std::string last;
        for (const auto& p : paths) {
          std::string k = path_to_key(p);
          if (!separator.empty()) {
            auto pos = k.find(separator, key.size());
            if (pos != std::string::npos) k = k.substr(0, pos + separator.size());
          }
          if (k == last) continue;
          last = k;
          a.emplace_back(k);
        }
      } else {
        for (const auto& p : paths) a.emplace_back(kv_entry_json(p, true));
      }
      r.response = json_response(a);
      return r;
    };
    return serve_read(req, opts, watch_prefix(*scan), std::move(read), std::move(respond));
  }
  auto path = key_to_path(key, &error);
  if (!path) return respond(text_error(400, error));
  const bool raw = req.has_query("raw");
  auto read = [this, path = *path, raw]() {
    ReadResult r;
    r.index = global_index();  // Consul answers a single-key read with the KV table's index
    const auto& tree = replica_.tree();
    const state::Node* n = tree.find(path);
    if (!n || !tree.is_kv_key(*n)) {
      r.response = text_error(404, "");
      return r;
    }
    if (!readable(tree, *n)) {
      r.response = text_error(403, "Permission denied: the znode's ACL does not let world:anyone read it");
      return r;
    }
    if (raw) {
      r.response.content_type = "application/octet-stream";
      r.response.body = std::string(n->data());
    } else {
      r.response = json_response(json::array{kv_entry_json(path, true)});
    }
    return r;
  };
  serve_read(req, opts, *path, std::move(read), std::move(respond));
}

void ConsulApi::kv_put(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse err;
  if (!check_datacenter(req, datacenter_, &err)) return respond(std::move(err));
  std::string key = key_of(req);
  std::string error;
  auto path = key_to_path(key, &error);
  if (!path) return respond(text_error(400, error));
  if (is_reserved_key(key)) return respond(text_error(403, "Permission denied: zookeeper/ is reserved for ZooKeeper"));
  if (req.body.size() > kMaxValueBytes)
    return respond(text_error(413, "Request body(" + std::to_string(req.body.size()) +
                                       " bytes) too large, max size: " + std::to_string(kMaxValueBytes) + " bytes."));
  state::KvOp op;
  op.verb = state::KvVerb::kSet;
  op.path = *path;
  op.value = req.body;
  if (auto it = req.query.find("flags"); it != req.query.end()) {
    auto v = parse_uint(it->second);
    if (!v) return respond(text_error(400, "Invalid flags"));
    op.flags = *v;
  }
  std::string session_uuid;
  for (const char* verb : {"acquire", "release"}) {
    auto it = req.query.find(verb);
    if (it == req.query.end()) continue;
    if (!session_uuid.empty()) return respond(text_error(400, "Conflicting flags: acquire and release"));
    session_uuid = it->second;
    op.verb = std::string(verb) == "acquire" ? state::KvVerb::kLock : state::KvVerb::kUnlock;
    op.session = replica_.tree().session_by_uuid(session_uuid);
    if (op.session == 0) return respond(text_error(500, "invalid session \"" + session_uuid + "\""));
  }
  if (auto it = req.query.find("cas"); it != req.query.end()) {
    auto v = parse_uint(it->second);
    if (!v) return respond(text_error(400, "Invalid cas index"));
    if (op.verb != state::KvVerb::kSet) return respond(text_error(400, "Conflicting flags: cas with acquire or release"));
    op.verb = state::KvVerb::kCas;
    op.index = static_cast<int64_t>(*v);
  }
  state::Command cmd;
  cmd.kind = state::CommandKind::kTxn;
  cmd.multi = true;  // every KV command is all-or-nothing, even one op
  cmd.ops.push_back(std::move(op));
  propose(std::move(cmd), std::move(respond), [session_uuid](const state::ApplyResult& r) -> net::HttpResponse {
    net::HttpResponse out;
    switch (r.code) {
      case state::Code::kOk: out.body = "true"; break;
      case state::Code::kBadVersion: out.body = "false"; break;
      case state::Code::kSessionExpired: out = text_error(500, "invalid session \"" + session_uuid + "\""); break;
      case state::Code::kNoAuth: out = text_error(403, "Permission denied: a znode ACL forbids this write"); break;
      case state::Code::kNoChildrenForEphemerals:
        out = text_error(409, "A parent of this key is a ZooKeeper ephemeral znode, which cannot have children");
        break;
      default: out = text_error(400, "Invalid key"); break;
    }
    return out;
  });
}

void ConsulApi::kv_delete(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse err;
  if (!check_datacenter(req, datacenter_, &err)) return respond(std::move(err));
  std::string key = key_of(req);
  std::string error;
  state::KvOp op;
  if (is_reserved_key(key)) return respond(text_error(403, "Permission denied: zookeeper/ is reserved for ZooKeeper"));
  if (req.has_query("recurse")) {
    auto scan = prefix_to_scan(key, &error);
    if (!scan) return respond(text_error(400, error));
    op.verb = state::KvVerb::kDeleteTree;
    op.path = (scan->dir == "/" ? "" : scan->dir) + "/" + scan->fragment;
  } else {
    auto path = key_to_path(key, &error);
    if (!path) return respond(text_error(400, error));
    op.verb = state::KvVerb::kDelete;
    op.path = *path;
    if (auto it = req.query.find("cas"); it != req.query.end()) {
      auto v = parse_uint(it->second);
      if (!v) return respond(text_error(400, "Invalid cas index"));
      op.verb = state::KvVerb::kDeleteCas;
      op.index = static_cast<int64_t>(*v);
    }
  }
  state::Command cmd;
  cmd.kind = state::CommandKind::kTxn;
  cmd.multi = true;
  cmd.ops.push_back(std::move(op));
  propose(std::move(cmd), std::move(respond), [](const state::ApplyResult& r) -> net::HttpResponse {
    net::HttpResponse out;
    if (r.code == state::Code::kOk) out.body = "true";
    else if (r.code == state::Code::kBadVersion) out.body = "false";
    else if (r.code == state::Code::kNoAuth) out = text_error(403, "Permission denied: a znode ACL forbids this delete");
    else out = text_error(400, "Invalid key");
    return out;
  });
}

}  // namespace conclave::consul
