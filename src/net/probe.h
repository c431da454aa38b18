// Outbound probes for health checks: an HTTP request, a TCP connect, a UDP exchange, each with a
// timeout, run on the event loop without blocking it. The interface has no Asio in it, so the
// Consul front-end (which schedules checks) stays testable with a fake; net/probe.cc implements
// it with Asio and Beast.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace conclave::net {

class EventLoop;

struct HttpProbe {
  std::string method = "GET";
  std::string url;  // http://host[:port]/path
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t timeout_ms = 10000;
};

struct ProbeResult {
  bool connected = false;  // the exchange completed (HTTP: a response came; TCP: connected)
  int http_status = 0;     // HTTP only
  std::string reason;      // HTTP only: the status line's reason ("OK")
  std::string body;        // HTTP only: the first kMaxProbeBody bytes of the response body
  std::string error;       // why it did not complete ("connection refused", "timeout", ...)
};

inline constexpr size_t kMaxProbeBody = 4096;  // Consul's check output limit

class Prober {
 public:
  using Done = std::function<void(ProbeResult)>;
  virtual ~Prober() = default;
  virtual void http(HttpProbe probe, Done done) = 0;
  /// `address` is "host:port" or "[v6]:port".
  virtual void tcp(std::string address, int64_t timeout_ms, Done done) = 0;
  /// Sends a datagram and waits for a reply: a reply or silence until the timeout counts as
  /// connected (as Consul's UDP check); an ICMP "port unreachable" does not.
  virtual void udp(std::string address, int64_t timeout_ms, Done done) = 0;
};

/// Probes on `loop`; callbacks run on the loop thread.
std::unique_ptr<Prober> make_prober(EventLoop& loop);

/// Splits "host:port" / "[v6]:port"; false when malformed.
bool split_host_port(const std::string& address, std::string* host, std::string* port);

}  // namespace conclave::net
