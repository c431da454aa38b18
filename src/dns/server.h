// DNS on UDP and TCP (RFC 1035 §4.2: TCP messages carry a two-byte length prefix), answered by
// dns::Resolver from this node's replica of the catalog (a stale read, as Consul's DNS default
// allow_stale = true). The agent binds both on --dns-port.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dns/resolver.h"
#include "net/stream.h"
#include "server/replica.h"

namespace conclave::dns {

class DnsServer : public net::Acceptor {
 public:
  DnsServer(server::Replica& replica, ResolverConfig config);
  /// One UDP datagram in, the reply (empty: none) out.
  std::string on_datagram(std::string_view datagram) { return resolver_.answer(datagram, false); }
  std::unique_ptr<net::StreamHandler> accept(net::Stream& stream) override;
  std::string metrics_text() const;

  static constexpr size_t kMaxTcpConnections = 512;

 private:
  friend class TcpHandler;
  Resolver resolver_;
  size_t tcp_connections_ = 0;
};

}  // namespace conclave::dns
