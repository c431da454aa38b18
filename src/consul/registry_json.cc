#include "consul/registry_json.h"

#include <algorithm>
#include <cmath>

#include "consul/params.h"

namespace conclave::consul {
namespace {

constexpr int64_t kMinIntervalMs = 1000;  // Consul's checks.MinInterval

// Go-decoder helpers: absent or null leaves the output alone; a wrong type is an error.
template <class T, class Is, class As>
bool get_scalar(const json::object& o, std::string_view name, T* out, ParseError* err, const char* type, Is is,
                As as) {
  const json::value* v = field(o, name);
  if (!v || v->is_null()) return true;
  if (!(v->*is)()) {
    *err = "Request decode failed: " + std::string(name) + " must be " + type;
    return false;
  }
  *out = T(as(*v));
  return true;
}

bool get_string(const json::object& o, std::string_view name, std::string* out, ParseError* err) {
  return get_scalar(o, name, out, err, "a string", &json::value::is_string,
                    [](const json::value& v) { return std::string(v.as_string()); });
}

bool get_bool(const json::object& o, std::string_view name, bool* out, ParseError* err) {
  return get_scalar(o, name, out, err, "a boolean", &json::value::is_bool, [](const json::value& v) { return v.as_bool(); });
}

// A double that is a whole number within int64's range (casting any other is undefined).
bool whole_int64(double d) {
  return d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == std::trunc(d);
}

bool get_int(const json::object& o, std::string_view name, int64_t* out, ParseError* err) {
  const json::value* v = field(o, name);
  if (!v || v->is_null()) return true;
  if (v->is_int64()) *out = v->as_int64();
  else if (v->is_uint64() && v->as_uint64() <= INT64_MAX) *out = static_cast<int64_t>(v->as_uint64());
  else if (v->is_double() && whole_int64(v->as_double()))
    *out = static_cast<int64_t>(v->as_double());
  else {
    *err = "Request decode failed: " + std::string(name) + " must be an integer";
    return false;
  }
  return true;
}

bool get_strings(const json::object& o, std::string_view name, std::vector<std::string>* out, ParseError* err) {
  const json::value* v = field(o, name);
  if (!v || v->is_null()) return true;
  if (!v->is_array()) {
    *err = "Request decode failed: " + std::string(name) + " must be a list of strings";
    return false;
  }
  out->clear();
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) {
      *err = "Request decode failed: " + std::string(name) + " must be a list of strings";
      return false;
    }
    out->emplace_back(e.as_string());
  }
  return true;
}

bool get_map(const json::object& o, std::string_view name, std::vector<state::KeyValue>* out, ParseError* err) {
  const json::value* v = field(o, name);
  if (!v || v->is_null()) return true;
  if (!v->is_object()) {
    *err = "Request decode failed: " + std::string(name) + " must be an object of strings";
    return false;
  }
  out->clear();
  for (const auto& [k, x] : v->as_object()) {
    if (!x.is_string()) {
      *err = "Request decode failed: " + std::string(name) + " must be an object of strings";
      return false;
    }
    out->push_back({std::string(k), std::string(x.as_string())});
  }
  std::sort(out->begin(), out->end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return true;
}

/// A duration field: a Go duration string, or a number of nanoseconds (Go's time.Duration).
bool get_duration(const json::object& o, std::string_view name, int64_t* ms, ParseError* err) {
  const json::value* v = field(o, name);
  if (!v || v->is_null()) return true;
  std::optional<int64_t> d;
  if (v->is_string()) d = v->as_string().empty() ? std::optional<int64_t>(0) : parse_duration_ms(v->as_string());
  else if (v->is_number()) d = static_cast<int64_t>(v->to_number<double>() / 1e6);
  if (!d || *d < 0) {
    *err = "Request decode failed: " + std::string(name) + " is not a valid duration";
    return false;
  }
  *ms = *d;
  return true;
}

json::object kv_object(const std::vector<state::KeyValue>& kvs) {
  json::object o;
  for (const auto& kv : kvs) o[kv.key] = kv.value;
  return o;
}

json::array string_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

ParseError parse_weights(const json::object& o, state::ServiceSpec* s) {
  const json::value* w = field(o, "Weights");
  if (!w || w->is_null()) return {};
  if (!w->is_object()) return "Request decode failed: Weights must be an object";
  ParseError err;
  int64_t passing = 1, warning = 1;
  if (!get_int(w->as_object(), "Passing", &passing, &err) || !get_int(w->as_object(), "Warning", &warning, &err))
    return err;
  if (passing < 1) return "Passing must be greater than 0";
  if (warning < 0) return "Warning must be greater or equal than 0";
  s->weight_passing = static_cast<int32_t>(std::min<int64_t>(passing, INT32_MAX));
  s->weight_warning = static_cast<int32_t>(std::min<int64_t>(warning, INT32_MAX));
  return {};
}

ParseError parse_service_tagged(const json::object& o, state::ServiceSpec* s) {
  const json::value* t = field(o, "TaggedAddresses");
  if (!t || t->is_null()) return {};
  if (!t->is_object()) return "Request decode failed: TaggedAddresses must be an object";
  for (const auto& [tag, v] : t->as_object()) {
    if (!v.is_object()) return "Request decode failed: TaggedAddresses values must be {Address, Port}";
    state::TaggedAddress a;
    a.tag = std::string(tag);
    ParseError err;
    int64_t port = 0;
    if (!get_string(v.as_object(), "Address", &a.address, &err) || !get_int(v.as_object(), "Port", &port, &err))
      return err;
    a.port = static_cast<int32_t>(port);
    s->tagged_addresses.push_back(std::move(a));
  }
  std::sort(s->tagged_addresses.begin(), s->tagged_addresses.end(),
            [](const auto& a, const auto& b) { return a.tag < b.tag; });
  return {};
}

ParseError parse_status(std::string* status) {
  if (status->empty()) *status = std::string(state::kCritical);
  if (*status != state::kPassing && *status != state::kWarning && *status != state::kCritical)
    return "Status must be one of passing, warning or critical";
  return {};
}

}  // namespace

ParseError parse_check(const json::object& o, const std::string& service_id, const std::string& default_id,
                       const std::string& default_name, state::CheckSpec* out) {
  ParseError err;
  state::CheckSpec c;
  std::string id, check_id;
  if (!get_string(o, "ID", &id, &err) || !get_string(o, "CheckID", &check_id, &err) ||
      !get_string(o, "Name", &c.name, &err) || !get_string(o, "Notes", &c.notes, &err) ||
      !get_string(o, "Status", &c.status, &err) || !get_string(o, "ServiceID", &c.service_id, &err))
    return err;
  c.id = !check_id.empty() ? check_id : id;
  if (c.service_id.empty()) c.service_id = service_id;
  if (c.name.empty()) c.name = default_name;
  if (c.name.empty()) return "Missing check name";
  if (c.id.empty()) c.id = !default_id.empty() ? default_id : c.name;
  if (auto e = parse_status(&c.status); !e.empty()) return e;

  // Kinds Consul's agent refuses for remote registrations by default.
  for (const char* script : {"Args", "ScriptArgs", "Script"})
    if (const json::value* v = field(o, script); v && !v->is_null())
      return "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
             "'enable_local_script_checks' to true";
  if (const json::value* v = field(o, "DockerContainerID"); v && v->is_string() && !v->as_string().empty())
    return "Docker checks are disabled on this agent (they run scripts)";
  for (const char* other : {"GRPC", "H2PING", "OSService"})
    if (const json::value* v = field(o, other); v && v->is_string() && !v->as_string().empty())
      return std::string(other) + " checks are not supported by this agent";

  std::string http, method, body, tcp, udp, alias_service, alias_node;
  int64_t ttl = 0, interval = 0, timeout = 0, deregister_after = 0;
  int64_t success_before_passing = 0, failures_before_warning = 0, failures_before_critical = 0;
  bool tls_skip_verify = false;
  if (!get_string(o, "HTTP", &http, &err) || !get_string(o, "Method", &method, &err) ||
      !get_string(o, "Body", &body, &err) || !get_string(o, "TCP", &tcp, &err) || !get_string(o, "UDP", &udp, &err) ||
      !get_string(o, "AliasService", &alias_service, &err) || !get_string(o, "AliasNode", &alias_node, &err) ||
      !get_duration(o, "TTL", &ttl, &err) || !get_duration(o, "Interval", &interval, &err) ||
      !get_duration(o, "Timeout", &timeout, &err) ||
      !get_duration(o, "DeregisterCriticalServiceAfter", &deregister_after, &err) ||
      !get_int(o, "SuccessBeforePassing", &success_before_passing, &err) ||
      !get_int(o, "FailuresBeforeWarning", &failures_before_warning, &err) ||
      !get_int(o, "FailuresBeforeCritical", &failures_before_critical, &err) ||
      !get_bool(o, "TLSSkipVerify", &tls_skip_verify, &err))
    return err;
  json::object def;
  if (ttl > 0) {
    c.type = "ttl";
  } else if (!http.empty()) {
    c.type = "http";
  } else if (!tcp.empty()) {
    c.type = "tcp";
  } else if (!udp.empty()) {
    c.type = "udp";
  } else if (!alias_service.empty()) {
    c.type = "alias";
  } else {
    return "Invalid check: must provide TTL, or HTTP, TCP or UDP with an Interval, or AliasService";
  }
  if (c.type == "http" || c.type == "tcp" || c.type == "udp") {
    if (interval <= 0) return "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or Docker checks";
    interval = std::max(interval, kMinIntervalMs);
  }
  if (success_before_passing < 0 || failures_before_warning < 0 || failures_before_critical < 0)
    return "Check thresholds must not be negative";
  if (const json::value* h = field(o, "Header"); h && !h->is_null()) {
    if (!h->is_object()) return "Request decode failed: Header must be an object of string lists";
    for (const auto& [k, v] : h->as_object()) {
      if (!v.is_array()) return "Request decode failed: Header must be an object of string lists";
      for (const auto& x : v.as_array())
        if (!x.is_string()) return "Request decode failed: Header must be an object of string lists";
    }
    def["Header"] = *h;
  }
  if (!http.empty()) def["HTTP"] = http;
  if (!method.empty()) def["Method"] = method;
  if (!body.empty()) def["Body"] = body;
  if (tls_skip_verify) def["TLSSkipVerify"] = true;
  if (!tcp.empty()) def["TCP"] = tcp;
  if (!udp.empty()) def["UDP"] = udp;
  if (!alias_service.empty()) def["AliasService"] = alias_service;
  if (!alias_node.empty()) def["AliasNode"] = alias_node;
  if (ttl > 0) def["TTL"] = format_duration(ttl);
  if (interval > 0) def["Interval"] = format_duration(interval);
  if (timeout > 0) def["Timeout"] = format_duration(timeout);
  if (deregister_after > 0) def["DeregisterCriticalServiceAfter"] = format_duration(deregister_after);
  if (success_before_passing) def["SuccessBeforePassing"] = success_before_passing;
  if (failures_before_warning) def["FailuresBeforeWarning"] = failures_before_warning;
  if (failures_before_critical) def["FailuresBeforeCritical"] = failures_before_critical;
  c.definition = json::serialize(def);
  *out = std::move(c);
  return {};
}

ParseError parse_service_registration(const json::object& o, state::ServiceSpec* service,
                                      std::vector<state::CheckSpec>* checks) {
  ParseError err;
  state::ServiceSpec s;
  int64_t port = 0;
  if (!get_string(o, "ID", &s.id, &err) || !get_string(o, "Name", &s.name, &err) ||
      !get_string(o, "Kind", &s.kind, &err) || !get_strings(o, "Tags", &s.tags, &err) ||
      !get_string(o, "Address", &s.address, &err) || !get_int(o, "Port", &port, &err) ||
      !get_map(o, "Meta", &s.meta, &err) || !get_bool(o, "EnableTagOverride", &s.enable_tag_override, &err))
    return err;
  if (s.name.empty()) return "Missing service name";
  if (s.id.empty()) s.id = s.name;
  if (port < 0 || port > 65535) return "Invalid service port";
  s.port = static_cast<int32_t>(port);
  if (!s.kind.empty() && s.kind != "typical") return "Service kind '" + s.kind + "' is not supported by this agent";
  if (s.kind == "typical") s.kind.clear();
  if (auto e = parse_weights(o, &s); !e.empty()) return e;
  if (auto e = parse_service_tagged(o, &s); !e.empty()) return e;

  std::vector<const json::object*> defs;
  if (const json::value* c = field(o, "Check"); c && !c->is_null()) {
    if (!c->is_object()) return "Request decode failed: Check must be an object";
    defs.push_back(&c->as_object());
  }
  if (const json::value* cs = field(o, "Checks"); cs && !cs->is_null()) {
    if (!cs->is_array()) return "Request decode failed: Checks must be a list";
    for (const auto& c : cs->as_array()) {
      if (!c.is_object()) return "Request decode failed: Checks must be a list of objects";
      defs.push_back(&c.as_object());
    }
  }
  checks->clear();
  for (size_t i = 0; i < defs.size(); ++i) {
    std::string id = "service:" + s.id + (defs.size() > 1 ? ":" + std::to_string(i + 1) : "");
    state::CheckSpec c;
    if (auto e = parse_check(*defs[i], s.id, id, "Service '" + s.name + "' check", &c); !e.empty())
      return "Invalid check: " + e;
    c.service_id = s.id;
    checks->push_back(std::move(c));
  }
  *service = std::move(s);
  return {};
}

ParseError parse_catalog_node(const json::object& o, state::NodeSpec* out) {
  ParseError err;
  if (!get_string(o, "Node", &out->name, &err) || !get_string(o, "ID", &out->id, &err) ||
      !get_string(o, "Address", &out->address, &err) || !get_map(o, "TaggedAddresses", &out->tagged_addresses, &err) ||
      !get_map(o, "Meta", &out->meta, &err))
    return err;
  if (out->name.empty()) return "Must provide node";
  return {};
}

ParseError parse_catalog_service(const json::object& so, state::ServiceSpec* s) {
  ParseError err;
  int64_t port = 0;
  if (!get_string(so, "ID", &s->id, &err) || !get_string(so, "Service", &s->name, &err) ||
      !get_string(so, "Kind", &s->kind, &err) || !get_strings(so, "Tags", &s->tags, &err) ||
      !get_string(so, "Address", &s->address, &err) || !get_int(so, "Port", &port, &err) ||
      !get_map(so, "Meta", &s->meta, &err) || !get_bool(so, "EnableTagOverride", &s->enable_tag_override, &err))
    return err;
  if (s->name.empty()) return "Must provide service name (Service.Service)";
  if (s->id.empty()) s->id = s->name;
  if (port < 0 || port > 65535) return "Invalid service port";
  s->port = static_cast<int32_t>(port);
  if (auto e = parse_weights(so, s); !e.empty()) return e;
  return parse_service_tagged(so, s);
}

ParseError parse_catalog_check(const json::object& d, state::CheckSpec* c, std::string* node) {
  ParseError err;
  if (!get_string(d, "Node", node, &err) || !get_string(d, "CheckID", &c->id, &err) ||
      !get_string(d, "Name", &c->name, &err) || !get_string(d, "Status", &c->status, &err) ||
      !get_string(d, "Notes", &c->notes, &err) || !get_string(d, "Output", &c->output, &err) ||
      !get_string(d, "ServiceID", &c->service_id, &err) || !get_string(d, "Type", &c->type, &err))
    return err;
  if (c->id.empty()) c->id = c->name;
  if (c->id.empty()) return "Must provide check ID or name";
  if (c->name.empty()) c->name = c->id;
  if (auto e = parse_status(&c->status); !e.empty()) return e;
  if (const json::value* def = field(d, "Definition"); def && def->is_object() && !def->as_object().empty())
    c->definition = json::serialize(*def);
  return {};
}

ParseError parse_catalog_register(const json::object& o, state::CatalogRegisterOp* out) {
  ParseError err;
  state::CatalogRegisterOp op;
  if (!get_string(o, "Node", &op.node.name, &err) || !get_string(o, "ID", &op.node.id, &err) ||
      !get_string(o, "Address", &op.node.address, &err) || !get_map(o, "TaggedAddresses", &op.node.tagged_addresses, &err) ||
      !get_map(o, "NodeMeta", &op.node.meta, &err) || !get_bool(o, "SkipNodeUpdate", &op.skip_node_update, &err))
    return err;
  if (op.node.name.empty()) return "Must provide node";
  if (op.node.address.empty() && !op.skip_node_update) return "Must provide address";
  if (const json::value* sv = field(o, "Service"); sv && !sv->is_null()) {
    if (!sv->is_object()) return "Request decode failed: Service must be an object";
    if (auto e = parse_catalog_service(sv->as_object(), &op.service); !e.empty()) return e;
    op.has_service = true;
  }
  std::vector<const json::object*> defs;
  if (const json::value* c = field(o, "Check"); c && !c->is_null()) {
    if (!c->is_object()) return "Request decode failed: Check must be an object";
    defs.push_back(&c->as_object());
  }
  if (const json::value* cs = field(o, "Checks"); cs && !cs->is_null()) {
    if (!cs->is_array()) return "Request decode failed: Checks must be a list";
    for (const auto& c : cs->as_array()) {
      if (!c.is_object()) return "Request decode failed: Checks must be a list of objects";
      defs.push_back(&c.as_object());
    }
  }
  for (const json::object* d : defs) {
    state::CheckSpec c;
    std::string node;
    if (auto e = parse_catalog_check(*d, &c, &node); !e.empty()) return e;
    if (!node.empty() && node != op.node.name) return "Check node '" + node + "' does not match the registration's node";
    op.checks.push_back(std::move(c));
  }
  *out = std::move(op);
  return {};
}

ParseError parse_catalog_deregister(const json::object& o, state::CatalogDeregisterOp* out) {
  ParseError err;
  state::CatalogDeregisterOp op;
  if (!get_string(o, "Node", &op.node, &err) || !get_string(o, "ServiceID", &op.service_id, &err) ||
      !get_string(o, "CheckID", &op.check_id, &err))
    return err;
  if (op.node.empty()) return "Must provide node";
  *out = std::move(op);
  return {};
}

// ---- records out ----

json::object node_json(const state::Catalog::NodeEntry& n, const std::string& dc) {
  return json::object{{"ID", n.spec.id},
                      {"Node", n.spec.name},
                      {"Address", n.spec.address},
                      {"Datacenter", dc},
                      {"TaggedAddresses", kv_object(n.spec.tagged_addresses)},
                      {"Meta", kv_object(n.spec.meta)},
                      {"CreateIndex", n.create_index},
                      {"ModifyIndex", n.modify_index}};
}

static json::object weights_json(const state::ServiceSpec& s) {
  return json::object{{"Passing", s.weight_passing}, {"Warning", s.weight_warning}};
}

static json::object service_tagged_json(const state::ServiceSpec& s) {
  json::object o;
  for (const auto& a : s.tagged_addresses) o[a.tag] = json::object{{"Address", a.address}, {"Port", a.port}};
  return o;
}

json::object catalog_service_json(const state::Catalog::NodeEntry& n, const state::Catalog::Service& s,
                                  const std::string& dc) {
  json::object o{{"ID", n.spec.id},
                 {"Node", n.spec.name},
                 {"Address", n.spec.address},
                 {"Datacenter", dc},
                 {"TaggedAddresses", kv_object(n.spec.tagged_addresses)},
                 {"NodeMeta", kv_object(n.spec.meta)},
                 {"ServiceKind", s.spec.kind},
                 {"ServiceID", s.spec.id},
                 {"ServiceName", s.spec.name},
                 {"ServiceTags", string_array(s.spec.tags)},
                 {"ServiceAddress", s.spec.address},
                 {"ServiceWeights", weights_json(s.spec)},
                 {"ServiceMeta", kv_object(s.spec.meta)},
                 {"ServicePort", s.spec.port},
                 {"ServiceSocketPath", ""},
                 {"ServiceEnableTagOverride", s.spec.enable_tag_override},
                 {"ServiceProxy", json::object{{"Mode", ""}, {"MeshGateway", json::object{}}, {"Expose", json::object{}}}},
                 {"ServiceConnect", json::object{}},
                 {"CreateIndex", s.create_index},
                 {"ModifyIndex", s.modify_index}};
  if (!s.spec.tagged_addresses.empty()) o["ServiceTaggedAddresses"] = service_tagged_json(s.spec);
  return o;
}

json::object agent_service_json(const state::Catalog::Service& s, const std::string& dc, bool with_indexes) {
  json::object o;
  if (!s.spec.kind.empty()) o["Kind"] = s.spec.kind;
  o["ID"] = s.spec.id;
  o["Service"] = s.spec.name;
  o["Tags"] = string_array(s.spec.tags);
  o["Meta"] = kv_object(s.spec.meta);
  o["Port"] = s.spec.port;
  o["Address"] = s.spec.address;
  if (!s.spec.tagged_addresses.empty()) o["TaggedAddresses"] = service_tagged_json(s.spec);
  o["Weights"] = weights_json(s.spec);
  o["EnableTagOverride"] = s.spec.enable_tag_override;
  o["Datacenter"] = dc;
  if (with_indexes) {
    o["CreateIndex"] = s.create_index;
    o["ModifyIndex"] = s.modify_index;
  }
  return o;
}

json::object check_json(const state::Catalog::NodeEntry& n, const state::Catalog::Check& c) {
  json::object def;
  if (!c.spec.definition.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(c.spec.definition, ec);
    if (!ec && v.is_object()) def = std::move(v.as_object());
  }
  std::string service_name;
  json::array service_tags;
  if (!c.spec.service_id.empty()) {
    if (auto it = n.services.find(c.spec.service_id); it != n.services.end()) {
      service_name = it->second.spec.name;
      service_tags = string_array(it->second.spec.tags);
    }
  }
  json::object o{{"Node", n.spec.name},
                 {"CheckID", c.spec.id},
                 {"Name", c.spec.name},
                 {"Status", c.spec.status},
                 {"Notes", c.spec.notes},
                 {"Output", c.spec.output},
                 {"ServiceID", c.spec.service_id},
                 {"ServiceName", service_name},
                 {"ServiceTags", service_tags},
                 {"Type", c.spec.type},
                 {"Interval", def.contains("Interval") ? def["Interval"] : json::value("")},
                 {"Timeout", def.contains("Timeout") ? def["Timeout"] : json::value("")},
                 {"ExposedPort", 0},
                 {"Definition", def},
                 {"CreateIndex", c.create_index},
                 {"ModifyIndex", c.modify_index}};
  return o;
}

bool has_tags(const state::ServiceSpec& s, const std::vector<std::string>& tags) {
  for (const auto& t : tags)
    if (std::find(s.tags.begin(), s.tags.end(), t) == s.tags.end()) return false;
  return true;
}

bool has_node_meta(const state::NodeSpec& n, const std::vector<std::string>& node_meta) {
  for (const auto& kv : node_meta) {
    auto colon = kv.find(':');
    std::string k = kv.substr(0, colon), v = colon == std::string::npos ? "" : kv.substr(colon + 1);
    bool found = false;
    for (const auto& m : n.meta) found = found || (m.key == k && m.value == v);
    if (!found) return false;
  }
  return true;
}

}  // namespace conclave::consul
