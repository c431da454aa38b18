// Transport-neutral view of one client connection. Front-ends (zk/, consul/) speak to a Stream
// and implement StreamHandler; net/ binds both to sockets. Keeping Asio out of these headers keeps
// it out of every protocol translation unit (and makes the protocols testable without sockets).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace conclave::net {

class Stream {
 public:
  virtual ~Stream() = default;
  /// Queues bytes for sending; sends are batched per event-loop turn.
  virtual void send(std::string bytes) = 0;
  /// Queues bytes shared with other connections (one large reply sent to many): no copy where
  /// the transport can avoid one.
  virtual void send_shared(std::shared_ptr<const std::string> bytes) { send(std::string(*bytes)); }
  /// Closes after everything queued so far has been sent.
  virtual void close() = 0;
  virtual const std::string& remote_address() const = 0;
  virtual uint16_t remote_port() const = 0;
  virtual uint16_t local_port() const = 0;
};

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  /// Bytes received; the handler keeps what it cannot parse yet.
  virtual void on_data(std::string_view bytes) = 0;
  /// The peer closed or the connection failed; the Stream must not be used afterwards.
  virtual void on_close() = 0;
};

/// Creates the handler for a newly accepted connection; returning nullptr refuses it.
class Acceptor {
 public:
  virtual ~Acceptor() = default;
  virtual std::unique_ptr<StreamHandler> accept(Stream& stream) = 0;
};

}  // namespace conclave::net
