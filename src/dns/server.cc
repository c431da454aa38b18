#include "dns/server.h"

#include <fmt/format.h>

namespace conclave::dns {

class TcpHandler : public net::StreamHandler {
 public:
  TcpHandler(DnsServer& server, net::Stream& stream) : server_(server), stream_(stream) { ++server_.tcp_connections_; }
  ~TcpHandler() override { --server_.tcp_connections_; }

  void on_data(std::string_view bytes) override {
    buffer_.append(bytes);
    size_t at = 0;
    while (buffer_.size() - at >= 2) {
      size_t len = (static_cast<uint8_t>(buffer_[at]) << 8) | static_cast<uint8_t>(buffer_[at + 1]);
      if (buffer_.size() - at - 2 < len) break;
      std::string reply = server_.resolver_.answer(std::string_view(buffer_).substr(at + 2, len), true);
      at += 2 + len;
      if (reply.empty()) {  // not even a DNS header: nothing sensible to say on this connection
        stream_.close();
        buffer_.clear();
        return;
      }
      std::string framed;
      framed.reserve(reply.size() + 2);
      framed.push_back(static_cast<char>(reply.size() >> 8));
      framed.push_back(static_cast<char>(reply.size() & 0xFF));
      framed += reply;
      stream_.send(std::move(framed));
    }
    buffer_.erase(0, at);
  }
  void on_close() override {}

 private:
  DnsServer& server_;
  net::Stream& stream_;
  std::string buffer_;
};

DnsServer::DnsServer(server::Replica& replica, ResolverConfig config)
    : resolver_(std::move(config), [&replica]() -> const state::Catalog& { return replica.tree().catalog(); },
                static_cast<uint64_t>(replica.wall_ms())) {}

std::unique_ptr<net::StreamHandler> DnsServer::accept(net::Stream& stream) {
  if (tcp_connections_ >= kMaxTcpConnections) return nullptr;
  return std::make_unique<TcpHandler>(*this, stream);
}

std::string DnsServer::metrics_text() const {
  return fmt::format(
      "# HELP conclave_dns_queries_total DNS queries received (UDP and TCP).\n# TYPE conclave_dns_queries_total counter\n"
      "conclave_dns_queries_total {}\n"
      "# HELP conclave_dns_refused_total DNS queries for names outside the domain.\n"
      "# TYPE conclave_dns_refused_total counter\nconclave_dns_refused_total {}\n"
      "# HELP conclave_dns_malformed_total DNS messages that could not be parsed.\n"
      "# TYPE conclave_dns_malformed_total counter\nconclave_dns_malformed_total {}\n"
      "# HELP conclave_dns_truncated_total UDP answers truncated (TC set).\n"
      "# TYPE conclave_dns_truncated_total counter\nconclave_dns_truncated_total {}\n",
      resolver_.queries(), resolver_.refused(), resolver_.malformed(), resolver_.truncated());
}

}  // namespace conclave::dns
