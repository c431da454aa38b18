// The peer port's framing (net/peer_frames.h) and the forwarded-write body (server/forward_codec.h).
#include <gtest/gtest.h>

#include <random>

#include "common/bytes.h"
#include "net/peer_frames.h"
#include "server/forward_codec.h"

namespace conclave::net::peer_frames {
namespace {

struct Collect : FrameReader::Sink {
  std::vector<uint64_t> hellos;
  std::vector<std::string> messages;
  bool accept_hello = true;
  bool stop_after_first = false;
  bool hello(uint64_t id) override {
    hellos.push_back(id);
    return accept_hello;
  }
  bool message(std::string p) override {
    messages.push_back(std::move(p));
    return !stop_after_first;
  }
};

std::string payload(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed)) & 0xff);
  return s;
}

TEST(PeerFrames, MessagesSurviveAnySplitAndChunking) {
  std::mt19937 rng(7);
  for (uint32_t chunk : {16u, 100u, 1u << 20}) {
    std::string wire = hello(2);
    std::vector<std::string> sent;
    uint64_t stream = 1;
    for (size_t n : {1, 15, 16, 17, 99, 100, 101, 1000, 3001}) {
      sent.push_back(payload(n, static_cast<int>(n)));
      std::vector<std::string> frames;
      message(sent.back(), chunk, stream++, frames);
      for (auto& f : frames) wire += f;
    }
    FrameReader reader(1 << 20);
    Collect sink;
    size_t pos = 0;
    while (pos < wire.size()) {
      size_t n = std::min<size_t>(wire.size() - pos, 1 + rng() % 37);
      ASSERT_EQ(reader.feed(std::string_view(wire).substr(pos, n), sink), FrameReader::Outcome::kOk) << reader.error();
      pos += n;
    }
    EXPECT_EQ(sink.hellos, std::vector<uint64_t>{2});
    EXPECT_EQ(reader.peer(), 2u);
    EXPECT_EQ(sink.messages, sent) << "chunk " << chunk;
  }
}

TEST(PeerFrames, ChunksOfInterleavedStreams) {
  std::string a = payload(50, 1), b = payload(70, 2);
  std::vector<std::string> fa, fb;
  message(a, 20, 1, fa);
  message(b, 20, 2, fb);
  std::string wire;
  for (size_t i = 0; i < std::max(fa.size(), fb.size()); ++i) {
    if (i < fa.size()) wire += fa[i];
    if (i < fb.size()) wire += fb[i];
  }
  FrameReader reader(1 << 20, 3);  // dialled: no hello expected
  Collect sink;
  ASSERT_EQ(reader.feed(wire, sink), FrameReader::Outcome::kOk) << reader.error();
  EXPECT_EQ(sink.messages, (std::vector<std::string>{a, b}));
}

struct Bad {
  const char* name;
  std::string wire;
  const char* why;
};

std::string chunk_frame(uint64_t stream, uint32_t total, std::string_view piece) {
  std::string body;
  Writer w(body);
  w.u64(stream);
  w.u32(total);
  w.raw(piece);
  return frame(kChunk, body);
}

TEST(PeerFrames, MalformedStreamsAreRefusedAndDeliverNothingOfTheBadFrame) {
  std::string bad_magic;
  {
    std::string body;
    Writer w(body);
    w.u32(kMagic ^ 1);
    w.u64(2);
    bad_magic = frame(kHello, body);
  }
  std::string four_streams;
  for (uint64_t s = 1; s <= 4; ++s) four_streams += chunk_frame(s, 10, "ab");
  std::vector<Bad> cases = {
      {"data before hello", frame(kData, "x"), "data before hello"},
      {"bad magic", bad_magic, "bad hello"},
      {"second hello", hello(2) + hello(3), "bad hello"},
      {"hello of id 0", hello(0), "bad hello"},
      {"truncated hello", frame(kHello, "abc"), "bad hello"},
      {"zero length", hello(2) + std::string(4, '\0'), "out of bounds"},
      {"oversized", hello(2) + std::string("\x7f\xff\xff\xff", 4), "out of bounds"},
      {"unknown kind", hello(2) + frame(77, "x"), "unknown frame kind 77"},
      {"chunk header cut", hello(2) + frame(kChunk, "1234567"), "bad chunk"},
      {"chunk past its total", hello(2) + chunk_frame(1, 3, "ab") + chunk_frame(1, 3, "cd"), "bad chunk"},
      {"empty chunk", hello(2) + chunk_frame(1, 3, ""), "bad chunk"},
      {"total over the limit", hello(2) + chunk_frame(1, kMaxMessageBytes + 1, "ab"), "bad chunk"},
      {"a fifth open stream", hello(2) + four_streams + chunk_frame(5, 10, "ab"), "too many chunked streams"},
  };
  for (const auto& c : cases) {
    FrameReader reader(1 << 20);
    Collect sink;
    EXPECT_EQ(reader.feed(c.wire, sink), FrameReader::Outcome::kMalformed) << c.name;
    EXPECT_NE(reader.error().find(c.why), std::string::npos) << c.name << ": " << reader.error();
    EXPECT_TRUE(sink.messages.empty()) << c.name;
  }
  // A hello the node refuses (an unknown id, or its own).
  FrameReader reader(1 << 20);
  Collect sink;
  sink.accept_hello = false;
  EXPECT_EQ(reader.feed(hello(9) + frame(kData, "x"), sink), FrameReader::Outcome::kMalformed);
  EXPECT_TRUE(sink.messages.empty());
}

TEST(PeerFrames, StopsWhenTheSinkSaysSo) {
  FrameReader reader(1 << 20, 2);
  Collect sink;
  sink.stop_after_first = true;
  EXPECT_EQ(reader.feed(frame(kData, "a") + frame(kData, "b"), sink), FrameReader::Outcome::kStopped);
  EXPECT_EQ(sink.messages, std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace conclave::net::peer_frames

namespace conclave::server {
namespace {

TEST(ForwardCodec, UnusedFlagBitsRoundTrip) {
  // Found by fuzz_peer: flags 0x05 came back as 0x01.
  ForwardBody f;
  f.parent = trace::Parent{trace::TraceId{0, 1}, 2, true};
  f.flags = 0x05;
  std::string body;
  encode_forward(f, body);
  ForwardBody g;
  ASSERT_TRUE(decode_forward(true, body, &g));
  EXPECT_EQ(g.flags, 0x05);
  EXPECT_TRUE(g.parent->debug);
  std::string again;
  encode_forward(g, again);
  EXPECT_EQ(again, body);
}

TEST(ForwardCodec, RoundTripsAndRefusesShortBodies) {
  for (bool traced : {false, true}) {
    ForwardBody f;
    if (traced) f.parent = trace::Parent{trace::TraceId{0x1122, 0x3344}, 0x55, true};
    f.origin = 0x0102030405060708ull;
    f.command = "command bytes";
    std::string body;
    encode_forward(f, body);
    EXPECT_EQ(body.size(), (traced ? 25u : 0u) + 8 + f.command.size());
    ForwardBody g;
    ASSERT_TRUE(decode_forward(traced, body, &g));
    EXPECT_EQ(g.origin, f.origin);
    EXPECT_EQ(g.command, f.command);
    ASSERT_EQ(g.parent.has_value(), traced);
    if (traced) {
      EXPECT_EQ(g.parent->trace_id.high, 0x1122u);
      EXPECT_EQ(g.parent->trace_id.low, 0x3344u);
      EXPECT_EQ(g.parent->span_id, 0x55u);
      EXPECT_TRUE(g.parent->debug);
    }
    for (size_t cut = 0; cut < (traced ? 33u : 8u); ++cut)
      EXPECT_FALSE(decode_forward(traced, std::string_view(body).substr(0, cut), &g)) << cut;
  }
}

}  // namespace
}  // namespace conclave::server
