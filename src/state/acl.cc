#include "state/acl.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace conclave::state {
namespace {

// Parses an IPv4 or IPv6 literal into bytes; returns the byte count (4/16) or 0.
int parse_ip(std::string_view s, unsigned char out[16]) {
  std::string str(s);
  if (inet_pton(AF_INET, str.c_str(), out) == 1) return 4;
  if (inet_pton(AF_INET6, str.c_str(), out) == 1) return 16;
  return 0;
}

bool parse_cidr(std::string_view id, unsigned char addr[16], int* len, int* bits) {
  auto slash = id.find('/');
  *len = parse_ip(id.substr(0, slash), addr);
  if (*len == 0) return false;
  *bits = *len * 8;
  if (slash != std::string_view::npos) {
    std::string b(id.substr(slash + 1));
    if (b.empty() || b.size() > 3 || !std::all_of(b.begin(), b.end(), ::isdigit)) return false;
    *bits = std::stoi(b);
    if (*bits > *len * 8) return false;
  }
  return true;
}

bool digest_id_valid(std::string_view id) {
  // DigestAuthenticationProvider.isValid: id.split(":").length > 1 (Java drops trailing empties).
  int parts = 0;
  size_t start = 0;
  int nonempty_tail = 0;
  while (true) {
    auto colon = id.find(':', start);
    auto piece = id.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    ++parts;
    if (!piece.empty()) nonempty_tail = parts;
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return nonempty_tail > 1;
}

bool authenticated_scheme(std::string_view scheme) { return scheme == "digest" || scheme == "sasl"; }

}  // namespace

bool ip_acl_valid(std::string_view acl_id) {
  unsigned char a[16];
  int len, bits;
  return parse_cidr(acl_id, a, &len, &bits);
}

bool ip_matches(std::string_view acl_id, std::string_view addr) {
  unsigned char a[16], c[16];
  int len, bits;
  if (!parse_cidr(acl_id, a, &len, &bits)) return false;
  if (parse_ip(addr, c) != len) return false;
  for (int i = 0; i < len; ++i) {
    int take = std::clamp(bits - i * 8, 0, 8);
    unsigned char mask = take == 0 ? 0 : static_cast<unsigned char>(0xFF << (8 - take));
    if ((a[i] & mask) != (c[i] & mask)) return false;
  }
  return true;
}

bool acl_allows(const AclList& acl, int32_t perm, const std::vector<Id>& ids) {
  if (acl.empty()) return true;
  for (const auto& id : ids)
    if (id.scheme == "super") return true;
  for (const auto& a : acl) {
    if ((a.perms & perm) == 0) continue;
    if (a.id.scheme == "world" && a.id.id == "anyone") return true;
    for (const auto& id : ids) {
      if (id.scheme != a.id.scheme) continue;
      if (a.id.scheme == "ip" ? ip_matches(a.id.id, id.id) : a.id.id == id.id) return true;
    }
  }
  return false;
}

Code fixup_acl(const AclList& requested, const std::vector<Id>& ids, AclList* out) {
  out->clear();
  if (requested.empty()) return Code::kInvalidAcl;
  AclList unique;
  for (const auto& a : requested)
    if (std::find(unique.begin(), unique.end(), a) == unique.end()) unique.push_back(a);
  for (const auto& a : unique) {
    if (a.id.scheme == "world" && a.id.id == "anyone") {
      out->push_back(a);
    } else if (a.id.scheme == "auth") {
      bool any = false;
      for (const auto& id : ids) {
        if (!authenticated_scheme(id.scheme)) continue;
        any = true;
        Acl expanded{a.perms, id};
        if (std::find(out->begin(), out->end(), expanded) == out->end()) out->push_back(expanded);
      }
      if (!any) return Code::kInvalidAcl;
    } else if (a.id.scheme == "digest") {
      if (!digest_id_valid(a.id.id)) return Code::kInvalidAcl;
      out->push_back(a);
    } else if (a.id.scheme == "ip") {
      if (!ip_acl_valid(a.id.id)) return Code::kInvalidAcl;
      out->push_back(a);
    } else if (a.id.scheme == "sasl") {
      if (a.id.id.empty()) return Code::kInvalidAcl;
      out->push_back(a);
    } else {
      return Code::kInvalidAcl;
    }
  }
  return Code::kOk;
}

}  // namespace conclave::state
