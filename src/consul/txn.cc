// PUT /v1/txn: Consul's transaction endpoint for KV, Node, Service and Check operations,
// all-or-nothing in one log entry.
// Results and errors have Consul's shapes: 200 {"Results": [...], "Errors": null} or
// 409 {"Results": null, "Errors": [{"OpIndex": i, "What": "..."}]}.
#include <fmt/format.h>

#include "common/digest.h"
#include "consul/api.h"
#include "consul/key_path.h"
#include "consul/registry_json.h"

namespace conclave::consul {
namespace {

struct VerbName {
  const char* name;
  state::KvVerb verb;
};
constexpr VerbName kVerbs[] = {
    {"set", state::KvVerb::kSet},
    {"cas", state::KvVerb::kCas},
    {"lock", state::KvVerb::kLock},
    {"unlock", state::KvVerb::kUnlock},
    {"get", state::KvVerb::kGet},
    {"get-tree", state::KvVerb::kGetTree},
    {"check-index", state::KvVerb::kCheckIndex},
    {"check-session", state::KvVerb::kCheckSession},
    {"check-not-exists", state::KvVerb::kCheckNotExists},
    {"delete", state::KvVerb::kDelete},
    {"delete-tree", state::KvVerb::kDeleteTree},
    {"delete-cas", state::KvVerb::kDeleteCas},
};

struct TxnOp {
  state::KvOp op;
  std::string key;
  std::string verb;
  std::string session_uuid;
  bool catalog = false;  // a Node, Service or Check op: `catalog_op` instead of `op`
  state::CatalogTxnOp catalog_op;
};

constexpr std::pair<const char*, state::CatalogVerb> kCatalogVerbs[] = {
    {"set", state::CatalogVerb::kSet}, {"cas", state::CatalogVerb::kCas}, {"get", state::CatalogVerb::kGet},
    {"delete", state::CatalogVerb::kDelete}, {"delete-cas", state::CatalogVerb::kDeleteCas}};

/// Parses a txn "Node", "Service" or "Check" op (api.TxnNodeOp, TxnServiceOp, TxnCheckOp).
std::string parse_catalog_op(const json::object& o, const char* kind, state::CatalogTxnOp* out) {
  const json::value* verb = field(o, "Verb");
  if (!verb || !verb->is_string()) return "missing Verb";
  bool known = false;
  for (const auto& [name, v] : kCatalogVerbs)
    if (verb->as_string() == name) {
      out->verb = v;
      known = true;
    }
  if (!known) return fmt::format("unknown {} verb \"{}\"", kind, std::string(verb->as_string()));
  auto index_of = [&](const json::object& rec) {
    const json::value* mi = field(rec, "ModifyIndex");
    out->index = mi && mi->is_number() ? static_cast<int64_t>(mi->to_number<double>()) : 0;
  };
  std::string kind_s(kind);
  if (kind_s == "Node") {
    out->target = state::CatalogTarget::kNode;
    const json::value* n = field(o, "Node");
    if (!n || !n->is_object()) return "Node must be an object";
    index_of(n->as_object());
    return parse_catalog_node(n->as_object(), &out->node);
  }
  if (kind_s == "Service") {
    out->target = state::CatalogTarget::kService;
    const json::value* node = field(o, "Node");
    const json::value* svc = field(o, "Service");
    if (!node || !node->is_string() || node->as_string().empty()) return "Must provide node";
    if (!svc || !svc->is_object()) return "Service must be an object";
    out->node_name = std::string(node->as_string());
    index_of(svc->as_object());
    return parse_catalog_service(svc->as_object(), &out->service);
  }
  out->target = state::CatalogTarget::kCheck;
  const json::value* chk = field(o, "Check");
  if (!chk || !chk->is_object()) return "Check must be an object";
  index_of(chk->as_object());
  return parse_catalog_check(chk->as_object(), &out->check, &out->node_name);
}

json::object error_row(size_t i, std::string what) {
  return json::object{{"OpIndex", i}, {"What", std::move(what)}};
}

net::HttpResponse errors_response(json::array errors) {
  return json_response(json::object{{"Results", nullptr}, {"Errors", std::move(errors)}}, 409);
}

std::string failure_text(const TxnOp& t, state::Code code) {
  using state::KvVerb;
  switch (code) {
    case state::Code::kNoNode: return fmt::format("key \"{}\" doesn't exist", t.key);
    case state::Code::kNodeExists: return fmt::format("key \"{}\" exists", t.key);
    case state::Code::kSessionExpired: return fmt::format("invalid session \"{}\"", t.session_uuid);
    case state::Code::kNoAuth: return fmt::format("Permission denied: a znode ACL forbids this operation on \"{}\"", t.key);
    case state::Code::kNoChildrenForEphemerals:
      return fmt::format("failed to {} key \"{}\": a parent is a ZooKeeper ephemeral znode", t.verb, t.key);
    case state::Code::kBadVersion:
      switch (t.op.verb) {
        case KvVerb::kCas: return fmt::format("failed to set key \"{}\", index is stale", t.key);
        case KvVerb::kDeleteCas: return fmt::format("failed to delete key \"{}\", index is stale", t.key);
        case KvVerb::kLock: return fmt::format("failed to lock key \"{}\", lock is already held", t.key);
        case KvVerb::kUnlock:
          return fmt::format("failed to unlock key \"{}\", lock isn't held, or is held by another session", t.key);
        case KvVerb::kCheckIndex: return fmt::format("current modify index for key \"{}\" != {}", t.key, t.op.index);
        case KvVerb::kCheckSession:
          return fmt::format("current session for key \"{}\" != \"{}\"", t.key, t.session_uuid);
        default: break;
      }
      [[fallthrough]];
    default: return fmt::format("failed to {} key \"{}\"", t.verb, t.key);
  }
}

}  // namespace

void ConsulApi::txn(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse err;
  if (!check_datacenter(req, datacenter_, &err)) return respond(std::move(err));
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  if (ec) return respond(text_error(400, "Failed to parse body: " + ec.message()));
  if (!body.is_array()) return respond(text_error(400, "Failed to parse body: a transaction is a JSON array of operations"));
  const auto& ops = body.as_array();
  if (ops.size() > kMaxTxnOps)
    return respond(text_error(413, fmt::format("Transaction contains too many operations ({} > {})", ops.size(), kMaxTxnOps)));
  std::vector<TxnOp> txn;
  json::array errors;
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto* o = ops[i].if_object();
    const json::value* kv = o ? field(*o, "KV") : nullptr;
    if (!kv || !kv->is_object()) {
      if (o && field(*o, "Session"))
        return respond(text_error(400, "Failed to parse body: Session operations are not supported in transactions"));
      const char* kind = nullptr;
      for (const char* k : {"Node", "Service", "Check"})
        if (o && field(*o, k) && field(*o, k)->is_object() && !kind) kind = k;
      if (!kind)
        return respond(text_error(400, "Failed to parse body: each operation must be an object with a \"KV\", "
                                       "\"Node\", \"Service\" or \"Check\" member"));
      TxnOp t;
      t.catalog = true;
      t.verb = kind;
      if (auto e = parse_catalog_op(field(*o, kind)->as_object(), kind, &t.catalog_op); !e.empty()) {
        errors.push_back(error_row(i, e));
        continue;
      }
      txn.push_back(std::move(t));
      continue;
    }
    const auto& e = kv->as_object();
    auto str = [&](const char* name, std::string* out) {
      const json::value* v = field(e, name);
      if (!v || v->is_null()) return true;
      if (!v->is_string()) return false;
      *out = std::string(v->as_string());
      return true;
    };
    auto num = [&](const char* name, uint64_t* out) {
      const json::value* v = field(e, name);
      if (!v || v->is_null()) return true;
      if (v->is_uint64()) *out = v->as_uint64();
      else if (v->is_int64() && v->as_int64() >= 0) *out = static_cast<uint64_t>(v->as_int64());
      else return false;
      return true;
    };
    TxnOp t;
    std::string value64;
    uint64_t flags = 0, index = 0;
    if (!str("Verb", &t.verb) || !str("Key", &t.key) || !str("Value", &value64) || !str("Session", &t.session_uuid) ||
        !num("Flags", &flags) || !num("Index", &index))
      return respond(text_error(400, fmt::format("Failed to parse body: operation {} has a field of the wrong type", i)));
    bool known = false;
    for (const auto& v : kVerbs)
      if (t.verb == v.name) {
        t.op.verb = v.verb;
        known = true;
      }
    if (!known) {
      errors.push_back(error_row(i, fmt::format("unknown KV verb \"{}\"", t.verb)));
      continue;
    }
    if (!base64_decode(value64, &t.op.value))
      return respond(text_error(400, fmt::format("Failed to parse body: operation {} Value is not base64", i)));
    if (t.op.value.size() > kMaxValueBytes)
      return respond(text_error(413, fmt::format("Value for key \"{}\" is too large ({} > {} bytes)", t.key,
                                                 t.op.value.size(), kMaxValueBytes)));
    t.op.flags = flags;
    t.op.index = static_cast<int64_t>(index);
    std::string error;
    bool tree_op = t.op.verb == state::KvVerb::kDeleteTree || t.op.verb == state::KvVerb::kGetTree;
    if (tree_op) {
      auto scan = prefix_to_scan(t.key, &error);
      if (!scan) {
        errors.push_back(error_row(i, error));
        continue;
      }
      t.op.path = (scan->dir == "/" ? "" : scan->dir) + "/" + scan->fragment;
    } else {
      auto path = key_to_path(t.key, &error);
      if (!path) {
        errors.push_back(error_row(i, error));
        continue;
      }
      t.op.path = *path;
    }
    bool writes = t.op.verb != state::KvVerb::kGet && t.op.verb != state::KvVerb::kGetTree &&
                  t.op.verb != state::KvVerb::kCheckIndex && t.op.verb != state::KvVerb::kCheckSession &&
                  t.op.verb != state::KvVerb::kCheckNotExists;
    if (writes && is_reserved_key(t.key)) {
      errors.push_back(error_row(i, "Permission denied: zookeeper/ is reserved for ZooKeeper"));
      continue;
    }
    if (!t.session_uuid.empty()) {
      t.op.session = replica_.tree().session_by_uuid(t.session_uuid);
      if (t.op.session == 0) {
        errors.push_back(error_row(i, fmt::format("invalid session \"{}\"", t.session_uuid)));
        continue;
      }
    } else if (t.op.verb == state::KvVerb::kLock || t.op.verb == state::KvVerb::kUnlock) {
      errors.push_back(error_row(i, "missing session"));
      continue;
    }
    txn.push_back(std::move(t));
  }
  if (!errors.empty()) return respond(errors_response(std::move(errors)));
  if (txn.empty()) return respond(json_response(json::object{{"Results", nullptr}, {"Errors", nullptr}}));
  state::Command cmd;
  cmd.kind = state::CommandKind::kTxn;
  cmd.multi = true;
  for (const auto& t : txn) {
    if (t.catalog) cmd.ops.push_back(t.catalog_op);
    else cmd.ops.push_back(t.op);
  }
  propose(std::move(cmd), std::move(respond), [this, txn = std::move(txn)](const state::ApplyResult& r) -> net::HttpResponse {
    if (r.code != state::Code::kOk) {
      json::array errs;
      for (size_t i = 0; i < r.results.size() && i < txn.size(); ++i)
        if (r.results[i].code != state::Code::kOk && r.results[i].code != state::Code::kRuntimeInconsistency) {
          errs.push_back(error_row(i, txn[i].catalog ? r.results[i].error : failure_text(txn[i], r.results[i].code)));
          break;
        }
      if (errs.empty()) errs.push_back(error_row(0, "transaction failed"));
      return errors_response(std::move(errs));
    }
    json::array results;
    for (size_t i = 0; i < txn.size() && i < r.results.size(); ++i) {
      for (const auto& rec : r.results[i].catalog) {
        state::Catalog::NodeEntry n;
        n.spec = rec.node;
        if (rec.target == state::CatalogTarget::kNode) {
          n.create_index = rec.create_index;
          n.modify_index = rec.modify_index;
          results.push_back(json::object{{"Node", node_json(n, datacenter_)}});
        } else if (rec.target == state::CatalogTarget::kService) {
          state::Catalog::Service s{rec.service, rec.create_index, rec.modify_index};
          results.push_back(json::object{{"Service", agent_service_json(s, datacenter_, true)}});
        } else {
          if (const auto* now = replica_.tree().catalog().node(rec.node_name)) n.services = now->services;
          state::Catalog::Check c{rec.check, rec.create_index, rec.modify_index};
          results.push_back(json::object{{"Check", check_json(n, c)}});
        }
      }
      if (txn[i].catalog) continue;
      bool with_value = txn[i].op.verb == state::KvVerb::kGet || txn[i].op.verb == state::KvVerb::kGetTree;
      for (const auto& kv : r.results[i].kv) results.push_back(json::object{{"KV", kv_read_json(kv, with_value)}});
    }
    return json_response(json::object{{"Results", std::move(results)}, {"Errors", nullptr}});
  });
}

}  // namespace conclave::consul
