// The socket half that both kinds of TCP stream share: the one-thread stream (net/event_loop.cc)
// and the I/O-thread stream (net/io_threads.cc). It owns the socket and does three things the
// same way for both: how a connection reads, how its queued replies leave, and how it shuts down.
// Includes Asio: for net/*.cc only.
//
// Reading has two modes. A busy connection (data within kHotWindow of the previous data) reads
// with async_read_some into its own small buffer: Asio tries the recv at once and, when nothing
// is there, parks the read without an epoll_ctl. A quiet connection (a ZooKeeper session between
// pings, a Consul blocking query) owns no buffer: it waits for readability, which costs an
// epoll_ctl per wait, and then reads into its thread's one shared buffer. A busy connection that
// falls quiet gives its buffer back at its next read. An idle ZooKeeper session stays quiet:
// clients ping every third of the session timeout, which is at least 4 s.
//
// Writing: replies queued meanwhile leave in one gathered write; what is queued while a write is
// in flight leaves in the next.
//
// Contract with `Derived` (CRTP; it also derives from std::enable_shared_from_this<Derived>):
//   void on_bytes(std::string_view)  what was read, on the socket's thread
//   bool read_allowed()              false to stop reading for now (Derived restarts with read())
//   void finish()                    the connection ended; calls close_socket() first
// All of it runs on the thread of the socket's executor.
#pragma once

#include <boost/asio.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace conclave::net::detail {

template <class Derived>
class SocketStream {
 protected:
  using tcp = boost::asio::ip::tcp;
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kHotBufferBytes = 2048;
  static constexpr Clock::duration kHotWindow = std::chrono::seconds(1);

  SocketStream(tcp::socket socket, size_t read_buffer_bytes)
      : socket_(std::move(socket)), read_buffer_bytes_(read_buffer_bytes) {
    namespace asio = boost::asio;
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
      remote_address_ = addr.to_string();
      remote_port_ = ep.port();
    }
    auto lep = socket_.local_endpoint(ec);
    if (!ec) local_port_ = lep.port();
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
  }

  bool open() const { return !closed_ && !closing_; }

  void read() {
    if (!open() || !derived().read_allowed()) return;
    if (hot_) read_hot();
    else read_cold();
  }

  void queue_own(std::string bytes) { queued_.push_back(Chunk{std::move(bytes), nullptr}); }
  void queue_shared(std::shared_ptr<const std::string> bytes) { queued_.push_back(Chunk{{}, std::move(bytes)}); }

  void write() {
    writing_ = true;
    in_flight_.swap(queued_);
    queued_.clear();
    bufs_.clear();
    for (const auto& c : in_flight_) {
      const std::string& s = c.shared ? *c.shared : c.own;
      bufs_.emplace_back(s.data(), s.size());
    }
    boost::asio::async_write(socket_, bufs_, [self = derived().shared_from_this()](const boost::system::error_code& ec, size_t) {
      self->writing_ = false;
      self->in_flight_.clear();
      if (ec) {
        self->finish();
        return;
      }
      if (self->closed_) return;
      if (!self->queued_.empty()) self->write();
      else if (self->closing_) self->shutdown();
    });
  }

  void shutdown() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    derived().finish();
  }

  /// For Derived::finish(): false when the socket was already closed (finish has run).
  bool close_socket() {
    if (closed_) return false;
    closed_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    return true;
  }

  tcp::socket socket_;
  size_t read_buffer_bytes_;
  struct Chunk {
    std::string own;
    std::shared_ptr<const std::string> shared;  // when set, `own` is empty
  };
  std::vector<Chunk> queued_;
  std::vector<Chunk> in_flight_;
  std::vector<boost::asio::const_buffer> bufs_;  // in_flight_ as Asio sees it
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  std::string remote_address_;
  uint16_t remote_port_ = 0;
  uint16_t local_port_ = 0;

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }

  void read_cold() {
    hot_buffer_.reset();
    socket_.async_wait(tcp::socket::wait_read, [self = derived().shared_from_this()](const boost::system::error_code& ec) {
      if (self->closed_) return;
      if (ec) {
        self->finish();
        return;
      }
      if (self->drain()) self->read();
    });
  }

  void read_hot() {
    if (!hot_buffer_) hot_buffer_ = std::make_unique<char[]>(kHotBufferBytes);
    socket_.async_read_some(boost::asio::buffer(hot_buffer_.get(), kHotBufferBytes),
                            [self = derived().shared_from_this()](const boost::system::error_code& ec, size_t n) {
                              if (self->closed_) return;
                              if (ec) {
                                self->finish();
                                return;
                              }
                              self->took(std::string_view(self->hot_buffer_.get(), n));
                              // A full buffer may have left more behind: take it now.
                              if (n == kHotBufferBytes && !self->drain()) return;
                              self->read();
                            });
  }

  // Reads what is available now into the thread's shared buffer and hands it on. False when the
  // connection failed (and is finished).
  bool drain() {
    if (!open()) return true;
    thread_local std::vector<char> shared;
    if (shared.size() < read_buffer_bytes_) shared.resize(read_buffer_bytes_);
    boost::system::error_code rec;
    size_t n = socket_.read_some(boost::asio::buffer(shared.data(), read_buffer_bytes_), rec);
    if (rec == boost::asio::error::would_block || rec == boost::asio::error::try_again) return true;
    if (rec) {
      derived().finish();
      return false;
    }
    took(std::string_view(shared.data(), n));
    return true;
  }

  void took(std::string_view bytes) {
    auto now = Clock::now();
    hot_ = now - last_data_ < kHotWindow;
    last_data_ = now;
    derived().on_bytes(bytes);
  }

  std::unique_ptr<char[]> hot_buffer_;  // only while busy
  Clock::time_point last_data_{};
  bool hot_ = false;
};

}  // namespace conclave::net::detail
