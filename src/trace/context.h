// Trace context as it arrives on a request: B3 (multi-header `X-B3-*` and single `b3`) and W3C
// Trace Context (`traceparent`; `tracestate` is carried, not interpreted), and as it leaves on a
// response. Pure parsing: no clocks, no randomness.
//
// Precedence when a request carries several: `b3`, then `X-B3-*`, then `traceparent` (Brave's
// order). A malformed header is ignored, as if absent: the request starts a new trace.
#pragma once

#include <cstdint>
#include <type_traits>
#include <optional>
#include <string>
#include <string_view>

namespace conclave::trace {

struct TraceId {
  uint64_t high = 0;  // 0 for a 64-bit id
  uint64_t low = 0;
  bool valid() const { return high != 0 || low != 0; }
  bool operator==(const TraceId&) const = default;
  auto operator<=>(const TraceId&) const = default;
  /// 16 or 32 lower-case hex digits (32 when `high` is set), as Zipkin writes it.
  std::string hex() const;
  /// 1-32 hex digits (shorter ids are left-padded, as Zipkin reads them).
  static std::optional<TraceId> parse(std::string_view hex);
};

std::string span_id_hex(uint64_t id);
std::optional<uint64_t> parse_span_id(std::string_view hex);

/// What the caller said about sampling.
enum class Sampling { kUnknown, kDeny, kAccept, kDebug };

struct Incoming {
  TraceId trace_id;         // invalid: no (usable) context came with the request
  uint64_t parent_id = 0;   // the caller's span: ours is its child
  Sampling sampling = Sampling::kUnknown;
  std::string tracestate;   // W3C vendor state, passed on untouched
};

/// A header by lower-case name ("" when absent), as a view of the request it is asked of: a
/// callable taken by reference for the length of one call (it allocates nothing).
class HeaderLookup {
 public:
  template <class F>
  HeaderLookup(const F& f)  // NOLINT: made implicitly from a lambda at the call
      : fn_(&f), call_([](const void* fn, std::string_view name) { return (*static_cast<const F*>(fn))(name); }) {
    static_assert(std::is_same_v<std::invoke_result_t<const F&, std::string_view>, std::string_view>,
                  "return a view of the request's own header, not a temporary string");
  }
  std::string_view operator()(std::string_view name) const { return call_(fn_, name); }

 private:
  const void* fn_;
  std::string_view (*call_)(const void*, std::string_view);
};

/// Reads the context from request headers.
Incoming extract(HeaderLookup header);
/// Whether a header (by lower-case name) is one extract() reads: a request with none of them
/// needs no lookups (most requests: scanning their names is cheaper than six lookups).
inline bool is_context_header(std::string_view name) {
  return name == "b3" || name.starts_with("x-b3-") || name == "traceparent" || name == "tracestate";
}

/// W3C `traceparent` value for a span (version 00): `00-{32 hex trace id}-{16 hex span id}-{01|00}`,
/// written into `out` (kTraceparentSize bytes; the trace id's hex is at out + 3, the span id's at
/// out + 36). Returns out + kTraceparentSize.
constexpr size_t kTraceparentSize = 55;
char* write_traceparent(const TraceId& id, uint64_t span_id, bool sampled, char* out);
inline std::string traceparent(const TraceId& id, uint64_t span_id, bool sampled) {
  char out[kTraceparentSize];
  return std::string(out, write_traceparent(id, span_id, sampled, out));
}

}  // namespace conclave::trace
