// Consul's DNS interface over the replicated catalog: answers one DNS message with another.
//
//   <service>.service[.<dc>].<domain>          A / AAAA / ANY: the addresses of healthy instances
//   <tag>.<service>.service[.<dc>].<domain>    the same, only instances with the tag
//   _<service>._<tag>.service[.<dc>].<domain>  RFC 2782 form (_tcp / _udp: no tag filter)
//   SRV on any of these                         priority 1, weight = Weights.Passing (Warning for
//                                               warning instances), the port, and the target's
//                                               A/AAAA record in the additional section
//   <node>.node[.<dc>].<domain>                the node's address
//   <hex ipv4>.addr[.<dc>].<domain>            that address
// Healthy means no critical check on the instance or its node (warning counts as healthy, as
// Consul's default only_passing=false). Answers are shuffled, TTL 0, authoritative, never
// recursive: a name outside the domain is REFUSED. A name that does not exist is NXDOMAIN with
// the domain's SOA; an existing name without records of the type asked is NOERROR with the SOA.
// Over UDP the answer fits 512 bytes or the client's EDNS0 size; what does not fit is dropped
// and TC set, so the client retries over TCP. Malformed queries get FORMERR (or nothing when not
// even a header arrived); other opcodes NOTIMP.
//
// Pure: no sockets or clocks (the wire codec is ldns); dns/server.h puts it on UDP and TCP.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>

#include "state/catalog.h"

namespace conclave::dns {

struct ResolverConfig {
  std::string domain = "consul";
  std::string datacenter = "dc1";
};

class Resolver {
 public:
  using CatalogView = std::function<const state::Catalog&()>;
  Resolver(ResolverConfig config, CatalogView catalog, uint64_t seed);

  /// The reply to `query`, or empty when nothing should be sent back.
  std::string answer(std::string_view query, bool tcp);

  uint64_t queries() const { return queries_; }
  uint64_t refused() const { return refused_; }
  uint64_t malformed() const { return malformed_; }
  uint64_t truncated() const { return truncated_; }

 private:
  ResolverConfig config_;
  CatalogView catalog_;
  std::mt19937_64 rng_;
  uint64_t queries_ = 0, refused_ = 0, malformed_ = 0, truncated_ = 0;
};

}  // namespace conclave::dns
