#include "net/udp.h"

#include <boost/asio.hpp>

#include "net/event_loop.h"

namespace conclave::net {

namespace asio = boost::asio;
using udp = asio::ip::udp;

struct UdpServer::Impl : std::enable_shared_from_this<UdpServer::Impl> {
  Impl(asio::io_context& io, Handler h) : socket(io), handler(std::move(h)) {}
  udp::socket socket;
  Handler handler;
  udp::endpoint from;
  char buf[65536];
  uint64_t datagrams = 0;
  bool closed = false;

  void receive() {
    auto self = shared_from_this();
    socket.async_receive_from(asio::buffer(buf), from, [self](const boost::system::error_code& ec, size_t n) {
      if (self->closed || ec == asio::error::operation_aborted) return;
      if (!ec) {
        ++self->datagrams;
        std::string reply = self->handler(std::string_view(self->buf, n));
        if (!reply.empty()) {
          boost::system::error_code ignored;  // a reply that cannot be sent is dropped, as UDP would
          self->socket.send_to(asio::buffer(reply), self->from, 0, ignored);
        }
      }
      self->receive();
    });
  }
};

Result<std::unique_ptr<UdpServer>> UdpServer::listen(EventLoop& loop, const std::string& host, uint16_t port,
                                                     Handler handler) {
  auto& io = *static_cast<asio::io_context*>(loop.native_handle());
  auto impl = std::make_shared<Impl>(io, std::move(handler));
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error(Errc::kInvalid, "bad UDP bind address '" + host + "': " + ec.message());
  udp::endpoint ep(addr, port);
  impl->socket.open(ep.protocol(), ec);
  if (!ec) impl->socket.bind(ep, ec);
  if (ec) return make_error(Errc::kIo, "cannot bind UDP " + host + ":" + std::to_string(port) + ": " + ec.message());
  impl->receive();
  return std::unique_ptr<UdpServer>(new UdpServer(std::move(impl)));
}

UdpServer::UdpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

UdpServer::~UdpServer() {
  impl_->closed = true;
  boost::system::error_code ignored;
  impl_->socket.close(ignored);
}

uint16_t UdpServer::port() const {
  boost::system::error_code ec;
  return impl_->socket.local_endpoint(ec).port();
}

uint64_t UdpServer::datagrams() const { return impl_->datagrams; }

}  // namespace conclave::net
