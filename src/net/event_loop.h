// The event loop and TCP listeners (Boost.Asio behind a pimpl, so that only net/*.cc include
// Asio). One loop thread runs all protocol front-ends and the state machine; other threads hand
// work to it with post().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "net/stream.h"

namespace conclave::net {

class IoThreads;

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Runs `fn` on the loop thread. Safe from any thread.
  void post(std::function<void()> fn);
  /// Runs `fn` on the loop thread every `period`, until the loop stops.
  void every(std::chrono::milliseconds period, std::function<void()> fn);
  /// Runs `fn` once after `delay`.
  void after(std::chrono::milliseconds delay, std::function<void()> fn);
  /// Runs the loop on the calling thread until stop().
  void run();
  /// Safe from any thread, including signal-handling threads.
  void stop();

  struct Impl;
  Impl& impl() { return *impl_; }
  /// The underlying boost::asio::io_context, for other net/ translation units.
  void* native_handle();

 private:
  std::unique_ptr<Impl> impl_;
};

struct ListenerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port
  size_t read_buffer_bytes = 64 * 1024;
  /// When set, accepted connections do their socket work on these threads (net/io_threads.h);
  /// their handlers still run on the loop thread.
  IoThreads* io_threads = nullptr;
};

class TcpListener {
 public:
  /// Binds and starts accepting; every accepted connection is offered to `acceptor`.
  static Result<std::unique_ptr<TcpListener>> listen(EventLoop& loop, const ListenerOptions& options,
                                                     Acceptor& acceptor);
  ~TcpListener();
  uint16_t port() const;
  void close();

  struct Impl;

 private:
  explicit TcpListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace conclave::net
