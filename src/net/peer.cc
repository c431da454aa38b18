#include "net/peer.h"

#include <boost/asio.hpp>

#include <deque>
#include <set>

#include "common/bytes.h"
#include "common/log.h"
#include "net/peer_frames.h"

namespace conclave::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct PeerTransport::Impl {
  struct Conn : std::enable_shared_from_this<Conn>, peer_frames::FrameReader::Sink {
    Conn(Impl& t, tcp::socket s, uint64_t dialled = 0)
        : owner(t), socket(std::move(s)), peer(dialled), reader(t.options.max_frame_bytes, dialled) {}
    Impl& owner;
    tcp::socket socket;
    uint64_t peer = 0;  // 0 until the hello arrives (inbound)
    peer_frames::FrameReader reader;
    std::vector<char> rbuf = std::vector<char>(64 * 1024);
    std::deque<std::string> queue;
    size_t queued_bytes = 0;
    bool writing = false;
    bool closed = false;

    void start_read() {
      socket.async_read_some(asio::buffer(rbuf), [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        if (self->closed) return;
        if (ec) return self->fail("read: " + ec.message(), false);
        auto out = self->reader.feed(std::string_view(self->rbuf.data(), n), *self);
        if (out == peer_frames::FrameReader::Outcome::kMalformed) return self->fail(self->reader.error(), true);
        if (out == peer_frames::FrameReader::Outcome::kStopped || self->closed) return;
        self->start_read();
      });
    }

    bool hello(uint64_t id) override {
      if (!owner.options.peers.count(id) || id == owner.options.self) return false;
      peer = id;
      owner.adopt(shared_from_this());
      return !closed;
    }

    bool message(std::string payload) override {
      owner.on_message(peer, std::move(payload));
      return !closed;
    }

    /// Queues `frames` (emptied) for sending.
    void send_frames(std::vector<std::string>& frames) {
      if (!closed) {
        for (auto& f : frames) {
          queued_bytes += f.size();
          queue.push_back(std::move(f));
        }
        if (!writing) write();
      }
      frames.clear();
    }

    void write() {
      if (queue.empty() || closed) {
        writing = false;
        return;
      }
      writing = true;
      auto batch = std::make_shared<std::vector<std::string>>();
      size_t bytes = 0;
      while (!queue.empty() && bytes < (4u << 20)) {
        bytes += queue.front().size();
        batch->push_back(std::move(queue.front()));
        queue.pop_front();
      }
      queued_bytes -= bytes;
      std::vector<asio::const_buffer> bufs;
      for (auto& s : *batch) bufs.emplace_back(s.data(), s.size());
      asio::async_write(socket, bufs, [self = shared_from_this(), batch](const boost::system::error_code& ec, size_t) {
        if (ec) return self->fail("write: " + ec.message(), false);
        self->write();
      });
    }

    void fail(const std::string& why, bool malformed) {
      if (closed) return;
      closed = true;
      if (malformed) {
        owner.malformed++;
        log::warn("peer", "disconnecting peer {}: {}", peer, why);
      } else {
        log::debug("peer", "connection to peer {} closed: {}", peer, why);
      }
      boost::system::error_code ec;
      socket.close(ec);
      owner.lost(shared_from_this());
    }
  };

  Impl(EventLoop& l, PeerOptions o, OnMessage m, OnPeerDown d)
      : loop(l), options(std::move(o)), on_message_cb(std::move(m)),
        on_down(std::move(d)), acceptor(loop_io()) {}

  asio::io_context& loop_io();
  EventLoop& loop;
  PeerOptions options;
  OnMessage on_message_cb;
  OnPeerDown on_down;
  tcp::acceptor acceptor;
  std::map<uint64_t, std::shared_ptr<Conn>> conns;  // established, by peer id
  std::map<uint64_t, int> backoff_ms;
  std::set<uint64_t> dialing;
  uint64_t next_stream = 1;
  std::vector<std::string> frames;  // send()'s frames of one message, reused (loop thread only)
  uint64_t malformed = 0;
  bool stopped = false;

  void on_message(uint64_t from, std::string payload) { on_message_cb(from, std::move(payload)); }

  void adopt(const std::shared_ptr<Conn>& c) {
    auto it = conns.find(c->peer);
    if (it != conns.end() && it->second != c) it->second->fail("replaced by a new connection", false);
    conns[c->peer] = c;
    backoff_ms[c->peer] = 50;
  }

  void lost(const std::shared_ptr<Conn>& c) {
    if (c->peer == 0) return;
    auto it = conns.find(c->peer);
    if (it != conns.end() && it->second == c) {
      conns.erase(it);
      if (on_down) on_down(c->peer);
      if (options.self < c->peer) schedule_dial(c->peer);
    }
  }

  void accept_next() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
      if (stopped) return;
      if (!ec) {
        boost::system::error_code e2;
        s.set_option(tcp::no_delay(true), e2);
        auto c = std::make_shared<Conn>(*this, std::move(s));
        c->start_read();
      }
      accept_next();
    });
  }

  void schedule_dial(uint64_t id) {
    if (stopped || dialing.count(id)) return;
    int& b = backoff_ms[id];
    if (b == 0) b = 50;
    int delay = b;
    b = std::min(b * 2, 1000);
    dialing.insert(id);
    loop.after(std::chrono::milliseconds(delay), [this, id] {
      dialing.erase(id);
      dial(id);
    });
  }

  void dial(uint64_t id) {
    if (stopped || conns.count(id)) return;
    auto it = options.peers.find(id);
    if (it == options.peers.end()) return;
    const std::string& addr = it->second;
    auto colon = addr.rfind(':');
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(addr.substr(0, colon), ec);
    if (ec) {
      log::error("peer", "bad address for peer {}: {}", id, addr);
      return;
    }
    tcp::endpoint ep(ip, static_cast<uint16_t>(std::stoi(addr.substr(colon + 1))));
    auto sock = std::make_shared<tcp::socket>(loop_io());
    dialing.insert(id);
    sock->async_connect(ep, [this, id, sock](const boost::system::error_code& ec) {
      dialing.erase(id);
      if (stopped) return;
      if (ec) {
        schedule_dial(id);
        return;
      }
      boost::system::error_code e2;
      sock->set_option(tcp::no_delay(true), e2);
      auto c = std::make_shared<Conn>(*this, std::move(*sock), id);
      std::vector<std::string> hello{peer_frames::hello(options.self)};
      c->send_frames(hello);
      adopt(c);
      c->start_read();
      log::info("peer", "connected to peer {} at {}", id, options.peers[id]);
    });
  }

  void send(uint64_t to, std::string payload) {
    auto it = conns.find(to);
    if (it == conns.end()) return;
    auto& c = *it->second;
    if (c.queued_bytes + payload.size() > options.max_queued_bytes) return;  // slow peer: drop
    peer_frames::message(payload, options.chunk_bytes, next_stream++, frames);
    c.send_frames(frames);
  }
};

asio::io_context& PeerTransport::Impl::loop_io() {
  // The event loop's io_context, reached through EventLoop::Impl (same translation unit family).
  return *static_cast<asio::io_context*>(loop.native_handle());
}

PeerTransport::PeerTransport(EventLoop& loop, PeerOptions options, OnMessage on_message, OnPeerDown on_down)
    : impl_(std::make_unique<Impl>(loop, std::move(options), std::move(on_message), std::move(on_down))) {}

PeerTransport::~PeerTransport() {
  impl_->stopped = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  for (auto& [id, c] : impl_->conns) {
    c->closed = true;
    c->socket.close(ec);
  }
}

Status PeerTransport::start() {
  auto& o = impl_->options;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(o.bind_host, ec);
  if (ec) return make_error(Errc::kInvalid, "invalid raft bind address " + o.bind_host);
  tcp::endpoint ep(addr, o.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(128, ec);
  if (ec) return make_error(Errc::kIo, "cannot listen for peers on " + o.bind_host + ":" + std::to_string(o.port) + ": " + ec.message());
  impl_->accept_next();
  for (auto& [id, addr2] : o.peers)
    if (id > o.self) impl_->schedule_dial(id);
  return Status::Ok();
}

uint16_t PeerTransport::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void PeerTransport::send(uint64_t to, std::string payload) { impl_->send(to, std::move(payload)); }

void PeerTransport::set_peer(uint64_t id, const std::string& address) {
  impl_->options.peers[id] = address;
  if (id > impl_->options.self && !impl_->conns.count(id)) impl_->schedule_dial(id);
}

bool PeerTransport::connected(uint64_t id) const { return impl_->conns.count(id) != 0; }

uint64_t PeerTransport::malformed_frames() const { return impl_->malformed; }

}  // namespace conclave::net
