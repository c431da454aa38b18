// The node's span export: every finished span goes into a bounded queue per configured collector
// (trace::ExportQueue), and a tick on the event loop POSTs a batch when one is due, through
// net::Prober (asynchronous, with a timeout), so a slow or absent collector never holds a request.
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "net/probe.h"
#include "trace/export.h"

namespace conclave::server {

struct ExportTarget {
  trace::ExportFormat format = trace::ExportFormat::kZipkinV2;
  std::string url;  // http://host:port/path (Zipkin: .../api/v2/spans, OTLP: .../v1/traces)
};

struct SpanExportOptions {
  std::vector<ExportTarget> targets;
  trace::ExportOptions queue;
  int64_t timeout_ms = 5000;  // a POST not answered by then counts as failed
};

class SpanExporter {
 public:
  /// `wall_us` is the clock spans are stamped with (the export delay is measured against it).
  SpanExporter(SpanExportOptions options, net::Prober& prober, std::function<int64_t()> wall_us);

  void add(const trace::Span& span);
  /// Sends what is due; call it often (the node does every 100 ms).
  void tick(int64_t now_ms);
  /// Prometheus lines for every target (sent, dropped, failed, queued, export delay).
  std::string metrics_text() const;

 private:
  struct Target {
    ExportTarget config;
    trace::ExportQueue queue;
    std::string label;  // "zipkin" / "otlp"
    LatencyHistogram delay;  // a span's end until its collector accepted it
  };
  SpanExportOptions options_;
  net::Prober& prober_;
  std::function<int64_t()> wall_us_;
  std::vector<std::unique_ptr<Target>> targets_;
  // Probe callbacks may outlive the exporter; they hold this and do nothing once it is false.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

 public:
  ~SpanExporter() { *alive_ = false; }
};

}  // namespace conclave::server
