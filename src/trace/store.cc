#include "trace/store.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "common/assert.h"

namespace conclave::trace {

namespace {

// A stored span, in this process's byte order (it never leaves the store):
//   u64 id, u64 parent, i64 timestamp, i64 duration, u8 kind, u8 flags (1 debug, 2 shared),
//   name name, endpoint local, endpoint remote, u8 annotations, u32 tags,
//   annotations x (i64 at, name value), u32 tag bytes, the tags packed (trace/tags.h)
//   name = u64 address + u32 length of a Name's text (it lives as long as the process);
//   endpoint = name service, u8 ip length + ip, u16 port
constexpr size_t kNameBytes = 12;
constexpr size_t kFixedBytes = 8 * 4 + 2;

size_t packed_size(const Span& s) {
  return kFixedBytes + kNameBytes + 2 * (kNameBytes + 1 + 2) + s.local.ip.view().size() + s.remote.ip.view().size() +
         1 + 4 + s.annotations.size() * (8 + kNameBytes) + 4 + s.tags.packed().size();
}

struct Packer {
  char* p;
  void u8(uint8_t v) { *p++ = static_cast<char>(v); }
  void u16(uint16_t v) {
    std::memcpy(p, &v, 2);
    p += 2;
  }
  void u32(uint32_t v) {
    std::memcpy(p, &v, 4);
    p += 4;
  }
  void u64(uint64_t v) {
    std::memcpy(p, &v, 8);
    p += 8;
  }
  void name(Name n) {
    u64(reinterpret_cast<uintptr_t>(n.view().data()));
    u32(static_cast<uint32_t>(n.size()));
  }
  void endpoint(const Endpoint& e) {
    name(e.service_name);
    std::string_view ip = e.ip;
    u8(static_cast<uint8_t>(ip.size()));
    std::memcpy(p, ip.data(), ip.size());
    p += ip.size();
    u16(e.port);
  }
};

struct Unpacker {
  const char* p;
  uint8_t u8() { return static_cast<uint8_t>(*p++); }
  uint16_t u16() {
    uint16_t v;
    std::memcpy(&v, p, 2);
    p += 2;
    return v;
  }
  uint32_t u32() {
    uint32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  uint64_t u64() {
    uint64_t v;
    std::memcpy(&v, p, 8);
    p += 8;
    return v;
  }
  Name name() {
    const char* text = reinterpret_cast<const char*>(static_cast<uintptr_t>(u64()));
    return Name::from_kept(std::string_view(text, u32()));
  }
  std::string_view ip() {
    size_t n = u8();
    std::string_view v(p, n);
    p += n;
    return v;
  }
  Endpoint endpoint() {
    Endpoint e;
    e.service_name = name();
    e.ip = ip();
    e.port = u16();
    return e;
  }
};

/// Writes packed_size(s) bytes at `out`; returns the end.
char* pack(const Span& s, char* out) {
  Packer w{out};
  w.u64(s.id);
  w.u64(s.parent_id);
  w.u64(static_cast<uint64_t>(s.timestamp_us));
  w.u64(static_cast<uint64_t>(s.duration_us));
  w.u8(static_cast<uint8_t>(s.kind));
  w.u8((s.debug ? 1 : 0) | (s.shared ? 2 : 0));
  w.name(s.name);
  w.endpoint(s.local);
  w.endpoint(s.remote);
  w.u8(static_cast<uint8_t>(s.annotations.size()));
  w.u32(static_cast<uint32_t>(s.tags.size()));
  for (const auto& a : s.annotations) {
    w.u64(static_cast<uint64_t>(a.timestamp_us));
    w.name(a.value);
  }
  std::string_view tags = s.tags.packed();
  w.u32(static_cast<uint32_t>(tags.size()));
  std::memcpy(w.p, tags.data(), tags.size());
  return w.p + tags.size();
}

Span unpack(const TraceId& trace_id, std::string_view flat) {
  Unpacker r{flat.data()};
  Span s;
  s.trace_id = trace_id;
  s.id = r.u64();
  s.parent_id = r.u64();
  s.timestamp_us = static_cast<int64_t>(r.u64());
  s.duration_us = static_cast<int64_t>(r.u64());
  s.kind = static_cast<Kind>(r.u8());
  uint8_t flags = r.u8();
  s.debug = flags & 1;
  s.shared = flags & 2;
  s.name = r.name();
  s.local = r.endpoint();
  s.remote = r.endpoint();
  uint32_t annotations = r.u8(), tags = r.u32();
  for (uint32_t i = 0; i < annotations; ++i) {
    auto at = static_cast<int64_t>(r.u64());
    s.annotations.add(at, r.name());
  }
  uint32_t tag_bytes = r.u32();
  s.tags = Tags::from_packed(std::string_view(r.p, tag_bytes), tags);
  return s;
}

/// A stored span's name and endpoints' service names, read in place: what the service and span
/// name listings need, without unpacking the rest.
struct Names {
  std::string_view name, local_service, remote_service;
};
Names names_of(std::string_view flat) {
  Unpacker r{flat.data() + kFixedBytes};
  Names out;
  out.name = r.name();
  out.local_service = r.name();
  r.ip();
  r.u16();
  out.remote_service = r.name();
  return out;
}

}  // namespace

void SpanStore::add(const Span& s) {
  const size_t n = packed_size(s), cap = ring_size_;
  if (capacity_ == 0 || n > cap) {
    ++dropped_;
    return;
  }
  uint64_t at = head_;
  size_t offset = static_cast<size_t>(at % cap);
  if (offset + n > cap) {  // does not fit before the end: start at the ring's beginning
    at += cap - offset;
    offset = 0;
  }
  // Drop the oldest spans while the store is full or their bytes are about to be overwritten.
  while (!spans_.empty() && (spans_.size() >= capacity_ || spans_.front().at + cap < at + n)) {
    spans_.pop_front();
    ++dropped_;
  }
  // Both ends of the store are cold memory: the oldest record was written `capacity` spans ago and
  // the ring's bytes about to be overwritten as long. Reading the next oldest records and writing
  // the next bytes ahead of time takes the cache misses off this path (measured: most of its cost).
  if (spans_.size() > kPrefetchAhead) __builtin_prefetch(&spans_[kPrefetchAhead]);
  size_t ahead = offset + kPrefetchBytes;
  if (ahead + 64 < cap) {
    __builtin_prefetch(ring_.get() + ahead, 1);
    __builtin_prefetch(ring_.get() + ahead + 64, 1);
  }
  char* start = ring_.get() + offset;
  CONCLAVE_ASSERT(pack(s, start) == start + n, "span packed to a size other than packed_size()");
  spans_.push_back(Stored{s.trace_id, at, static_cast<uint32_t>(n)});
  head_ = at + n;
  ++accepted_;
}

std::vector<std::string> SpanStore::services() const {
  std::set<std::string> out;
  for (const auto& st : spans_)
    if (auto n = names_of(flat(st)); !n.local_service.empty()) out.emplace(n.local_service);
  return {out.begin(), out.end()};
}

std::vector<std::string> SpanStore::span_names(const std::string& service) const {
  std::set<std::string> out;
  for (const auto& st : spans_)
    if (auto n = names_of(flat(st)); n.local_service == service) out.emplace(n.name);
  return {out.begin(), out.end()};
}

std::vector<std::string> SpanStore::remote_services(const std::string& service) const {
  std::set<std::string> out;
  for (const auto& st : spans_)
    if (auto n = names_of(flat(st)); n.local_service == service && !n.remote_service.empty())
      out.emplace(n.remote_service);
  return {out.begin(), out.end()};
}

namespace {
// A 64-bit query id matches a 128-bit trace by its low half (Zipkin's strictTraceId=false).
bool matches_id(const TraceId& t, const TraceId& id) { return t == id || (id.high == 0 && t.low == id.low); }

void by_start(std::vector<Span>& spans) {
  std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.timestamp_us < b.timestamp_us; });
}
}  // namespace

std::vector<Span> SpanStore::trace(const TraceId& id) const {
  std::vector<Span> out;
  for (const auto& st : spans_)
    if (matches_id(st.trace_id, id)) out.push_back(unpack(st.trace_id, flat(st)));
  by_start(out);
  return out;
}

std::vector<std::vector<Span>> SpanStore::traces(const TraceQuery& q) const {
  auto matches = [&](const Span& s) {
    if (!q.service_name.empty() && s.local.service_name != q.service_name) return false;
    if (!q.span_name.empty() && s.name != q.span_name) return false;
    if (!q.remote_service_name.empty() && s.remote.service_name != q.remote_service_name) return false;
    if (q.min_duration_us && s.duration_us < q.min_duration_us) return false;
    if (q.max_duration_us && s.duration_us > q.max_duration_us) return false;
    if (q.end_ts_ms) {
      int64_t end_us = q.end_ts_ms * 1000;
      if (s.timestamp_us > end_us) return false;
      if (q.lookback_ms && s.timestamp_us <= end_us - q.lookback_ms * 1000) return false;
    }
    for (const auto& [k, v] : q.annotation_query) {
      bool found = false;
      for (const auto& [tk, tv] : s.tags)
        if (tk == k && (v.empty() || tv == v)) found = true;
      if (v.empty())
        for (const auto& a : s.annotations)
          if (a.value == k) found = true;
      if (!found) return false;
    }
    return true;
  };
  // Newest first: the traces of the newest matching spans, then one pass gathers their spans.
  std::map<TraceId, size_t> slot;
  for (auto it = spans_.rbegin(); it != spans_.rend() && slot.size() < q.limit; ++it)
    if (!slot.count(it->trace_id) && matches(unpack(it->trace_id, flat(*it)))) slot.emplace(it->trace_id, slot.size());
  std::vector<std::vector<Span>> out(slot.size());
  for (const auto& st : spans_)
    if (auto it = slot.find(st.trace_id); it != slot.end()) out[it->second].push_back(unpack(st.trace_id, flat(st)));
  for (auto& t : out) by_start(t);
  return out;
}

}  // namespace conclave::trace
