#include "net/event_loop.h"

#include <boost/asio.hpp>

#include <deque>
#include <vector>

#include "common/log.h"
#include "net/io_threads_asio.h"
#include "net/socket_stream_asio.h"

namespace conclave::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct EventLoop::Impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  std::vector<std::shared_ptr<void>> keep_alive;
};

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {}
EventLoop::~EventLoop() = default;

void EventLoop::post(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

void EventLoop::every(std::chrono::milliseconds period, std::function<void()> fn) {
  auto timer = std::make_unique<asio::steady_timer>(impl_->io);
  auto* t = timer.get();
  impl_->timers.push_back(std::move(timer));
  auto shared_fn = std::make_shared<std::function<void()>>(std::move(fn));
  auto tick = std::make_shared<std::function<void(const boost::system::error_code&)>>();
  *tick = [t, period, shared_fn, weak = std::weak_ptr(tick)](const boost::system::error_code& ec) {
    if (ec) return;
    (*shared_fn)();
    t->expires_after(period);
    if (auto self = weak.lock()) t->async_wait(*self);
  };
  t->expires_after(period);
  t->async_wait(*tick);
  impl_->keep_alive.push_back(tick);  // the recursive handler lives as long as the loop
}

void EventLoop::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(impl_->io, delay);
  timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec) fn();
  });
}

void EventLoop::run() { impl_->io.run(); }

void* EventLoop::native_handle() { return &impl_->io; }

void EventLoop::stop() { impl_->io.stop(); }

// ---- connections ----

namespace {

class AsioStream final : public Stream,
                         public detail::SocketStream<AsioStream>,
                         public std::enable_shared_from_this<AsioStream> {
 public:
  AsioStream(tcp::socket socket, size_t read_buffer_bytes) : SocketStream(std::move(socket), read_buffer_bytes) {}

  void start(std::unique_ptr<StreamHandler> handler) {
    handler_ = std::move(handler);
    read();
  }

  void send(std::string bytes) override {
    if (!open()) return;
    queue_own(std::move(bytes));
    schedule_flush();
  }
  void send_shared(std::shared_ptr<const std::string> bytes) override {
    if (!open()) return;
    queue_shared(std::move(bytes));
    schedule_flush();
  }

  void close() override {
    if (!open()) return;
    closing_ = true;
    if (writing_) return;  // the write in flight shuts down when it is done
    if (queued_.empty()) shutdown();
    else write();
  }

  const std::string& remote_address() const override { return remote_address_; }
  uint16_t remote_port() const override { return remote_port_; }
  uint16_t local_port() const override { return local_port_; }

 private:
  friend class detail::SocketStream<AsioStream>;

  bool read_allowed() const { return true; }

  // Hands bytes to the handler; replies it queues meanwhile leave in one write afterwards.
  void on_bytes(std::string_view bytes) {
    if (closing_) return;
    dispatching_ = true;
    handler_->on_data(bytes);
    dispatching_ = false;
    if (!closed_ && !writing_ && !queued_.empty()) write();
  }

  // Replies queued outside this connection's own dispatch (a commit applied, a watch fired) are
  // written once per loop turn rather than once each.
  void schedule_flush() {
    if (writing_ || dispatching_ || flush_posted_) return;
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      if (!self->closed_ && !self->writing_ && !self->queued_.empty()) self->write();
    });
  }

  // Runs once: tells the handler, closes the socket, drops the handler.
  void finish() {
    if (!close_socket()) return;
    auto handler = std::move(handler_);
    if (!handler) return;
    handler->on_close();
    // The handler may be on the stack (it can close its own stream from on_data): destroy it
    // on a later turn of the loop.
    asio::post(socket_.get_executor(), [h = std::move(handler)]() mutable { h.reset(); });
  }

  std::unique_ptr<StreamHandler> handler_;
  bool dispatching_ = false;
  bool flush_posted_ = false;
};

}  // namespace

struct TcpListener::Impl {
  Impl(asio::io_context& io, Acceptor& acc, size_t rb, IoThreads* pool)
      : acceptor(io), target(acc), read_buffer(rb), io_threads(pool) {}
  tcp::acceptor acceptor;
  Acceptor& target;
  size_t read_buffer;
  IoThreads* io_threads;
  bool closed = false;

  void accept_next() {
    if (io_threads) {
      accept_next_threaded();
      return;
    }
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (closed) return;
      if (ec) {
        accept_failed(ec);
        return;
      }
      auto stream = std::make_shared<AsioStream>(std::move(socket), read_buffer);
      auto handler = target.accept(*stream);
      if (handler) stream->start(std::move(handler));
      else stream->close();
      accept_next();
    });
  }

  // Accepts straight onto an I/O thread's context; the handler is still made here.
  void accept_next_threaded() {
    int thread = io_threads_detail::pick(*io_threads);
    acceptor.async_accept(io_threads_detail::context(*io_threads, thread),
                          [this, thread](const boost::system::error_code& ec, tcp::socket socket) {
                            if (closed) return;
                            if (ec) {
                              accept_failed(ec);
                              return;
                            }
                            io_threads_detail::adopt(*io_threads, thread, std::move(socket), target, read_buffer);
                            accept_next();
                          });
  }

  // Out of descriptors and similar: back off briefly instead of spinning.
  void accept_failed(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    log::warn("net", "accept failed: {}", ec.message());
    auto timer = std::make_shared<asio::steady_timer>(acceptor.get_executor(), std::chrono::milliseconds(50));
    timer->async_wait([this, timer](const boost::system::error_code&) { accept_next(); });
  }
};

Result<std::unique_ptr<TcpListener>> TcpListener::listen(EventLoop& loop, const ListenerOptions& options,
                                                         Acceptor& acceptor) {
  auto impl = std::make_unique<Impl>(loop.impl().io, acceptor, options.read_buffer_bytes, options.io_threads);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(options.host, ec);
  if (ec) return make_error(Errc::kInvalid, "invalid bind address '" + options.host + "': " + ec.message());
  tcp::endpoint ep(addr, options.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(Errc::kIo, "cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                                     ec.message());
  impl->accept_next();
  return std::unique_ptr<TcpListener>(new TcpListener(std::move(impl)));
}

TcpListener::TcpListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpListener::~TcpListener() { close(); }

uint16_t TcpListener::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void TcpListener::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace conclave::net
