#include "net/probe.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "net/event_loop.h"

namespace conclave::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

std::string describe(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted || ec == beast::error::timeout) return "timeout";
  return ec.message();
}

struct HttpExchange : std::enable_shared_from_this<HttpExchange> {
  HttpExchange(asio::io_context& io, Prober::Done done) : resolver(io), stream(io), done(std::move(done)) {}
  tcp::resolver resolver;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> request;
  bhttp::response_parser<bhttp::string_body> parser;
  Prober::Done done;
  int64_t timeout_ms = 10000;

  void fail(const boost::system::error_code& ec) {
    ProbeResult r;
    r.error = describe(ec);
    finish(std::move(r));
  }
  void finish(ProbeResult r) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    if (done) std::exchange(done, nullptr)(std::move(r));
  }
  void start(const std::string& host, const std::string& port) {
    auto self = shared_from_this();
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    resolver.async_resolve(host, port, [self](const boost::system::error_code& ec, tcp::resolver::results_type rs) {
      if (ec) return self->fail(ec);
      self->stream.async_connect(rs, [self](const boost::system::error_code& ec, const tcp::endpoint&) {
        if (ec) return self->fail(ec);
        bhttp::async_write(self->stream, self->request, [self](const boost::system::error_code& ec, size_t) {
          if (ec) return self->fail(ec);
          self->parser.body_limit(1024 * 1024);
          bhttp::async_read(self->stream, self->buffer, self->parser,
                            [self](const boost::system::error_code& ec, size_t) {
                              if (ec && !(ec == bhttp::error::body_limit && self->parser.is_header_done()))
                                return self->fail(ec);
                              ProbeResult r;
                              r.connected = true;
                              const auto& res = self->parser.get();
                              r.http_status = static_cast<int>(res.result_int());
                              r.reason = std::string(res.reason());
                              r.body = res.body().substr(0, kMaxProbeBody);
                              self->finish(std::move(r));
                            });
        });
      });
    });
  }
};

struct TcpExchange : std::enable_shared_from_this<TcpExchange> {
  TcpExchange(asio::io_context& io, Prober::Done done) : resolver(io), stream(io), done(std::move(done)) {}
  tcp::resolver resolver;
  beast::tcp_stream stream;
  Prober::Done done;
  void finish(ProbeResult r) {
    stream.close();
    if (done) std::exchange(done, nullptr)(std::move(r));
  }
  void start(const std::string& host, const std::string& port, int64_t timeout_ms) {
    auto self = shared_from_this();
    stream.expires_after(std::chrono::milliseconds(timeout_ms));
    resolver.async_resolve(host, port, [self](const boost::system::error_code& ec, tcp::resolver::results_type rs) {
      ProbeResult r;
      if (ec) {
        r.error = describe(ec);
        return self->finish(std::move(r));
      }
      self->stream.async_connect(rs, [self](const boost::system::error_code& ec, const tcp::endpoint&) {
        ProbeResult r;
        r.connected = !ec;
        if (ec) r.error = describe(ec);
        self->finish(std::move(r));
      });
    });
  }
};

struct UdpExchange : std::enable_shared_from_this<UdpExchange> {
  UdpExchange(asio::io_context& io, Prober::Done done) : resolver(io), socket(io), timer(io), done(std::move(done)) {}
  udp::resolver resolver;
  udp::socket socket;
  asio::steady_timer timer;
  udp::endpoint from;
  char reply[512];
  Prober::Done done;
  void finish(ProbeResult r) {
    timer.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
    if (done) std::exchange(done, nullptr)(std::move(r));
  }
  void start(const std::string& host, const std::string& port, int64_t timeout_ms) {
    auto self = shared_from_this();
    resolver.async_resolve(host, port, [self, timeout_ms](const boost::system::error_code& ec, udp::resolver::results_type rs) {
      ProbeResult r;
      if (ec || rs.empty()) {
        r.error = ec ? describe(ec) : "no address";
        return self->finish(std::move(r));
      }
      udp::endpoint to = *rs.begin();
      boost::system::error_code oc;
      self->socket.open(to.protocol(), oc);
      if (!oc) self->socket.connect(to, oc);  // connected: ICMP errors come back on receive
      if (oc) {
        r.error = describe(oc);
        return self->finish(std::move(r));
      }
      static const char kPayload[] = "Consul health check";
      self->socket.async_send(asio::buffer(kPayload, sizeof kPayload - 1), [self](const boost::system::error_code& ec, size_t) {
        if (ec) {
          ProbeResult r;
          r.error = describe(ec);
          return self->finish(std::move(r));
        }
        self->socket.async_receive(asio::buffer(self->reply), [self](const boost::system::error_code& ec, size_t) {
          ProbeResult r;
          if (ec == asio::error::operation_aborted) {
            r.connected = true;  // silence until the timeout: the datagram was not refused
          } else if (ec) {
            r.error = describe(ec);
          } else {
            r.connected = true;
          }
          self->finish(std::move(r));
        });
      });
      self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
      self->timer.async_wait([self](const boost::system::error_code& ec) {
        if (!ec) {
          boost::system::error_code ignored;
          self->socket.cancel(ignored);
        }
      });
    });
  }
};

class AsioProber : public Prober {
 public:
  explicit AsioProber(EventLoop& loop) : io_(*static_cast<asio::io_context*>(loop.native_handle())) {}

  void http(HttpProbe p, Done done) override {
    std::string url = p.url, host, port, target = "/";
    constexpr std::string_view kHttp = "http://";
    if (url.rfind(kHttp, 0) != 0) {
      ProbeResult r;
      r.error = url.rfind("https://", 0) == 0 ? "https checks are not supported by this agent" : "invalid URL";
      return done(std::move(r));
    }
    std::string rest = url.substr(kHttp.size());
    auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    if (slash != std::string::npos) target = rest.substr(slash);
    if (!split_host_port(authority, &host, &port)) {
      host = authority;
      port = "80";
      if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) {
      ProbeResult r;
      r.error = "invalid URL";
      return done(std::move(r));
    }
    auto x = std::make_shared<HttpExchange>(io_, std::move(done));
    x->timeout_ms = p.timeout_ms;
    bhttp::verb verb = bhttp::string_to_verb(p.method);
    if (verb == bhttp::verb::unknown) verb = bhttp::verb::get;
    x->request = bhttp::request<bhttp::string_body>(verb, target, 11);
    x->request.set(bhttp::field::host, authority);
    x->request.set(bhttp::field::user_agent, "Consul Health Check");
    x->request.set(bhttp::field::accept, "text/plain, text/*, */*");
    x->request.set(bhttp::field::connection, "close");
    for (const auto& [k, v] : p.headers) x->request.insert(k, v);
    if (!p.body.empty()) x->request.body() = p.body;
    x->request.prepare_payload();
    x->start(host, port);
  }

  void tcp(std::string address, int64_t timeout_ms, Done done) override {
    std::string host, port;
    if (!split_host_port(address, &host, &port)) {
      ProbeResult r;
      r.error = "invalid address '" + address + "'";
      return done(std::move(r));
    }
    std::make_shared<TcpExchange>(io_, std::move(done))->start(host, port, timeout_ms);
  }

  void udp(std::string address, int64_t timeout_ms, Done done) override {
    std::string host, port;
    if (!split_host_port(address, &host, &port)) {
      ProbeResult r;
      r.error = "invalid address '" + address + "'";
      return done(std::move(r));
    }
    std::make_shared<UdpExchange>(io_, std::move(done))->start(host, port, timeout_ms);
  }

 private:
  asio::io_context& io_;
};

}  // namespace

bool split_host_port(const std::string& address, std::string* host, std::string* port) {
  if (!address.empty() && address.front() == '[') {
    auto close = address.find("]:");
    if (close == std::string::npos) return false;
    *host = address.substr(1, close - 1);
    *port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) return false;
    *host = address.substr(0, colon);
    *port = address.substr(colon + 1);
  }
  return !host->empty() && !port->empty() && port->find_first_not_of("0123456789") == std::string::npos;
}

std::unique_ptr<Prober> make_prober(EventLoop& loop) { return std::make_unique<AsioProber>(loop); }

}  // namespace conclave::net
