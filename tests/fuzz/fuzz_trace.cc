// Trace context from request headers (B3 single and multi, W3C traceparent) and the Zipkin read
// API's query parsing: any header values give either no context or a well-formed one, and any
// query gets an answer with a status.
//
// Input: newline-separated values for b3, x-b3-traceid, x-b3-spanid, x-b3-sampled, x-b3-flags,
// traceparent, then a read-API path and query values.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/assert.h"
#include "trace/context.h"
#include "trace/store.h"
#include "trace/zipkin_api.h"

using namespace conclave::trace;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() < 12) {
    size_t nl = in.find('\n', start);
    parts.emplace_back(in.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  parts.resize(12);
  const char* names[] = {"b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags", "traceparent"};
  std::map<std::string, std::string, std::less<>> headers;
  for (int i = 0; i < 6; ++i) headers[names[i]] = parts[static_cast<size_t>(i)];
  Incoming ctx = extract([&](std::string_view n) {
    auto it = headers.find(n);
    return it == headers.end() ? std::string_view() : std::string_view(it->second);
  });
  if (ctx.trace_id.valid()) {
    CONCLAVE_ASSERT(ctx.parent_id != 0, "a context names the caller's span");
    auto again = TraceId::parse(ctx.trace_id.hex());
    CONCLAVE_ASSERT(again && *again == ctx.trace_id, "trace ids round-trip through hex");
    CONCLAVE_ASSERT(traceparent(ctx.trace_id, ctx.parent_id, true).size() == 55, "traceparent has its fixed size");
  }
  SpanStore store(4);
  for (uint64_t i = 1; i <= 6; ++i) {
    Span s;
    s.trace_id = ctx.trace_id.valid() && i == 6 ? ctx.trace_id : TraceId{i % 3, i};
    s.id = i;
    s.name = "op";
    s.local.service_name = "conclave";
    s.timestamp_us = static_cast<int64_t>(i);
    s.tags = {{"k", parts[11]}};
    store.add(std::move(s));
  }
  std::map<std::string, std::string> query = {{"serviceName", parts[7]},     {"annotationQuery", parts[8]},
                                              {"limit", parts[9]},           {"minDuration", parts[10]},
                                              {"traceIds", parts[8]},        {"spanName", parts[11]}};
  auto a = zipkin_api(store, "/api/v2/" + parts[6], query, 1000);
  CONCLAVE_ASSERT(a.status == 200 || a.status == 400 || a.status == 404, "the read API answers with a status");
  CONCLAVE_ASSERT(a.status != 200 || !a.body.empty(), "an answer has a body");
  return 0;
}
