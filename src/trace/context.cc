#include "trace/context.h"

#include <cstring>

#include "common/hex.h"

namespace conclave::trace {
namespace {

std::optional<uint64_t> hex64(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

Sampling sampling_flag(std::string_view s) {
  if (s == "1" || s == "true") return Sampling::kAccept;
  if (s == "0" || s == "false") return Sampling::kDeny;
  if (s == "d") return Sampling::kDebug;
  return Sampling::kUnknown;
}

// b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]], or a lone sampling state.
std::optional<Incoming> parse_b3_single(std::string_view v) {
  Incoming in;
  if (v.size() == 1) {
    in.sampling = sampling_flag(v);
    if (in.sampling == Sampling::kUnknown) return std::nullopt;
    return in;
  }
  size_t a = v.find('-');
  if (a == std::string_view::npos) return std::nullopt;
  auto id = TraceId::parse(v.substr(0, a));
  std::string_view rest = v.substr(a + 1);
  size_t b = rest.find('-');
  auto span = parse_span_id(rest.substr(0, b));
  if (!id || !span) return std::nullopt;
  in.trace_id = *id;
  in.parent_id = *span;
  if (b != std::string_view::npos) {
    rest = rest.substr(b + 1);
    size_t c = rest.find('-');
    in.sampling = sampling_flag(rest.substr(0, c));
    if (in.sampling == Sampling::kUnknown) return std::nullopt;
    if (c != std::string_view::npos && !parse_span_id(rest.substr(c + 1))) return std::nullopt;
  }
  return in;
}

// traceparent: 00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}
std::optional<Incoming> parse_traceparent(std::string_view v) {
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  if (v.substr(0, 2) == "ff" || !hex64(v.substr(0, 2))) return std::nullopt;
  if (v.substr(0, 2) == "00" && v.size() != 55) return std::nullopt;
  for (char c : v.substr(3, 49))
    if (c >= 'A' && c <= 'F') return std::nullopt;  // lower case only
  auto id = TraceId::parse(v.substr(3, 32));
  auto span = parse_span_id(v.substr(36, 16));
  auto flags = hex64(v.substr(53, 2));
  if (!id || v.substr(3, 32).size() != 32 || !span || !flags) return std::nullopt;
  Incoming in;
  in.trace_id = *id;
  in.parent_id = *span;
  in.sampling = (*flags & 1) ? Sampling::kAccept : Sampling::kUnknown;
  return in;
}

}  // namespace

std::string TraceId::hex() const {
  char out[32];
  char* end = high ? hex16(low, hex16(high, out)) : hex16(low, out);
  return std::string(out, static_cast<size_t>(end - out));
}

std::optional<TraceId> TraceId::parse(std::string_view hex) {
  if (hex.empty() || hex.size() > 32) return std::nullopt;
  TraceId id;
  if (hex.size() > 16) {
    auto hi = hex64(hex.substr(0, hex.size() - 16));
    auto lo = hex64(hex.substr(hex.size() - 16));
    if (!hi || !lo) return std::nullopt;
    id.high = *hi;
    id.low = *lo;
  } else {
    auto lo = hex64(hex);
    if (!lo) return std::nullopt;
    id.low = *lo;
  }
  if (!id.valid()) return std::nullopt;
  return id;
}

std::string span_id_hex(uint64_t id) {
  char out[16];
  return std::string(out, hex16(id, out));
}

std::optional<uint64_t> parse_span_id(std::string_view hex) {
  auto v = hex64(hex);
  if (!v || *v == 0) return std::nullopt;
  return v;
}

Incoming extract(HeaderLookup header) {
  if (std::string_view b3 = header("b3"); !b3.empty())
    if (auto in = parse_b3_single(b3)) return *in;
  std::string_view tid = header("x-b3-traceid"), sid = header("x-b3-spanid");
  std::string_view flags = header("x-b3-flags"), sampled = header("x-b3-sampled");
  if (!tid.empty() || !sid.empty() || !flags.empty() || !sampled.empty()) {
    Incoming in;
    auto id = TraceId::parse(tid);
    auto span = parse_span_id(sid);
    bool ids_ok = (tid.empty() && sid.empty()) || (id && span);
    if (ids_ok) {
      if (id) in.trace_id = *id, in.parent_id = *span;
      in.sampling = flags == "1" ? Sampling::kDebug : sampling_flag(sampled);
      if (in.trace_id.valid() || in.sampling != Sampling::kUnknown) return in;
    }
  }
  if (std::string_view tp = header("traceparent"); !tp.empty())
    if (auto in = parse_traceparent(tp)) {
      in->tracestate = header("tracestate");
      return *in;
    }
  return {};
}

char* write_traceparent(const TraceId& id, uint64_t span_id, bool sampled, char* out) {
  std::memcpy(out, "00-", 3);
  hex16(id.low, hex16(id.high, out + 3));
  out[35] = '-';
  hex16(span_id, out + 36);
  std::memcpy(out + 52, sampled ? "-01" : "-00", 3);
  return out + kTraceparentSize;
}

}  // namespace conclave::trace
