// Spans on their way to a collector: a bounded queue per target, taken in batches, and the two
// wire formats collectors read (Zipkin v2 JSON, OTLP/HTTP JSON). No I/O and no clocks here: the
// node's exporter (server/span_export.h) sends what take() returns and reports back with done().
//
// The queue never blocks a request: when it is full the newest span is dropped, and counted.
// At most one batch is in flight per target; a batch the collector refuses or never answers is
// dropped and counted as failed (no retry, as Zipkin's and OpenTelemetry's reporters do by default).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "trace/span.h"

namespace conclave::trace {

enum class ExportFormat { kZipkinV2, kOtlpJson };

struct ExportOptions {
  size_t max_queue = 4096;   // spans waiting per target
  size_t max_batch = 512;    // spans per POST
  int64_t flush_ms = 1000;   // a partial batch goes out after this long
};

class ExportQueue {
 public:
  explicit ExportQueue(ExportOptions options) : options_(options) {}

  void push(const Span& s);
  /// The next batch to send, when none is in flight and either a full batch waits or `flush_ms`
  /// has passed since the last one went out.
  std::optional<std::vector<Span>> take(int64_t now_ms);
  /// The in-flight batch of `n` spans was accepted by the collector (`ok`) or not.
  void done(bool ok, size_t n);

  size_t queued() const { return queue_.size(); }
  bool in_flight() const { return in_flight_; }
  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }  // queue full
  uint64_t failed() const { return failed_; }    // in a batch the collector did not accept

 private:
  ExportOptions options_;
  std::deque<Span> queue_;
  bool in_flight_ = false;
  int64_t last_take_ms_ = 0;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
  uint64_t failed_ = 0;
};

/// The body of a Zipkin v2 POST /api/v2/spans: a JSON array of spans.
std::string zipkin_v2_body(const std::vector<Span>& spans);
/// The body of an OTLP/HTTP JSON POST /v1/traces: one resourceSpans per local service name,
/// ids in hex, times as decimal nanosecond strings, tags as string attributes, annotations as
/// events, `error` tag as status ERROR.
std::string otlp_json_body(const std::vector<Span>& spans);

}  // namespace conclave::trace
