#include "state/catalog.h"

#include <algorithm>
#include <cstdlib>

#include "common/crc32c.h"

namespace conclave::state {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

std::map<uint64_t, const Catalog::NodeEntry*> Catalog::server_nodes() const {
  std::map<uint64_t, const NodeEntry*> out;
  for (const auto& [name, n] : nodes_)
    for (const auto& kv : n.spec.meta)
      if (kv.key == kRaftIdMeta) {
        char* end = nullptr;
        uint64_t id = std::strtoull(kv.value.c_str(), &end, 10);
        if (id != 0 && end && *end == '\0') out[id] = &n;
      }
  return out;
}

const Catalog::NodeEntry* Catalog::node(std::string_view name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

const std::set<Catalog::Instance>* Catalog::instances(std::string_view service) const {
  auto it = by_name_.find(service);
  return it == by_name_.end() ? nullptr : &it->second;
}

int64_t Catalog::index(std::string_view key) const {
  if (auto it = indexes_.find(key); it != indexes_.end()) return it->second;
  if (starts_with(key, "service.")) return index(kServices);
  if (starts_with(key, "node.")) return index(kNodes);
  return 0;
}

size_t Catalog::service_count() const {
  size_t n = 0;
  for (const auto& [_, e] : nodes_) n += e.services.size();
  return n;
}

size_t Catalog::check_count() const {
  size_t n = 0;
  for (const auto& [_, e] : nodes_) n += e.checks.size();
  return n;
}

// ---- change bookkeeping ----

Catalog::NodeEntry* Catalog::mutable_node(const std::string& name, Undo* undo) {
  auto it = nodes_.find(name);
  if (undo && std::none_of(undo->nodes.begin(), undo->nodes.end(), [&](const auto& u) { return u.first == name; }))
    undo->nodes.emplace_back(name, it == nodes_.end() ? std::nullopt : std::optional<NodeEntry>(it->second));
  if (it == nodes_.end()) it = nodes_.emplace(name, NodeEntry{}).first;
  return &it->second;
}

void Catalog::erase_node(const std::string& name, Undo* undo) {
  mutable_node(name, undo);  // records the entry for rollback
  if (auto it = nodes_.find(name); it != nodes_.end()) {
    index_instances(name, it->second, false);
    nodes_.erase(it);
  }
}

void Catalog::bump(std::string_view key, int64_t zxid, Effects* fx, Undo* undo) {
  auto it = indexes_.find(key);
  if (undo && std::none_of(undo->indexes.begin(), undo->indexes.end(), [&](const auto& u) { return u.first == key; }))
    undo->indexes.emplace_back(std::string(key),
                               it == indexes_.end() ? std::nullopt : std::optional<int64_t>(it->second));
  if (it == indexes_.end()) indexes_.emplace(std::string(key), zxid);
  else it->second = zxid;
  fx->changed.emplace_back(key);
}

void Catalog::drop_index(const std::string& key, Undo* undo) {
  auto it = indexes_.find(key);
  if (it == indexes_.end()) return;
  if (undo && std::none_of(undo->indexes.begin(), undo->indexes.end(), [&](const auto& u) { return u.first == key; }))
    undo->indexes.emplace_back(key, it->second);
  indexes_.erase(it);
}

void Catalog::bump_node_views(const NodeEntry& n, int64_t zxid, Effects* fx, Undo* undo) {
  bump(node_key(n.spec.name), zxid, fx, undo);
  for (const auto& [_, s] : n.services) {
    bump(service_key(s.spec.name), zxid, fx, undo);
    fx->touched.emplace_back(s.spec.name, n.spec.name, s.spec.id);
  }
}

void Catalog::bump_instance(const std::string& node, const Service& s, int64_t zxid, Effects* fx, Undo* undo) {
  bump(node_key(node), zxid, fx, undo);
  bump(service_key(s.spec.name), zxid, fx, undo);
  fx->touched.emplace_back(s.spec.name, node, s.spec.id);
}

void Catalog::index_instances(const std::string& node, const NodeEntry& n, bool add) {
  for (const auto& [id, s] : n.services) {
    if (add) {
      by_name_[s.spec.name].emplace(node, id);
      continue;
    }
    auto it = by_name_.find(s.spec.name);
    if (it == by_name_.end()) continue;
    it->second.erase({node, id});
    if (it->second.empty()) by_name_.erase(it);
  }
}

void Catalog::rollback(Undo& undo) {
  for (auto it = undo.nodes.rbegin(); it != undo.nodes.rend(); ++it) {
    if (auto cur = nodes_.find(it->first); cur != nodes_.end()) {
      index_instances(it->first, cur->second, false);
      nodes_.erase(cur);
    }
    if (it->second) {
      index_instances(it->first, *it->second, true);
      nodes_.emplace(it->first, std::move(*it->second));
    }
  }
  for (auto it = undo.indexes.rbegin(); it != undo.indexes.rend(); ++it) {
    if (it->second) indexes_[it->first] = *it->second;
    else indexes_.erase(it->first);
  }
  undo = Undo{};
}

// ---- ops ----

std::string Catalog::apply(const CatalogRegisterOp& op, int64_t zxid, Effects* fx, Undo* undo) {
  const std::string& name = op.node.name;
  if (name.empty()) return "Must provide node";
  const NodeEntry* existing = node(name);
  if (!existing && op.skip_node_update) return "Missing node registration";
  if (op.has_service && op.service.id.empty()) return "Must provide service ID";
  // Validate everything first: a refused op changes nothing, with or without an undo log.
  for (const auto& c : op.checks) {
    if (c.id.empty()) return "Must provide check ID";
    if (c.service_id.empty()) continue;
    bool known = (op.has_service && op.service.id == c.service_id) ||
                 (existing && existing->services.count(c.service_id));
    if (!known) return "Missing service registration";
    if (!c.status.empty() && c.status != kPassing && c.status != kWarning && c.status != kCritical)
      return "Invalid check status";
  }
  if (!existing || (!op.skip_node_update && existing->spec != op.node)) {
    NodeEntry* n = mutable_node(name, undo);
    bool fresh = n->create_index == 0;
    n->spec = op.node;
    if (fresh) n->create_index = zxid;
    n->modify_index = zxid;
    bump(kNodes, zxid, fx, undo);
    bump_node_views(*n, zxid, fx, undo);
  }
  if (op.has_service) {
    NodeEntry* n = mutable_node(name, undo);
    auto it = n->services.find(op.service.id);
    if (it == n->services.end() || it->second.spec != op.service) {
      if (it != n->services.end() && it->second.spec.name != op.service.name) {
        // Renamed: the old name loses this instance.
        bump(service_key(it->second.spec.name), zxid, fx, undo);
        fx->touched.emplace_back(it->second.spec.name, name, op.service.id);
        auto bn = by_name_.find(it->second.spec.name);
        bn->second.erase({name, op.service.id});
        if (bn->second.empty()) {
          by_name_.erase(bn);
          drop_index(service_key(it->second.spec.name), undo);
        }
      }
      Service& s = n->services[op.service.id];
      if (s.create_index == 0) s.create_index = zxid;
      s.modify_index = zxid;
      s.spec = op.service;
      by_name_[s.spec.name].emplace(name, s.spec.id);
      bump(kServices, zxid, fx, undo);
      bump_instance(name, s, zxid, fx, undo);
    }
  }
  for (CheckSpec c : op.checks) {
    if (c.status.empty()) c.status = std::string(kCritical);
    NodeEntry* n = mutable_node(name, undo);
    auto it = n->checks.find(c.id);
    if (it != n->checks.end() && it->second.spec == c) continue;
    bool was_critical = it != n->checks.end() && it->second.spec.status == kCritical;
    std::string old_service = it != n->checks.end() ? it->second.spec.service_id : std::string();
    Check& k = n->checks[c.id];
    if (k.create_index == 0) k.create_index = zxid;
    k.modify_index = zxid;
    k.spec = std::move(c);
    bump(kChecks, zxid, fx, undo);
    if (k.spec.service_id.empty() || (!old_service.empty() && old_service != k.spec.service_id)) {
      bump_node_views(*n, zxid, fx, undo);
    } else {
      bump_instance(name, n->services.at(k.spec.service_id), zxid, fx, undo);
    }
    if (k.spec.status == kCritical && !was_critical) fx->lost_checks.emplace_back(name, k.spec.id);
  }
  return {};
}

std::string Catalog::apply(const CatalogDeregisterOp& op, int64_t zxid, Effects* fx, Undo* undo) {
  if (op.node.empty()) return "Must provide node";
  const NodeEntry* existing = node(op.node);
  if (!existing) return {};  // as Consul: deregistering what is not there succeeds
  if (!op.check_id.empty()) {
    auto it = existing->checks.find(op.check_id);
    if (it == existing->checks.end()) return {};
    NodeEntry* n = mutable_node(op.node, undo);
    it = n->checks.find(op.check_id);
    std::string service_id = it->second.spec.service_id;
    n->checks.erase(it);
    bump(kChecks, zxid, fx, undo);
    if (service_id.empty() || !n->services.count(service_id)) {
      bump_node_views(*n, zxid, fx, undo);
    } else {
      bump_instance(op.node, n->services.at(service_id), zxid, fx, undo);
    }
    fx->lost_checks.emplace_back(op.node, op.check_id);
    return {};
  }
  if (!op.service_id.empty()) {
    auto it = existing->services.find(op.service_id);
    if (it == existing->services.end()) return {};
    NodeEntry* n = mutable_node(op.node, undo);
    it = n->services.find(op.service_id);
    const std::string service_name = it->second.spec.name;
    for (auto c = n->checks.begin(); c != n->checks.end();) {
      if (c->second.spec.service_id != op.service_id) {
        ++c;
        continue;
      }
      fx->lost_checks.emplace_back(op.node, c->first);
      c = n->checks.erase(c);
      bump(kChecks, zxid, fx, undo);
    }
    n->services.erase(it);
    auto bn = by_name_.find(service_name);
    bn->second.erase({op.node, op.service_id});
    bump(kServices, zxid, fx, undo);
    bump(node_key(op.node), zxid, fx, undo);
    bump(service_key(service_name), zxid, fx, undo);
    fx->touched.emplace_back(service_name, op.node, op.service_id);
    if (bn->second.empty()) {
      by_name_.erase(bn);
      drop_index(service_key(service_name), undo);
    }
    return {};
  }
  for (const auto& [id, _] : existing->checks) fx->lost_checks.emplace_back(op.node, id);
  fx->removed_nodes.push_back(op.node);
  bump(kNodes, zxid, fx, undo);
  if (!existing->services.empty()) bump(kServices, zxid, fx, undo);
  if (!existing->checks.empty()) bump(kChecks, zxid, fx, undo);
  bump_node_views(*existing, zxid, fx, undo);
  std::vector<std::string> names;
  for (const auto& [_, s] : existing->services) names.push_back(s.spec.name);
  erase_node(op.node, undo);
  drop_index(node_key(op.node), undo);
  for (const auto& name : names)
    if (!by_name_.count(name)) drop_index(service_key(name), undo);
  return {};
}

std::string Catalog::apply(const CheckUpdateOp& op, int64_t zxid, Effects* fx, Undo* undo) {
  for (const auto& u : op.updates) {
    if (u.status != kPassing && u.status != kWarning && u.status != kCritical) return "Invalid check status";
  }
  for (const auto& u : op.updates) {
    const NodeEntry* existing = node(u.node);
    if (!existing) continue;  // deregistered meanwhile
    auto it = existing->checks.find(u.check_id);
    if (it == existing->checks.end()) continue;
    if (it->second.spec.status == u.status && it->second.spec.output == u.output) continue;
    NodeEntry* n = mutable_node(u.node, undo);
    Check& k = n->checks.at(u.check_id);
    bool was_critical = k.spec.status == kCritical;
    k.spec.status = u.status;
    k.spec.output = u.output;
    k.modify_index = zxid;
    bump(kChecks, zxid, fx, undo);
    if (k.spec.service_id.empty() || !n->services.count(k.spec.service_id)) {
      bump_node_views(*n, zxid, fx, undo);
    } else {
      bump_instance(u.node, n->services.at(k.spec.service_id), zxid, fx, undo);
    }
    if (k.spec.status == kCritical && !was_critical) fx->lost_checks.emplace_back(u.node, u.check_id);
  }
  return {};
}

std::string Catalog::apply(const CatalogTxnOp& op, int64_t zxid, Effects* fx, Undo* undo,
                           std::vector<CatalogRecord>* out) {
  const bool cas = op.verb == CatalogVerb::kCas || op.verb == CatalogVerb::kDeleteCas;
  const bool del = op.verb == CatalogVerb::kDelete || op.verb == CatalogVerb::kDeleteCas;
  const std::string& node_name = op.target == CatalogTarget::kNode ? op.node.name : op.node_name;
  if (node_name.empty()) return "Must provide node";
  const NodeEntry* n = node(node_name);
  auto record = [&]() {
    const NodeEntry* now = node(node_name);
    if (!now) return;
    CatalogRecord r;
    r.target = op.target;
    r.node_name = node_name;
    r.node = now->spec;
    if (op.target == CatalogTarget::kNode) {
      r.create_index = now->create_index;
      r.modify_index = now->modify_index;
    } else if (op.target == CatalogTarget::kService) {
      auto it = now->services.find(op.service.id);
      if (it == now->services.end()) return;
      r.service = it->second.spec;
      r.create_index = it->second.create_index;
      r.modify_index = it->second.modify_index;
    } else {
      auto it = now->checks.find(op.check.id);
      if (it == now->checks.end()) return;
      r.check = it->second.spec;
      r.create_index = it->second.create_index;
      r.modify_index = it->second.modify_index;
    }
    out->push_back(std::move(r));
  };
  // The record's current ModifyIndex (0 when it does not exist).
  int64_t current = 0;
  std::string what;
  if (op.target == CatalogTarget::kNode) {
    if (n) current = n->modify_index;
    what = "node \"" + node_name + "\"";
  } else if (op.target == CatalogTarget::kService) {
    if (op.service.id.empty()) return "Must provide service ID";
    if (n)
      if (auto it = n->services.find(op.service.id); it != n->services.end()) current = it->second.modify_index;
    what = "service \"" + op.service.id + "\" on node \"" + node_name + "\"";
  } else {
    if (op.check.id.empty()) return "Must provide check ID";
    if (n)
      if (auto it = n->checks.find(op.check.id); it != n->checks.end()) current = it->second.modify_index;
    what = "check \"" + op.check.id + "\" on node \"" + node_name + "\"";
  }
  if (op.verb == CatalogVerb::kGet) {
    if (current == 0) return what + " doesn't exist";
    record();
    return {};
  }
  if (cas && current != op.index) return "failed to " + std::string(del ? "delete " : "set ") + what + ", index is stale";
  if (del) {
    if (current == 0) return {};
    CatalogDeregisterOp d{node_name, op.target == CatalogTarget::kService ? op.service.id : "",
                          op.target == CatalogTarget::kCheck ? op.check.id : ""};
    return apply(d, zxid, fx, undo);
  }
  CatalogRegisterOp r;
  if (op.target == CatalogTarget::kNode) {
    r.node = op.node;
  } else {
    if (!n) return "node \"" + node_name + "\" doesn't exist";
    r.node = n->spec;
    r.skip_node_update = true;
    if (op.target == CatalogTarget::kService) {
      r.has_service = true;
      r.service = op.service;
    } else {
      r.checks = {op.check};
    }
  }
  if (auto e = apply(r, zxid, fx, undo); !e.empty()) return e;
  record();
  return {};
}

// ---- snapshots ----

void Catalog::encode(Writer& w) const {
  w.u64(nodes_.size());
  for (const auto& [name, n] : nodes_) {
    encode_record(w, n.spec);
    w.i64(n.create_index);
    w.i64(n.modify_index);
    w.u32(static_cast<uint32_t>(n.services.size()));
    for (const auto& [_, s] : n.services) {
      encode_record(w, s.spec);
      w.i64(s.create_index);
      w.i64(s.modify_index);
    }
    w.u32(static_cast<uint32_t>(n.checks.size()));
    for (const auto& [_, c] : n.checks) {
      encode_record(w, c.spec);
      w.i64(c.create_index);
      w.i64(c.modify_index);
    }
  }
  w.u64(indexes_.size());
  for (const auto& [key, v] : indexes_) {
    w.blob(key);
    w.i64(v);
  }
}

bool Catalog::decode(Reader& r) {
  Catalog fresh;
  uint64_t count = r.u64();
  if (!r.ok() || count > r.remaining()) return false;
  for (uint64_t i = 0; i < count; ++i) {
    NodeEntry n;
    if (!decode_record(r, &n.spec)) return false;
    n.create_index = r.i64();
    n.modify_index = r.i64();
    uint32_t ns = r.u32();
    if (!r.ok() || ns > r.remaining()) return false;
    for (uint32_t k = 0; k < ns; ++k) {
      Service s;
      if (!decode_record(r, &s.spec)) return false;
      s.create_index = r.i64();
      s.modify_index = r.i64();
      if (!n.services.emplace(s.spec.id, std::move(s)).second) return false;
    }
    uint32_t nc = r.u32();
    if (!r.ok() || nc > r.remaining()) return false;
    for (uint32_t k = 0; k < nc; ++k) {
      Check c;
      if (!decode_record(r, &c.spec)) return false;
      c.create_index = r.i64();
      c.modify_index = r.i64();
      if (!n.checks.emplace(c.spec.id, std::move(c)).second) return false;
    }
    std::string name = n.spec.name;
    fresh.index_instances(name, n, true);
    if (!r.ok() || !fresh.nodes_.emplace(name, std::move(n)).second) return false;
  }
  uint64_t nidx = r.u64();
  if (!r.ok() || nidx > r.remaining()) return false;
  for (uint64_t i = 0; i < nidx && r.ok(); ++i) {
    std::string key(r.blob());
    fresh.indexes_[key] = r.i64();
  }
  if (!r.ok()) return false;
  *this = std::move(fresh);
  return true;
}

uint64_t Catalog::digest() const {
  Bytes b;
  Writer w(b);
  encode(w);
  return (uint64_t(crc32c(b, 0x2468aceu)) << 32 | crc32c(b, 0x13579bdu)) * 0x94D049BB133111EBull;
}

}  // namespace conclave::state
