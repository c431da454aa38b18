// Server-to-server transport: one TCP connection per pair of nodes, carrying framed messages in
// both directions. The node with the lower id dials; the other accepts and learns who called
// from a hello frame. Large payloads (snapshots) are sent as a stream of chunks so that no frame
// exceeds the frame limit and other traffic interleaves.
//
// Frames: u32 length, u8 kind, body. A peer that sends a malformed or oversized frame, or an
// unknown id, is disconnected (and re-dialled later with back-off); nothing else is affected.
// Delivery is best effort: Raft tolerates loss, duplication and reordering across reconnects.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/result.h"
#include "net/event_loop.h"

namespace conclave::net {

struct PeerOptions {
  uint64_t self = 0;
  std::map<uint64_t, std::string> peers;  // id -> host:port (may include self; ignored)
  std::string bind_host = "127.0.0.1";
  uint16_t port = 0;
  uint32_t max_frame_bytes = 4u << 20;
  uint32_t chunk_bytes = 1u << 20;
  size_t max_queued_bytes = 256u << 20;  // per peer; beyond this, new messages are dropped
};

class PeerTransport {
 public:
  using OnMessage = std::function<void(uint64_t from, std::string payload)>;
  using OnPeerDown = std::function<void(uint64_t peer)>;

  PeerTransport(EventLoop& loop, PeerOptions options, OnMessage on_message, OnPeerDown on_down);
  ~PeerTransport();
  Status start();
  uint16_t port() const;
  /// Queues `payload` for `to`. Dropped when there is no connection (Raft retries).
  void send(uint64_t to, std::string payload);
  /// Adds or replaces a peer address (membership changes).
  void set_peer(uint64_t id, const std::string& address);
  bool connected(uint64_t id) const;
  uint64_t malformed_frames() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace conclave::net
