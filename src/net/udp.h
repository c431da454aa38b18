// A UDP request/response listener on the event loop (DNS over UDP): every datagram is handed to
// the handler, whose non-empty return value is sent back to the sender. Asio stays in udp.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace conclave::net {

class EventLoop;

class UdpServer {
 public:
  using Handler = std::function<std::string(std::string_view datagram)>;
  /// Binds host:port (0 picks a free port) and starts receiving.
  static Result<std::unique_ptr<UdpServer>> listen(EventLoop& loop, const std::string& host, uint16_t port,
                                                   Handler handler);
  ~UdpServer();
  uint16_t port() const;
  uint64_t datagrams() const;

  struct Impl;

 private:
  explicit UdpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace conclave::net
