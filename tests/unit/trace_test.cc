#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>

#include "common/hex.h"
#include "common/json.h"
#include "server/entry_codec.h"
#include "server/replication_metrics.h"
#include "server/replication_trace.h"
#include "server/trace_gather.h"
#include "trace/context.h"
#include "trace/export.h"
#include "trace/store.h"
#include "trace/tracer.h"
#include "trace/zipkin_api.h"

using namespace conclave::trace;

namespace {
Incoming from(std::map<std::string, std::string> h) {
  return extract([&](std::string_view n) {
    auto it = h.find(std::string(n));
    return it == h.end() ? std::string_view() : std::string_view(it->second);
  });
}
}  // namespace

TEST(TraceContext, B3MultiHeader) {
  auto in = from({{"x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"}, {"x-b3-spanid", "a2fb4a1d1a96d312"},
                  {"x-b3-sampled", "1"}});
  EXPECT_EQ(in.trace_id.hex(), "463ac35c9f6413ad48485a3953bb6124");
  EXPECT_EQ(in.parent_id, 0xa2fb4a1d1a96d312ull);
  EXPECT_EQ(in.sampling, Sampling::kAccept);
  EXPECT_EQ(from({{"x-b3-traceid", "a"}, {"x-b3-spanid", "b"}, {"x-b3-flags", "1"}}).sampling, Sampling::kDebug);
  EXPECT_EQ(from({{"x-b3-sampled", "0"}}).sampling, Sampling::kDeny);
  EXPECT_EQ(from({{"x-b3-traceid", "abc"}, {"x-b3-spanid", "1"}}).trace_id.hex(), "0000000000000abc");
  // A trace id without a span id, or an id that is not hex, is no context.
  EXPECT_FALSE(from({{"x-b3-traceid", "abc"}, {"x-b3-sampled", "1"}}).trace_id.valid());
  EXPECT_FALSE(from({{"x-b3-traceid", "xyz"}, {"x-b3-spanid", "1"}}).trace_id.valid());
  EXPECT_FALSE(from({{"x-b3-traceid", std::string(33, 'a')}, {"x-b3-spanid", "1"}}).trace_id.valid());
}

TEST(TraceContext, B3SingleHeader) {
  auto in = from({{"b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"}});
  EXPECT_EQ(in.trace_id.hex(), "80f198ee56343ba864fe8b2a57d3eff7");
  EXPECT_EQ(in.parent_id, 0xe457b5a2e4d86bd1ull);
  EXPECT_EQ(in.sampling, Sampling::kAccept);
  EXPECT_EQ(from({{"b3", "0"}}).sampling, Sampling::kDeny);
  EXPECT_EQ(from({{"b3", "d"}}).sampling, Sampling::kDebug);
  EXPECT_EQ(from({{"b3", "a-b"}}).sampling, Sampling::kUnknown);
  EXPECT_TRUE(from({{"b3", "a-b"}}).trace_id.valid());
  for (const char* bad : {"x", "a", "-", "a-", "a-0", "0-b", "a-b-x", "a-b-1-zz", "a-b-1-0"})
    EXPECT_FALSE(from({{"b3", bad}}).trace_id.valid()) << bad;
  // A malformed b3 falls back to the multi headers.
  EXPECT_EQ(from({{"b3", "zz"}, {"x-b3-sampled", "1"}}).sampling, Sampling::kAccept);
}

TEST(TraceContext, W3cTraceparent) {
  auto in = from({{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, {"tracestate", "a=1"}});
  EXPECT_EQ(in.trace_id.hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(in.parent_id, 0xb7ad6b7169203331ull);
  EXPECT_EQ(in.sampling, Sampling::kAccept);
  EXPECT_EQ(in.tracestate, "a=1");
  EXPECT_EQ(from({{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}}).sampling,
            Sampling::kUnknown);
  for (const char* bad : {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
                          "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                          "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                          "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                          "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"})
    EXPECT_FALSE(from({{"traceparent", bad}}).trace_id.valid()) << bad;
  // A later version may append fields.
  EXPECT_TRUE(from({{"traceparent", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"}}).trace_id.valid());
  EXPECT_EQ(traceparent(TraceId{0, 0xab}, 0xcd, true), "00-000000000000000000000000000000ab-00000000000000cd-01");
}

TEST(SpanTexts, InternedTextIsKeptOnceAndNeverMoves) {
  Name a = intern("get /v1/kv/");
  std::string same = "get /v1/kv/";
  EXPECT_EQ(intern(same).view().data(), a.view().data());  // one copy per distinct text
  EXPECT_NE(intern("put /v1/kv/").view().data(), a.view().data());
  // Many more texts (the table rehashes) leave the first one where it was.
  for (int i = 0; i < 500; ++i) intern("text " + std::to_string(i));
  EXPECT_EQ(intern("get /v1/kv/").view().data(), a.view().data());
  EXPECT_EQ(a, "get /v1/kv/");
  EXPECT_TRUE(intern("").empty());
  EXPECT_EQ(lower_case("getData"), "getdata");
}

TEST(SpanTexts, AddressesAreHeldInlineAndCut) {
  Address ip;
  EXPECT_TRUE(ip.empty());
  ip = std::string("::1");
  EXPECT_EQ(ip, "::1");
  std::string zoned = "fe80::1%" + std::string(80, 'e');
  ip = zoned;
  EXPECT_EQ(ip.view(), zoned.substr(0, Address::kMax));
  Annotations a;
  for (int i = 0; i < 6; ++i) a.add(i, "committed");
  EXPECT_EQ(a.size(), Annotations::kMax);  // past the limit, not kept
  EXPECT_EQ(a.begin()->timestamp_us, 0);
}

TEST(Tags, InlineThenOnTheHeapThroughCopiesAndMoves) {
  auto expect = [](const Tags& t, size_t n, const std::string& last) {
    ASSERT_EQ(t.size(), n);
    size_t i = 0;
    std::string value;
    for (const auto& [k, v] : t) {
      EXPECT_EQ(k, "k" + std::to_string(i));
      value = std::string(v);
      ++i;
    }
    EXPECT_EQ(i, n);
    EXPECT_EQ(value, last);
  };
  Tags t;
  t.add("k0", 42);
  t.add_hex("k1", 0xabcu);
  expect(t, 2, "0xabc");
  Tags small = t;              // inline copy
  Tags moved = std::move(small);  // inline move
  expect(moved, 2, "0xabc");
  EXPECT_TRUE(small.empty());
  for (int i = 2; i < 20; ++i) t.add("k" + std::to_string(i), std::string(static_cast<size_t>(i), 'v'));
  ASSERT_GT(t.packed().size(), Tags::kInline);  // now on the heap
  expect(t, 20, std::string(19, 'v'));
  Tags copy = t;
  expect(copy, 20, std::string(19, 'v'));
  EXPECT_EQ(copy, t);
  Tags taken = std::move(copy);
  expect(taken, 20, std::string(19, 'v'));
  EXPECT_TRUE(copy.empty());
  copy = moved;  // the emptied one is usable again
  copy.add("k2", "x");
  expect(copy, 3, "x");
  taken = moved;  // a heap buffer assigned a small copy
  expect(taken, 2, "0xabc");
  EXPECT_EQ(Tags::from_packed(t.packed(), static_cast<uint32_t>(t.size())), t);
}

TEST(Tags, HexNumbersAsZooKeeperPrintsThem) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = i < 3 ? uint64_t{i == 2 ? ~uint64_t{0} : static_cast<uint64_t>(i)} : rng() >> (i % 64);
    Tags t;
    t.add_hex("k", v);
    char want[24];
    std::snprintf(want, sizeof want, "0x%llx", static_cast<unsigned long long>(v));
    ASSERT_EQ(std::string((*t.begin()).second), want) << v;
  }
}

TEST(Hex, SixteenDigitsAsPrintfWritesThem) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = i < 2 ? (i ? ~uint64_t{0} : 0) : rng();
    char got[16], want[17];
    conclave::hex16(v, got);
    std::snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(v));
    ASSERT_EQ(std::string(got, 16), std::string(want, 16)) << v;
  }
}

TEST(Tracer, SamplingHonoursTheCallerThenProbabilityAndRate) {
  TracerOptions o;
  o.probability = 1;
  o.max_per_second = 10;
  Tracer t(o);
  int sampled = 0;
  for (int i = 0; i < 100; ++i) sampled += t.start({}, 1000).has_value();
  EXPECT_EQ(sampled, 10);  // the bucket's worth in one millisecond
  EXPECT_TRUE(t.start({}, 1500).has_value());  // refilled
  Incoming yes;
  yes.sampling = Sampling::kAccept;
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(t.start(yes, 1500).has_value());
  Incoming no;
  no.sampling = Sampling::kDeny;
  EXPECT_FALSE(t.start(no, 5000).has_value());
  TracerOptions off;
  off.probability = 0;
  Tracer t0(off);
  EXPECT_FALSE(t0.start({}, 0).has_value());
  Incoming debug;
  debug.sampling = Sampling::kDebug;
  auto s = t0.start(debug, 0);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->debug);
  EXPECT_EQ(s->trace_id.high != 0, true);  // new traces get 128-bit ids
  auto c = t0.child(*s, "y", Kind::kClient, 9);
  EXPECT_EQ(c.trace_id, s->trace_id);
  EXPECT_EQ(c.parent_id, s->id);
}

TEST(SpanStore, BoundedOldestFirstAndQueries) {
  SpanStore st(3);
  for (uint64_t i = 1; i <= 5; ++i) {
    Span s;
    s.trace_id = TraceId{0, i % 2 ? 100 : 200};  // two traces
    s.id = i;
    s.name = i == 5 ? Name("last") : Name("op");
    s.timestamp_us = static_cast<int64_t>(i) * 1000;
    s.duration_us = static_cast<int64_t>(i);
    s.local.service_name = i == 4 ? Name("other") : Name("conclave");
    s.local.ip = "127.0.0.1";
    if (i == 5) s.remote.service_name = "peer";
    st.add(s);
  }
  EXPECT_EQ(st.size(), 3u);
  EXPECT_EQ(st.dropped(), 2u);
  auto t100 = st.trace(TraceId{0, 100});
  ASSERT_EQ(t100.size(), 2u);  // spans 3 and 5 (1 was dropped)
  EXPECT_EQ(t100[0].id, 3u);
  EXPECT_EQ(t100[1].id, 5u);
  EXPECT_EQ(st.trace(TraceId{0, 200}).size(), 1u);
  TraceQuery q;
  q.span_name = "last";
  auto found = st.traces(q);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].size(), 2u);  // the whole trace, not just the matching span
  q = {};
  q.min_duration_us = 5;
  EXPECT_EQ(st.traces(q).size(), 1u);
  q = {};
  q.end_ts_ms = 4;
  q.lookback_ms = 1;  // only span 4 (at 4 ms) is inside (3 ms, 4 ms]
  ASSERT_EQ(st.traces(q).size(), 1u);
  EXPECT_EQ(st.traces(q)[0][0].trace_id, (TraceId{0, 200}));
  EXPECT_EQ(st.span_names("conclave"), (std::vector<std::string>{"last", "op"}));
  EXPECT_EQ(st.span_names("other"), (std::vector<std::string>{"op"}));
  EXPECT_EQ(st.services(), (std::vector<std::string>{"conclave", "other"}));
  EXPECT_EQ(st.remote_services("conclave"), (std::vector<std::string>{"peer"}));
  EXPECT_TRUE(st.remote_services("other").empty());
  SpanStore none(0);
  none.add(Span{});
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.dropped(), 1u);
}

// Spans of very different sizes wrap around the store's byte ring many times: every span kept
// reads back exactly as it was added, the newest are the ones kept, and one larger than the whole
// ring is dropped, counted.
TEST(SpanStore, ByteRingKeepsTheNewestSpansIntact) {
  SpanStore st(8);  // 8 spans, 8 * kBytesPerSpan bytes
  std::mt19937 rng(7);
  std::vector<Span> added;
  for (uint64_t i = 1; i <= 2000; ++i) {
    Span s;
    s.trace_id = TraceId{i, i * 3};
    s.id = i;
    s.parent_id = i - 1;
    s.name = intern("op" + std::to_string(i));
    s.kind = Kind::kServer;
    s.timestamp_us = static_cast<int64_t>(i);
    s.duration_us = 2;
    s.shared = i % 3 == 0;
    s.local.service_name = "conclave";
    s.local.ip = "127.0.0.1";
    s.local.port = 8500;
    s.remote.ip = "::1";
    s.remote.port = static_cast<uint16_t>(i);
    s.annotations.add(static_cast<int64_t>(i), "committed");
    for (uint32_t t = 0, n = rng() % 12; t < n; ++t) s.tags.add("k" + std::to_string(t), std::string(rng() % 200, 'v'));
    added.push_back(s);
    st.add(s);
    ASSERT_LE(st.size(), 8u);
    // Every span the store still has is one of the latest, intact.
    size_t kept = 0;
    for (uint64_t j = i; j >= 1 && i - j < 8; --j) {
      auto got = st.trace(added[j - 1].trace_id);
      if (got.empty()) break;  // older ones are gone too: the store keeps a suffix
      ASSERT_EQ(got.size(), 1u);
      const Span& a = added[j - 1];
      EXPECT_EQ(got[0].id, a.id);
      EXPECT_EQ(got[0].parent_id, a.parent_id);
      EXPECT_EQ(got[0].name, a.name);
      EXPECT_EQ(got[0].kind, a.kind);
      EXPECT_EQ(got[0].shared, a.shared);
      EXPECT_EQ(got[0].local.ip, a.local.ip);
      EXPECT_EQ(got[0].remote.port, a.remote.port);
      EXPECT_EQ(got[0].annotations, a.annotations);
      EXPECT_EQ(got[0].tags, a.tags);
      ++kept;
    }
    EXPECT_EQ(kept, st.size());
  }
  EXPECT_EQ(st.accepted(), 2000u);
  Span huge;
  huge.tags.add("big", std::string(8 * SpanStore::kBytesPerSpan, 'x'));
  uint64_t dropped = st.dropped();
  st.add(huge);
  EXPECT_EQ(st.dropped(), dropped + 1);
  EXPECT_EQ(st.accepted(), 2000u);
}

TEST(ZipkinApi, AnswersAndRefusals) {
  SpanStore st(10);
  Span s;
  s.trace_id = TraceId{1, 2};
  s.id = 3;
  s.name = "get /v1/kv/";
  s.local.service_name = "conclave";
  s.tags = {{"http.status_code", "200"}};
  st.add(s);
  EXPECT_EQ(zipkin_api(st, "/api/v2/services", {}, 0).body, R"(["conclave"])");
  auto t = zipkin_api(st, "/api/v2/trace/00000000000000010000000000000002", {}, 0);
  EXPECT_EQ(t.status, 200);
  EXPECT_NE(t.body.find(R"("traceId":"00000000000000010000000000000002")"), std::string::npos);
  EXPECT_NE(t.body.find(R"("id":"0000000000000003")"), std::string::npos);
  EXPECT_EQ(zipkin_api(st, "/api/v2/trace/0000000000000002", {}, 0).status, 200);  // low half matches
  EXPECT_EQ(zipkin_api(st, "/api/v2/trace/99", {}, 0).status, 404);
  EXPECT_EQ(zipkin_api(st, "/api/v2/trace/", {}, 0).status, 400);
  EXPECT_EQ(zipkin_api(st, "/api/v2/nothing", {}, 0).status, 404);
  EXPECT_EQ(zipkin_api(st, "/api/v2/traces", {{"annotationQuery", "http.status_code=200"}}, 1).body.substr(0, 2), "[[");
  EXPECT_EQ(zipkin_api(st, "/api/v2/traces", {{"annotationQuery", "http.status_code=500"}}, 1).body, "[]");
  EXPECT_EQ(zipkin_api(st, "/api/v2/traces", {{"limit", "x"}}, 1).status, 400);
  EXPECT_EQ(zipkin_api(st, "/api/v2/traceMany", {{"traceIds", "2,zz"}}, 1).status, 400);
}

TEST(ExportQueue, BoundedBatchedOneInFlight) {
  ExportOptions o;
  o.max_queue = 5;
  o.max_batch = 3;
  o.flush_ms = 1000;
  ExportQueue q(o);
  Span s;
  EXPECT_FALSE(q.take(0));  // nothing queued
  for (int i = 0; i < 7; ++i) q.push(s);
  EXPECT_EQ(q.queued(), 5u);
  EXPECT_EQ(q.dropped(), 2u);  // the newest, once full
  auto b = q.take(10);         // a full batch goes at once
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 3u);
  EXPECT_FALSE(q.take(5000));  // one in flight at a time
  q.done(false, 3);
  EXPECT_EQ(q.failed(), 3u);
  EXPECT_FALSE(q.take(20));  // two left: a partial batch waits for flush_ms
  b = q.take(1010);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 2u);
  q.done(true, 2);
  EXPECT_EQ(q.sent(), 2u);
  EXPECT_EQ(q.queued(), 0u);
}

TEST(ExportFormats, ZipkinArrayAndOtlpJson) {
  Span s;
  s.trace_id = *TraceId::parse("abc");
  s.id = 0x10;
  s.parent_id = 0x20;
  s.name = "get";
  s.kind = Kind::kServer;
  s.timestamp_us = 1000;
  s.duration_us = 25;
  s.local.service_name = "conclave";
  s.tags = {{"zk.op", "getData"}, {"error", "-4"}};
  s.annotations = {{1010, "ws"}};
  auto z = conclave::json::parse(zipkin_v2_body({s, s})).as_array();
  ASSERT_EQ(z.size(), 2u);
  EXPECT_EQ(z[0].at("traceId").as_string(), "0000000000000abc");
  auto o = conclave::json::parse(otlp_json_body({s}));
  const auto& rs = o.at("resourceSpans").as_array().at(0);
  EXPECT_EQ(rs.at("resource").at("attributes").as_array().at(0).at("value").at("stringValue").as_string(), "conclave");
  const auto& span = rs.at("scopeSpans").as_array().at(0).at("spans").as_array().at(0);
  EXPECT_EQ(span.at("traceId").as_string(), "00000000000000000000000000000abc");  // 16 bytes in OTLP
  EXPECT_EQ(span.at("spanId").as_string(), "0000000000000010");
  EXPECT_EQ(span.at("parentSpanId").as_string(), "0000000000000020");
  EXPECT_EQ(span.at("kind").as_int64(), 2);
  EXPECT_EQ(span.at("startTimeUnixNano").as_string(), "1000000");
  EXPECT_EQ(span.at("endTimeUnixNano").as_string(), "1025000");
  EXPECT_EQ(span.at("events").as_array().at(0).at("name").as_string(), "ws");
  EXPECT_EQ(span.at("status").at("code").as_int64(), 2);  // the error tag
  EXPECT_EQ(span.at("status").at("message").as_string(), "-4");
}

// ---- a write's replication in its trace (server/entry_codec.h, server/replication_trace.h) ----

namespace {

conclave::raft::Entry traced_entry(conclave::raft::Index index, const conclave::trace::Parent& p) {
  conclave::raft::Entry e;
  e.index = index;
  e.term = 1;
  e.type = conclave::raft::EntryType::kCommand;
  conclave::server::encode_traced_entry(p, "\x06command", e.data);
  return e;
}

}  // namespace

TEST(EntryCodec, TracedAndPlainPayloads) {
  using namespace conclave::server;
  conclave::trace::Parent p;
  p.trace_id.high = 0x0102030405060708ull;
  p.trace_id.low = 2;
  p.span_id = 0xfedcba9876543210ull;
  p.debug = true;
  std::string data;
  encode_traced_entry(p, "\x06xyz", data);
  // The layout entries have on disk: big-endian numbers after the marker.
  EXPECT_EQ(data.substr(0, 9), std::string("\xE7\x01\x02\x03\x04\x05\x06\x07\x08", 9));
  EntryPayload out;
  ASSERT_TRUE(decode_entry(data, &out));
  ASSERT_TRUE(out.parent.has_value());
  EXPECT_EQ(out.parent->span_id, 0xfedcba9876543210ull);
  EXPECT_EQ(out.parent->trace_id.high, 0x0102030405060708ull);
  EXPECT_EQ(out.parent->trace_id.low, 2u);
  EXPECT_TRUE(out.parent->debug);
  EXPECT_EQ(out.command, "\x06xyz");
  // A command's own encoding passes through untouched; a truncated traced header is refused.
  ASSERT_TRUE(decode_entry("\x06plain", &out));
  EXPECT_FALSE(out.parent.has_value());
  EXPECT_EQ(out.command, "\x06plain");
  EXPECT_FALSE(decode_entry(std::string_view(data).substr(0, 10), &out));
}

TEST(ReplicationTrace, OneSpanPerFollowerFromFirstSendToAcknowledgement) {
  using namespace conclave;
  trace::TracerOptions o;
  o.probability = 1;
  trace::Tracer tracer(o);
  int64_t now = 1000;
  std::vector<std::pair<raft::Index, uint64_t>> awaited;
  server::ReplicationTrace::Hooks h;
  h.tracer = &tracer;
  h.wall_us = [&] { return now; };
  h.await_wal = [&](raft::Index i, const trace::Parent& p) { awaited.emplace_back(i, p.span_id); };
  server::ReplicationTrace rt(h);
  trace::Parent propose;
  propose.trace_id.high = 7;
  propose.trace_id.low = 8;
  propose.span_id = 99;

  raft::Message app;
  app.type = raft::MessageType::kAppend;
  app.from = 1;
  app.index = 4;
  raft::Entry plain;
  plain.index = 5;
  plain.type = raft::EntryType::kCommand;
  plain.data = "\x06untraced";
  app.entries = {plain, traced_entry(6, propose)};
  for (uint64_t to : {2, 3}) {
    app.to = to;
    rt.on_send(app);
  }
  EXPECT_EQ(rt.pending(), 2u);  // the traced entry, once per follower
  now = 1500;
  app.to = 2;
  rt.on_send(app);  // a retransmission does not restart the span
  raft::Message resp;
  resp.type = raft::MessageType::kAppendResp;
  resp.from = 2;
  resp.index = 5;  // not yet the traced entry
  rt.on_receive(resp);
  resp.index = 6;
  resp.reject = true;  // a refusal acknowledges nothing
  rt.on_receive(resp);
  EXPECT_EQ(tracer.store().size(), 0u);
  now = 2000;
  resp.reject = false;
  rt.on_receive(resp);
  ASSERT_EQ(tracer.store().size(), 1u);
  auto spans = tracer.store().trace(propose.trace_id);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "replicate");
  EXPECT_EQ(spans[0].parent_id, 99u);
  EXPECT_EQ(spans[0].timestamp_us, 1000);
  EXPECT_EQ(spans[0].duration_us, 1000);
  EXPECT_EQ(rt.pending(), 1u);  // follower 3's is still open
  rt.leadership_lost();
  EXPECT_EQ(rt.pending(), 0u);

  // A follower receiving the append: the traced entry's fsync span is awaited under the leader's.
  app.from = 1;
  app.to = 2;
  rt.on_receive(app);
  ASSERT_EQ(awaited.size(), 1u);
  EXPECT_EQ(awaited[0], std::make_pair(raft::Index{6}, uint64_t{99}));
}

TEST(ReplicationLatency, FromSendToAcknowledgementPerFollower) {
  using namespace conclave;
  server::ReplicationLatency rl;
  raft::Message app;
  app.type = raft::MessageType::kAppend;
  app.to = 2;
  app.entries.resize(2);
  app.entries[0].index = 5;
  app.entries[1].index = 6;
  rl.on_send(app, 1000);
  rl.on_send(app, 1500);  // a retransmission keeps the first send's time
  app.entries = {raft::Entry{}};
  app.entries[0].index = 7;
  rl.on_send(app, 2000);
  app.entries.clear();
  rl.on_send(app, 2100);  // a heartbeat-like empty append carries nothing to time
  raft::Message resp;
  resp.type = raft::MessageType::kAppendResp;
  resp.from = 2;
  resp.index = 6;
  resp.reject = true;
  rl.on_receive(resp, 2500);
  EXPECT_TRUE(rl.by_follower().empty());  // a refusal acknowledges nothing
  resp.reject = false;
  rl.on_receive(resp, 3000);
  ASSERT_EQ(rl.by_follower().count(2), 1u);
  EXPECT_EQ(rl.by_follower().at(2).count(), 1u);  // the append through 6, after 2000 µs
  EXPECT_NE(rl.by_follower().at(2).text("x", "").find("x_sum 0.002"), std::string::npos);
  rl.leadership_lost();
  resp.index = 7;
  rl.on_receive(resp, 4000);
  EXPECT_EQ(rl.by_follower().at(2).count(), 1u);  // forgotten with the leadership
}

TEST(TraceGather, MergesMembersAnswersAndLeavesOutTheSilentAndTheMalformed) {
  using namespace conclave;
  std::vector<std::pair<uint64_t, std::string>> sent;
  std::function<void()> timer;
  server::TraceGather::Hooks h;
  h.send = [&](uint64_t to, std::string p) { sent.emplace_back(to, std::move(p)); };
  h.members = [] { return std::vector<uint64_t>{2, 3, 4}; };
  h.local = [](const std::string&, const server::TraceGather::Query&) {
    return trace::ApiAnswer{200, R"([{"traceId":"ab","id":"1","timestamp":5}])"};
  };
  h.after = [&](int64_t, std::function<void()> fn) { timer = std::move(fn); };
  server::TraceGather g(h);
  std::optional<server::TraceGather::Answer> got;
  g.query("/api/v2/trace/ab", {}, [&](server::TraceGather::Answer a) { got = std::move(a); });
  ASSERT_EQ(sent.size(), 3u);
  auto reply = [&](uint64_t from, int status, std::string body) {
    std::string payload = sent[0].second.substr(1, 8);  // the query id
    Writer w(payload);
    w.u32(static_cast<uint32_t>(status));
    w.raw(body);
    g.on_reply(from, payload);
  };
  reply(2, 200, R"([{"traceId":"ab","id":"2","timestamp":3},{"traceId":"ab","id":"1","timestamp":5}])");
  reply(9, 200, R"([{"traceId":"ab","id":"9","timestamp":1}])");  // never asked: ignored
  reply(3, 200, "not json");                                        // malformed: left out
  EXPECT_FALSE(got.has_value());  // member 4 has not answered
  timer();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->asked, 3u);
  EXPECT_EQ(got->replied, 2u);
  EXPECT_EQ(got->api.status, 200);
  // Each span once, oldest first.
  EXPECT_EQ(got->api.body, R"([{"traceId":"ab","id":"2","timestamp":3},{"traceId":"ab","id":"1","timestamp":5}])");
}
