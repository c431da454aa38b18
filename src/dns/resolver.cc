#include "dns/resolver.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <set>
#include <vector>

// ldns last: its headers define names (__is_signed) that clang's standard library headers use.
#include <ldns/ldns.h>

namespace conclave::dns {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split_labels(std::string_view name) {
  std::vector<std::string> out;
  while (!name.empty()) {
    auto dot = name.find('.');
    out.emplace_back(name.substr(0, dot));
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  return out;
}

bool is_ipv4(const std::string& a) {
  in_addr x;
  return inet_pton(AF_INET, a.c_str(), &x) == 1;
}
bool is_ipv6(const std::string& a) {
  in6_addr x;
  return inet_pton(AF_INET6, a.c_str(), &x) == 1;
}

/// A host name rather than an address (a CNAME/SRV target).
bool is_hostname(const std::string& a) {
  if (a.empty() || is_ipv4(a) || is_ipv6(a) || a.size() > 253) return false;
  return a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == std::string::npos &&
         a.front() != '.' && a.front() != '-';
}

/// One record from its presentation form; nullptr when ldns refuses it (odd names).
ldns_rr* make_rr(const std::string& text) {
  ldns_rr* rr = nullptr;
  if (ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK) return nullptr;
  return rr;
}

std::string header_only_reply(std::string_view query, int rcode) {
  std::string out(12, '\0');
  out[0] = query[0];
  out[1] = query[1];
  out[2] = static_cast<char>(0x80 | (query[2] & 0x78));  // QR, the query's opcode
  out[3] = static_cast<char>(rcode & 0x0F);
  return out;
}

struct Instance {
  const state::Catalog::NodeEntry* node;
  const state::Catalog::Service* service;
  bool warning;
};

}  // namespace

Resolver::Resolver(ResolverConfig config, CatalogView catalog, uint64_t seed)
    : config_(std::move(config)), catalog_(std::move(catalog)), rng_(seed) {
  config_.domain = lower(config_.domain);
  while (!config_.domain.empty() && config_.domain.back() == '.') config_.domain.pop_back();
  while (!config_.domain.empty() && config_.domain.front() == '.') config_.domain.erase(0, 1);
}

std::string Resolver::answer(std::string_view query, bool tcp) {
  ++queries_;
  if (query.size() < 12) {
    ++malformed_;
    return {};
  }
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, reinterpret_cast<const uint8_t*>(query.data()), query.size()) != LDNS_STATUS_OK) {
    ++malformed_;
    return header_only_reply(query, LDNS_RCODE_FORMERR);
  }
  Pkt q(raw);
  if (ldns_pkt_qr(q.get())) {  // a response sent to us: never answer it
    ++malformed_;
    return {};
  }
  Pkt r(ldns_pkt_new());
  ldns_pkt_set_id(r.get(), ldns_pkt_id(q.get()));
  ldns_pkt_set_qr(r.get(), true);
  ldns_pkt_set_opcode(r.get(), ldns_pkt_get_opcode(q.get()));
  ldns_pkt_set_rd(r.get(), ldns_pkt_rd(q.get()));
  ldns_pkt_set_ra(r.get(), false);
  const bool edns = ldns_pkt_edns(q.get());
  size_t limit = tcp ? 65535 : 512;
  if (edns && !tcp) limit = std::clamp<size_t>(ldns_pkt_edns_udp_size(q.get()), 512, 4096);
  if (edns) ldns_pkt_set_edns_udp_size(r.get(), 4096);

  auto finish = [&]() {
    uint8_t* buf = nullptr;
    size_t size = 0;
    std::string out;
    if (ldns_pkt2wire(&buf, r.get(), &size) == LDNS_STATUS_OK) out.assign(reinterpret_cast<char*>(buf), size);
    free(buf);
    return out;
  };

  ldns_rr_list* questions = ldns_pkt_question(q.get());
  if (ldns_pkt_get_opcode(q.get()) != LDNS_PACKET_QUERY) {
    ldns_pkt_set_rcode(r.get(), LDNS_RCODE_NOTIMPL);
    return finish();
  }
  if (!questions || ldns_rr_list_rr_count(questions) != 1) {
    ++malformed_;
    ldns_pkt_set_rcode(r.get(), LDNS_RCODE_FORMERR);
    return finish();
  }
  ldns_rr* question = ldns_rr_list_rr(questions, 0);
  ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
  const ldns_rr_type qtype = ldns_rr_get_type(question);
  char* owner_c = ldns_rdf2str(ldns_rr_owner(question));
  std::string owner = owner_c ? owner_c : "";
  free(owner_c);
  std::string name = lower(owner);
  while (!name.empty() && name.back() == '.') name.pop_back();

  const std::string& domain = config_.domain;
  if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN && ldns_rr_get_class(question) != LDNS_RR_CLASS_ANY) {
    ++refused_;
    ldns_pkt_set_rcode(r.get(), LDNS_RCODE_REFUSED);
    return finish();
  }
  std::string rest;
  if (name == domain) {
    rest.clear();
  } else if (name.size() > domain.size() + 1 && name.compare(name.size() - domain.size(), domain.size(), domain) == 0 &&
             name[name.size() - domain.size() - 1] == '.') {
    rest = name.substr(0, name.size() - domain.size() - 1);
  } else {
    ++refused_;
    ldns_pkt_set_rcode(r.get(), LDNS_RCODE_REFUSED);  // not our zone, and we do not recurse
    return finish();
  }
  ldns_pkt_set_aa(r.get(), true);
  const std::string soa_text = fmt::format("{0}. 0 IN SOA ns.{0}. hostmaster.{0}. 1 3600 600 86400 0", domain);
  auto add_soa = [&](ldns_pkt_section section) {
    if (ldns_rr* soa = make_rr(soa_text)) ldns_pkt_push_rr(r.get(), section, soa);
  };
  auto nxdomain = [&]() {
    ldns_pkt_set_rcode(r.get(), LDNS_RCODE_NXDOMAIN);
    add_soa(LDNS_SECTION_AUTHORITY);
    return finish();
  };

  if (rest.empty()) {
    if (qtype == LDNS_RR_TYPE_SOA || qtype == LDNS_RR_TYPE_ANY) add_soa(LDNS_SECTION_ANSWER);
    else if (qtype == LDNS_RR_TYPE_NS) {
      if (ldns_rr* ns = make_rr(fmt::format("{0}. 0 IN NS ns.{0}.", domain))) ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, ns);
    } else add_soa(LDNS_SECTION_AUTHORITY);
    return finish();
  }

  std::vector<std::string> labels = split_labels(rest);
  // An optional datacenter label after the kind ("web.service.dc1").
  if (labels.size() >= 2) {
    const std::string& kind = labels[labels.size() - 2];
    if (kind == "service" || kind == "node" || kind == "addr" || kind == "query") {
      if (labels.back() != lower(config_.datacenter)) return nxdomain();  // another datacenter
      labels.pop_back();
    }
  }
  const std::string kind = labels.back();
  labels.pop_back();
  const std::string dc_suffix = fmt::format("{}.{}.", lower(config_.datacenter), domain);
  const auto& cat = catalog_();

  // Address records for `address`, owned by `owner_name`, of the types the question asks for.
  auto address_rr = [&](const std::string& owner_name, const std::string& address, bool want_a, bool want_aaaa) -> ldns_rr* {
    if (want_a && is_ipv4(address)) return make_rr(fmt::format("{} 0 IN A {}", owner_name, address));
    if (want_aaaa && is_ipv6(address)) return make_rr(fmt::format("{} 0 IN AAAA {}", owner_name, address));
    return nullptr;
  };
  const bool want_a = qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY;
  const bool want_aaaa = qtype == LDNS_RR_TYPE_AAAA || qtype == LDNS_RR_TYPE_ANY;

  if (kind == "node" && labels.size() == 1) {
    const state::Catalog::NodeEntry* node = nullptr;
    for (const auto& [n, e] : cat.nodes())
      if (lower(n) == labels[0]) node = &e;
    if (!node) return nxdomain();
    if (ldns_rr* rr = address_rr(owner, node->spec.address, want_a, want_aaaa))
      ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, rr);
    else add_soa(LDNS_SECTION_AUTHORITY);
    return finish();
  }
  if (kind == "addr" && labels.size() == 1) {
    const std::string& hex = labels[0];
    if (hex.size() != 8 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) return nxdomain();
    uint32_t v = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
    std::string ip = fmt::format("{}.{}.{}.{}", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
    if (ldns_rr* rr = address_rr(owner, ip, want_a, false)) ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, rr);
    else add_soa(LDNS_SECTION_AUTHORITY);
    return finish();
  }
  if (kind != "service" || labels.empty() || labels.size() > 2) return nxdomain();

  std::string service, tag;
  if (labels.size() == 2 && labels[0].size() > 1 && labels[1].size() > 1 && labels[0][0] == '_' && labels[1][0] == '_') {
    service = labels[0].substr(1);  // RFC 2782: _service._tag
    tag = labels[1].substr(1);
    if (tag == "tcp" || tag == "udp") tag.clear();
  } else if (labels.size() == 2) {
    tag = labels[0];
    service = labels[1];
  } else {
    service = labels[0];
  }
  const std::set<state::Catalog::Instance>* instances = nullptr;
  for (const auto& [n, set] : cat.by_name())
    if (lower(n) == service) instances = &set;
  std::vector<Instance> healthy;
  if (instances) {
    for (const auto& [node_name, id] : *instances) {
      const auto* node = cat.node(node_name);
      const auto& svc = node->services.at(id);
      if (!tag.empty() && std::none_of(svc.spec.tags.begin(), svc.spec.tags.end(),
                                       [&](const std::string& t) { return lower(t) == tag; }))
        continue;
      bool critical = false, warning = false;
      for (const auto& [cid, c] : node->checks) {
        if (!c.spec.service_id.empty() && c.spec.service_id != id) continue;
        critical = critical || c.spec.status == state::kCritical;
        warning = warning || c.spec.status == state::kWarning;
      }
      if (!critical) healthy.push_back({node, &svc, warning});
    }
  }
  if (healthy.empty()) return nxdomain();
  std::shuffle(healthy.begin(), healthy.end(), rng_);

  std::vector<ldns_rr*> answers, extras;
  if (qtype == LDNS_RR_TYPE_SRV) {
    for (const auto& in : healthy) {
      const std::string& addr = in.service->spec.address.empty() ? in.node->spec.address : in.service->spec.address;
      std::string target;
      if (is_hostname(addr)) {
        target = addr + ".";  // a service addressed by name: the SRV target is that name
      } else if (!in.service->spec.address.empty() && in.service->spec.address != in.node->spec.address && is_ipv4(addr)) {
        in_addr a;
        inet_pton(AF_INET, addr.c_str(), &a);
        target = fmt::format("{:08x}.addr.{}", ntohl(a.s_addr), dc_suffix);
      } else {
        target = fmt::format("{}.node.{}", lower(in.node->spec.name), dc_suffix);
      }
      int weight = in.warning ? in.service->spec.weight_warning : in.service->spec.weight_passing;
      ldns_rr* srv = make_rr(fmt::format("{} 0 IN SRV 1 {} {} {}", owner, weight, in.service->spec.port, target));
      if (!srv) continue;
      answers.push_back(srv);
      if (ldns_rr* a = address_rr(target, addr, true, true)) extras.push_back(a);
    }
  } else {
    for (const auto& in : healthy) {
      const std::string& addr = in.service->spec.address.empty() ? in.node->spec.address : in.service->spec.address;
      if (is_hostname(addr) && (want_a || want_aaaa)) {
        // As Consul: an instance addressed by a host name answers with a CNAME to it (no recursion).
        if (ldns_rr* cname = make_rr(fmt::format("{} 0 IN CNAME {}.", owner, addr))) answers.push_back(cname);
      } else if (ldns_rr* a = address_rr(owner, addr, want_a, want_aaaa)) {
        answers.push_back(a);
      }
    }
  }
  if (answers.empty()) {
    for (auto* x : extras) ldns_rr_free(x);
    add_soa(LDNS_SECTION_AUTHORITY);
    return finish();
  }
  // Fit the limit: the largest number of answers (each with its additional record) that does.
  auto build = [&](size_t n) {
    Pkt p(ldns_pkt_clone(r.get()));
    for (size_t i = 0; i < n; ++i) {
      ldns_pkt_push_rr(p.get(), LDNS_SECTION_ANSWER, ldns_rr_clone(answers[i]));
      if (i < extras.size() && qtype == LDNS_RR_TYPE_SRV) ldns_pkt_push_rr(p.get(), LDNS_SECTION_ADDITIONAL, ldns_rr_clone(extras[i]));
    }
    uint8_t* buf = nullptr;
    size_t size = 0;
    std::string out;
    if (ldns_pkt2wire(&buf, p.get(), &size) == LDNS_STATUS_OK) out.assign(reinterpret_cast<char*>(buf), size);
    free(buf);
    return std::pair{std::move(p), std::move(out)};
  };
  // SRV answers carry one additional record each only when their target had an address.
  if (qtype == LDNS_RR_TYPE_SRV && extras.size() != answers.size()) {
    for (auto* x : extras) ldns_rr_free(x);
    extras.clear();
  }
  size_t n = answers.size();
  auto [pkt, wire] = build(n);
  bool truncated = false;
  if (wire.size() > limit) {
    size_t lo = 0, hi = n;  // lo fits, hi does not
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (build(mid).second.size() <= limit) lo = mid;
      else hi = mid;
    }
    auto fitted = build(lo);
    ldns_pkt_set_tc(fitted.first.get(), true);
    uint8_t* buf = nullptr;
    size_t size = 0;
    wire.clear();
    if (ldns_pkt2wire(&buf, fitted.first.get(), &size) == LDNS_STATUS_OK) wire.assign(reinterpret_cast<char*>(buf), size);
    free(buf);
    truncated = true;
  }
  for (auto* x : answers) ldns_rr_free(x);
  for (auto* x : extras) ldns_rr_free(x);
  if (truncated) ++truncated_;
  return wire;
}

}  // namespace conclave::dns
