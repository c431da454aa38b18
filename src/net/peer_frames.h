// The peer port's framing, without sockets (net/peer.cc drives it; tests and the fuzzer use it
// directly).
//
// Frames: u32 length (of kind + body, at least 1), u8 kind, body.
//   kHello  u32 magic "CNCL", u64 the dialling node's id: the first frame of a dialled connection
//   kData   one whole message
//   kChunk  u64 stream id, u32 total length, bytes: pieces of a message larger than a frame; the
//           piece that completes the total delivers it. At most 4 streams open at once.
// Anything else, a frame over the limit, data before the hello, a second hello or one from an
// unknown id is malformed: the connection is dropped and nothing of the bad frame is delivered.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace conclave::net::peer_frames {

constexpr uint8_t kHello = 1;
constexpr uint8_t kData = 2;
constexpr uint8_t kChunk = 3;
constexpr uint32_t kMagic = 0x434E434C;  // "CNCL"
constexpr uint32_t kMaxMessageBytes = 1u << 30;
constexpr size_t kMaxOpenStreams = 4;

/// One frame of `kind` with `body`, length prefix included.
std::string frame(uint8_t kind, std::string_view body);
std::string hello(uint64_t self);
/// Appends to `out` the frames that carry `payload`: one data frame when it fits in `chunk_bytes`,
/// else chunks of stream `stream` (a number unique per sender connection).
void message(std::string_view payload, uint32_t chunk_bytes, uint64_t stream, std::vector<std::string>& out);

class FrameReader {
 public:
  /// `peer` is known for a dialled connection; 0 for an accepted one, which must say hello first.
  FrameReader(uint32_t max_frame_bytes, uint64_t peer = 0) : max_frame_(max_frame_bytes), peer_(peer) {}

  struct Sink {
    virtual ~Sink() = default;
    /// A hello naming `id`; false refuses it (unknown id, or this node's own).
    virtual bool hello(uint64_t id) = 0;
    /// A whole message from peer(); false stops reading (the connection was closed meanwhile).
    virtual bool message(std::string payload) = 0;
  };

  enum class Outcome { kOk, kStopped, kMalformed };
  /// Takes `bytes`, delivers every complete frame's content to `sink` in order, and keeps an
  /// incomplete frame for the next call. After kMalformed (see error()) or kStopped, do not call
  /// again.
  Outcome feed(std::string_view bytes, Sink& sink);
  const std::string& error() const { return error_; }
  uint64_t peer() const { return peer_; }

 private:
  Outcome handle(std::string_view frame, Sink& sink);
  Outcome malformed(std::string why);

  uint32_t max_frame_;
  uint64_t peer_;
  std::string in_;
  std::map<uint64_t, std::string> partial_;  // chunked streams being reassembled
  std::string error_;
};

}  // namespace conclave::net::peer_frames
