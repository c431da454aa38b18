#include "net/peer_frames.h"

#include "common/bytes.h"

namespace conclave::net::peer_frames {

std::string frame(uint8_t kind, std::string_view body) {
  std::string f;
  f.reserve(body.size() + 5);
  Writer w(f);
  w.u32(static_cast<uint32_t>(body.size() + 1));
  w.u8(kind);
  w.raw(body);
  return f;
}

std::string hello(uint64_t self) {
  std::string body;
  Writer w(body);
  w.u32(kMagic);
  w.u64(self);
  return frame(kHello, body);
}

void message(std::string_view payload, uint32_t chunk_bytes, uint64_t stream, std::vector<std::string>& out) {
  if (payload.size() + 1 <= chunk_bytes) {
    out.push_back(frame(kData, payload));
    return;
  }
  for (size_t off = 0; off < payload.size(); off += chunk_bytes) {
    std::string body;
    Writer w(body);
    w.u64(stream);
    w.u32(static_cast<uint32_t>(payload.size()));
    w.raw(payload.substr(off, chunk_bytes));
    out.push_back(frame(kChunk, body));
  }
}

FrameReader::Outcome FrameReader::malformed(std::string why) {
  error_ = std::move(why);
  return Outcome::kMalformed;
}

FrameReader::Outcome FrameReader::feed(std::string_view bytes, Sink& sink) {
  in_.append(bytes.data(), bytes.size());
  size_t pos = 0;
  Outcome out = Outcome::kOk;
  while (in_.size() - pos >= 4) {
    Reader r(std::string_view(in_).substr(pos, 4));
    uint32_t len = r.u32();
    if (len == 0 || len > max_frame_) return malformed("frame length " + std::to_string(len) + " out of bounds");
    if (in_.size() - pos - 4 < len) break;
    std::string_view f(in_.data() + pos + 4, len);
    pos += 4 + len;
    out = handle(f, sink);
    if (out != Outcome::kOk) return out;
  }
  in_.erase(0, pos);
  return out;
}

FrameReader::Outcome FrameReader::handle(std::string_view f, Sink& sink) {
  uint8_t kind = static_cast<uint8_t>(f[0]);
  std::string_view body = f.substr(1);
  if (kind == kHello) {
    Reader r(body);
    uint32_t magic = r.u32();
    uint64_t id = r.u64();
    if (!r.ok() || r.remaining() != 0 || magic != kMagic || peer_ != 0 || id == 0 || !sink.hello(id))
      return malformed("bad hello");
    peer_ = id;
    return Outcome::kOk;
  }
  if (peer_ == 0) return malformed("data before hello");
  if (kind == kData) return sink.message(std::string(body)) ? Outcome::kOk : Outcome::kStopped;
  if (kind == kChunk) {
    Reader r(body);
    uint64_t stream = r.u64();
    uint32_t total = r.u32();
    if (!r.ok()) return malformed("bad chunk");
    std::string_view piece = r.rest();
    auto it = partial_.find(stream);
    if (it == partial_.end()) {
      if (partial_.size() >= kMaxOpenStreams) return malformed("too many chunked streams");
      it = partial_.emplace(stream, std::string()).first;
    }
    std::string& buf = it->second;
    if (total > kMaxMessageBytes || piece.empty() || buf.size() + piece.size() > total) return malformed("bad chunk");
    buf.append(piece.data(), piece.size());
    if (buf.size() < total) return Outcome::kOk;
    std::string whole = std::move(buf);
    partial_.erase(it);
    return sink.message(std::move(whole)) ? Outcome::kOk : Outcome::kStopped;
  }
  return malformed("unknown frame kind " + std::to_string(kind));
}

}  // namespace conclave::net::peer_frames
