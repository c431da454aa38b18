// The peer port: its framing (net/peer_frames.h) as a node reads it from an accepted connection,
// and the payloads it delivers as the node decodes them (Raft messages, forwarded writes of kind 2
// and 9; command entries split as server/entry_codec.h says; trace reads of kinds 10 and 11). Two modes, by the first byte:
//   even: the rest is the byte stream of a connection, fed in pieces. The reader delivers whole
//         messages or refuses the stream; what it delivers decodes or is dropped, and a decodable
//         forwarded write re-encodes to the same body.
//   odd:  the rest is a list of payloads that a node sends through the framing, chunked small; the
//         reader on the other side must deliver exactly them, whatever the pieces.
#include <cstdint>
#include <string>
#include <vector>

#include "common/assert.h"
#include "common/bytes.h"
#include "net/peer_frames.h"
#include "raft/codec.h"
#include "server/entry_codec.h"
#include "server/forward_codec.h"
#include "server/trace_gather.h"
#include "state/command.h"

using namespace conclave;
using net::peer_frames::FrameReader;

namespace {

struct NodeSink : FrameReader::Sink {
  std::vector<std::string> messages;
  bool hello(uint64_t id) override { return id == 2 || id == 3; }
  bool message(std::string p) override {
    CONCLAVE_ASSERT(p.size() <= net::peer_frames::kMaxMessageBytes, "a delivered message respects the limit");
    messages.push_back(std::move(p));
    return true;
  }
};

void decode_as_the_node_does(const std::string& payload) {
  if (payload.empty()) return;
  std::string_view body = std::string_view(payload).substr(1);
  uint8_t kind = static_cast<uint8_t>(payload[0]);
  if (kind == 1) {
    raft::Message m;
    if (!raft::decode_message(body, &m)) return;
    // Each command entry's payload, as the replication trace and the apply path split it.
    for (const auto& e : m.entries) {
      if (e.type != raft::EntryType::kCommand) continue;
      server::EntryPayload p;
      if (!server::decode_entry(e.data, &p)) continue;
      if (p.parent) {
        std::string again;
        server::encode_traced_entry(*p.parent, p.command, again);
        CONCLAVE_ASSERT(again.size() == e.data.size(), "a traced entry re-encodes to its size");
      }
      state::Command c;
      (void)state::decode_command(p.command, &c);
    }
  } else if (kind == server::TraceGather::kQuery || kind == server::TraceGather::kReply) {
    // A trace read asked by a member, or a member's answer to ours (never asked here: dropped).
    server::TraceGather::Hooks h;
    h.send = [](uint64_t, std::string) {};
    h.members = [] { return std::vector<uint64_t>{}; };
    h.local = [](const std::string&, const server::TraceGather::Query&) { return trace::ApiAnswer{404, "none"}; };
    h.after = [](int64_t, std::function<void()>) {};
    server::TraceGather g(h);
    if (kind == server::TraceGather::kQuery) g.on_query(2, body);
    else g.on_reply(2, body);
  } else if (kind == 2 || kind == 9) {
    server::ForwardBody f;
    if (!server::decode_forward(kind == 9, body, &f)) return;
    std::string again;
    server::encode_forward(f, again);
    CONCLAVE_ASSERT(again == body, "a forwarded write re-encodes to its body");
    state::Command c;
    (void)state::decode_command(f.command, &c);
  }
}

// Piece sizes from the input itself, so that the fuzzer explores the splits too.
size_t piece(std::string_view& sizes) {
  if (sizes.empty()) return 64;
  size_t n = 1 + static_cast<uint8_t>(sizes[0]) % 97;
  sizes.remove_prefix(1);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::string_view sizes = in;
  if (data[0] % 2 == 0) {
    FrameReader reader(4096);
    NodeSink sink;
    size_t pos = 0;
    while (pos < in.size()) {
      size_t n = std::min(in.size() - pos, piece(sizes));
      auto out = reader.feed(in.substr(pos, n), sink);
      pos += n;
      if (out != FrameReader::Outcome::kOk) {
        CONCLAVE_ASSERT(out == FrameReader::Outcome::kMalformed && !reader.error().empty(), "a refusal says why");
        break;
      }
    }
    for (const auto& m : sink.messages) decode_as_the_node_does(m);
    return 0;
  }
  // Payloads: u8 length, bytes (a short last one takes what is left).
  std::vector<std::string> sent;
  for (std::string_view left = in; !left.empty();) {
    size_t n = std::min<size_t>(static_cast<uint8_t>(left[0]), left.size() - 1);
    sent.emplace_back(left.substr(1, n));
    left.remove_prefix(1 + n);
  }
  uint32_t chunk = 1 + data[1] % 48;
  std::string wire = net::peer_frames::hello(3);
  uint64_t stream = 1;
  std::vector<std::string> frames;
  for (const auto& p : sent) {
    net::peer_frames::message(p, chunk, stream++, frames);
    for (auto& f : frames) wire += f;
    frames.clear();
  }
  FrameReader reader(4096);
  NodeSink sink;
  size_t pos = 0;
  while (pos < wire.size()) {
    size_t n = std::min(wire.size() - pos, piece(sizes));
    CONCLAVE_ASSERT(reader.feed(std::string_view(wire).substr(pos, n), sink) == FrameReader::Outcome::kOk,
                    "what a node sends is read back");
    pos += n;
  }
  CONCLAVE_ASSERT(sink.messages == sent, "every payload arrives, whole and in order");
  return 0;
}
