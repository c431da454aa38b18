// I/O threads for the client front-ends (ZooKeeper and HTTP listeners).
//
// Without them, one event-loop thread does everything: the system calls of every connection, the
// protocols, and applying the log. With N of them, the sockets of accepted connections live on N
// threads of their own, which do the recv/sendmsg/epoll work, while every StreamHandler (the
// protocol front-ends, the state machine) still runs on the event loop's one thread. Hand-offs are
// batched: one wake-up carries everything a thread read since the last one, and what the loop
// sends during one turn reaches each I/O thread in one hand-off.
//
// Contract, the same as with one thread:
// - a connection's bytes reach its handler in the order they arrived, on the loop thread;
// - what a handler sends leaves in the order it was sent, so an event sent before a reply reaches
//   the client before it (ZooKeeper's watch-before-reply rule);
// - on_close() is called once, on the loop thread, and the handler is destroyed there;
// - a connection whose handler falls behind stops being read (at 1 MiB not yet handed over), so a
//   fast client cannot grow the queue between the threads without bound.
#pragma once

#include <memory>

namespace conclave::net {

class EventLoop;

class IoThreads {
 public:
  /// Starts `threads` (>= 1) I/O threads that hand work to `loop`.
  IoThreads(EventLoop& loop, int threads);
  /// Stops and joins the threads, then closes the connections still open. Call with the loop
  /// stopped; handlers still held are destroyed on the calling thread.
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  int size() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace conclave::net
