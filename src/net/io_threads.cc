#include "net/io_threads.h"

#include <boost/asio.hpp>

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "net/event_loop.h"
#include "net/io_threads_asio.h"
#include "net/socket_stream_asio.h"

namespace conclave::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

class ThreadedStream;
struct Worker;

// Loop thread → I/O thread: bytes to send, or a close.
struct Outbound {
  enum class Kind : uint8_t { kSend, kShared, kClose };
  std::shared_ptr<ThreadedStream> stream;
  Kind kind = Kind::kSend;
  std::string own;
  std::shared_ptr<const std::string> shared;
};

// I/O thread → loop thread: a range of `bytes`, or the end of the connection. Both vectors keep
// their capacity across hand-offs (they are swapped, not reallocated).
struct Inbox {
  struct Entry {
    std::shared_ptr<ThreadedStream> stream;
    size_t offset = 0;
    size_t size = 0;
    bool closed = false;
  };
  std::vector<Entry> entries;
  std::string bytes;
  void clear() {
    entries.clear();
    bytes.clear();
  }
};

// What a connection may have read and not yet had handled, before it stops reading.
constexpr size_t kMaxInboundBytes = 1 << 20;

}  // namespace

struct IoThreads::Impl {
  Impl(EventLoop& l) : loop(l), main_io(*static_cast<asio::io_context*>(l.native_handle())) {}
  EventLoop& loop;
  asio::io_context& main_io;
  std::vector<std::unique_ptr<Worker>> workers;
  size_t next = 0;
  // Loop thread only.
  bool delivering = false;    // inside deliver(): sends are handed over when it ends
  bool flush_posted = false;  // a hand-off of pending sends is queued on the loop
  Inbox spare;                // swapped with a worker's inbox

  void schedule_flush();
  void flush_pending();
};

namespace {

struct Worker {
  Worker(IoThreads::Impl& p) : pool(p) {}
  IoThreads::Impl& pool;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread;

  std::mutex in_mu;
  Inbox inbox;  // guarded by in_mu
  std::mutex out_mu;
  std::vector<Outbound> outbox;  // guarded by out_mu
  // I/O thread only.
  std::vector<Outbound> taking;
  std::vector<ThreadedStream*> touched;
  // Loop thread only: sent during this turn, handed over at its end.
  std::vector<Outbound> pending;

  // I/O thread: queues for the loop thread; the first entry since the last hand-off wakes it.
  void push_inbound(std::shared_ptr<ThreadedStream> s, std::string_view bytes, bool closed) {
    bool wake;
    {
      std::lock_guard lock(in_mu);
      wake = inbox.entries.empty();
      inbox.entries.push_back({std::move(s), inbox.bytes.size(), bytes.size(), closed});
      inbox.bytes.append(bytes);
    }
    if (wake) asio::post(pool.main_io, [this] { deliver(); });
  }

  void deliver();       // loop thread
  void drain_outbox();  // I/O thread
};

class ThreadedStream final : public Stream,
                             public detail::SocketStream<ThreadedStream>,
                             public std::enable_shared_from_this<ThreadedStream> {
 public:
  ThreadedStream(tcp::socket socket, Worker& worker, size_t read_buffer_bytes)
      : SocketStream(std::move(socket), read_buffer_bytes), worker_(worker) {}

  // ---- loop thread ----

  void send(std::string bytes) override {
    if (main_closing_) return;
    queue({shared_from_this(), Outbound::Kind::kSend, std::move(bytes), nullptr});
  }
  void send_shared(std::shared_ptr<const std::string> bytes) override {
    if (main_closing_) return;
    queue({shared_from_this(), Outbound::Kind::kShared, {}, std::move(bytes)});
  }
  void close() override {
    if (main_closing_) return;
    main_closing_ = true;
    queue({shared_from_this(), Outbound::Kind::kClose, {}, nullptr});
  }
  const std::string& remote_address() const override { return remote_address_; }
  uint16_t remote_port() const override { return remote_port_; }
  uint16_t local_port() const override { return local_port_; }

  void set_handler(std::unique_ptr<StreamHandler> h) { handler_ = std::move(h); }
  bool has_handler() const { return handler_ != nullptr; }

  void deliver(std::string_view bytes) {
    if (handler_ && !main_closing_) handler_->on_data(bytes);
    size_t before = inbound_bytes_.fetch_sub(bytes.size());
    if (before > kMaxInboundBytes && before - bytes.size() <= kMaxInboundBytes && read_paused_.exchange(false))
      asio::post(worker_.io, [self = shared_from_this()] { self->read(); });
  }

  void deliver_close() {
    main_closing_ = true;
    auto handler = std::move(handler_);
    if (handler) handler->on_close();
  }

  // ---- I/O thread ----

  void start() { read(); }

  void take(Outbound& o) {
    if (!touched_) {
      touched_ = true;
      worker_.touched.push_back(this);
    }
    if (!open()) return;
    switch (o.kind) {
      case Outbound::Kind::kSend: queue_own(std::move(o.own)); break;
      case Outbound::Kind::kShared: queue_shared(std::move(o.shared)); break;
      case Outbound::Kind::kClose: closing_ = true; break;
    }
  }

  // After a batch of take(): one write of everything queued, or the shutdown a close asked for.
  void taken() {
    touched_ = false;
    if (closed_ || writing_) return;
    if (!queued_.empty()) write();
    else if (closing_) shutdown();
  }

 private:
  friend class detail::SocketStream<ThreadedStream>;

  // Stops reading while the loop thread has more than kMaxInboundBytes of this connection's
  // bytes to handle; deliver() starts it again.
  bool read_allowed() {
    if (inbound_bytes_.load() <= kMaxInboundBytes) return true;
    read_paused_.store(true);
    // The loop thread may have caught up in between: then it saw no pause to lift.
    return inbound_bytes_.load() <= kMaxInboundBytes && read_paused_.exchange(false);
  }

  void on_bytes(std::string_view bytes) {
    if (closing_) return;
    inbound_bytes_.fetch_add(bytes.size());
    worker_.push_inbound(shared_from_this(), bytes, false);
  }

  // Runs once: closes the socket and tells the loop thread, which tells the handler.
  void finish() {
    if (!close_socket()) return;
    queued_.clear();
    worker_.push_inbound(shared_from_this(), {}, true);
  }

  void queue(Outbound o) {
    worker_.pending.push_back(std::move(o));
    worker_.pool.schedule_flush();
  }

  Worker& worker_;
  std::atomic<size_t> inbound_bytes_{0};  // handed to the loop thread, not yet delivered
  std::atomic<bool> read_paused_{false};
  // Loop thread only.
  std::unique_ptr<StreamHandler> handler_;
  bool main_closing_ = false;
  // I/O thread only (with the socket's state in SocketStream).
  bool touched_ = false;
};

void Worker::deliver() {
  Inbox& batch = pool.spare;
  {
    std::lock_guard lock(in_mu);
    std::swap(batch, inbox);
  }
  pool.delivering = true;
  for (auto& e : batch.entries) {
    if (e.closed) e.stream->deliver_close();
    else e.stream->deliver(std::string_view(batch.bytes).substr(e.offset, e.size));
  }
  pool.delivering = false;
  batch.clear();
  pool.flush_pending();
}

void Worker::drain_outbox() {
  {
    std::lock_guard lock(out_mu);
    std::swap(taking, outbox);
  }
  for (auto& o : taking) o.stream->take(o);
  for (auto* s : touched) s->taken();
  touched.clear();
  taking.clear();
}

}  // namespace

void IoThreads::Impl::schedule_flush() {
  if (delivering || flush_posted) return;
  flush_posted = true;
  asio::post(main_io, [this] {
    flush_posted = false;
    flush_pending();
  });
}

void IoThreads::Impl::flush_pending() {
  for (auto& w : workers) {
    if (w->pending.empty()) continue;
    bool wake;
    {
      std::lock_guard lock(w->out_mu);
      wake = w->outbox.empty();
      if (wake) std::swap(w->outbox, w->pending);
      else
        for (auto& o : w->pending) w->outbox.push_back(std::move(o));
    }
    w->pending.clear();
    if (wake) asio::post(w->io, [w = w.get()] { w->drain_outbox(); });
  }
}

IoThreads::IoThreads(EventLoop& loop, int threads) : impl_(std::make_unique<Impl>(loop)) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    auto w = std::make_unique<Worker>(*impl_);
    Worker* raw = w.get();
    w->thread = std::thread([raw, i] {
      pthread_setname_np(pthread_self(), ("conclave-io-" + std::to_string(i)).c_str());
      raw->io.run();
    });
    impl_->workers.push_back(std::move(w));
  }
}

IoThreads::~IoThreads() {
  for (auto& w : impl_->workers) {
    w->guard.reset();
    w->io.stop();
  }
  for (auto& w : impl_->workers)
    if (w->thread.joinable()) w->thread.join();
  // Connections still open are destroyed with their contexts (their handlers with them, here).
  for (auto& w : impl_->workers) {
    w->inbox.clear();
    w->outbox.clear();
    w->pending.clear();
    w->taking.clear();
  }
  impl_->spare.clear();
  impl_->workers.clear();
}

int IoThreads::size() const { return static_cast<int>(impl_->workers.size()); }

namespace io_threads_detail {

int pick(IoThreads& pool) {
  auto& impl = pool.impl();
  return static_cast<int>(impl.next++ % impl.workers.size());
}

asio::io_context& context(IoThreads& pool, int thread) { return pool.impl().workers[thread]->io; }

void adopt(IoThreads& pool, int thread, tcp::socket socket, Acceptor& acceptor, size_t read_buffer_bytes) {
  auto& worker = *pool.impl().workers[thread];
  auto stream = std::make_shared<ThreadedStream>(std::move(socket), worker, read_buffer_bytes);
  auto handler = acceptor.accept(*stream);
  if (!handler) {
    stream->close();
    return;
  }
  stream->set_handler(std::move(handler));
  asio::post(worker.io, [stream] { stream->start(); });
}

}  // namespace io_threads_detail
}  // namespace conclave::net
