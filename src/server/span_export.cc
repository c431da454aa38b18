#include "server/span_export.h"

#include <fmt/format.h>

namespace conclave::server {

SpanExporter::SpanExporter(SpanExportOptions options, net::Prober& prober, std::function<int64_t()> wall_us)
    : options_(std::move(options)), prober_(prober), wall_us_(std::move(wall_us)) {
  for (const auto& t : options_.targets) {
    auto target = std::unique_ptr<Target>(new Target{t, trace::ExportQueue(options_.queue),
                                                     t.format == trace::ExportFormat::kZipkinV2 ? "zipkin" : "otlp"});
    targets_.push_back(std::move(target));
  }
}

void SpanExporter::add(const trace::Span& span) {
  for (auto& t : targets_) t->queue.push(span);
}

void SpanExporter::tick(int64_t now_ms) {
  for (auto& t : targets_) {
    auto batch = t->queue.take(now_ms);
    if (!batch) continue;
    net::HttpProbe post;
    post.method = "POST";
    post.url = t->config.url;
    post.timeout_ms = options_.timeout_ms;
    post.headers = {{"Content-Type", "application/json"}};
    post.body = t->config.format == trace::ExportFormat::kZipkinV2 ? trace::zipkin_v2_body(*batch)
                                                                   : trace::otlp_json_body(*batch);
    size_t n = batch->size();
    std::vector<int64_t> ends;
    ends.reserve(n);
    for (const auto& s : *batch) ends.push_back(s.timestamp_us + s.duration_us);
    Target* target = t.get();
    prober_.http(std::move(post), [this, alive = alive_, target, n, ends = std::move(ends)](net::ProbeResult r) {
      if (!*alive) return;
      bool ok = r.connected && r.http_status >= 200 && r.http_status < 300;
      target->queue.done(ok, n);
      if (ok && wall_us_) {
        int64_t now = wall_us_();
        for (int64_t end : ends) target->delay.observe_us(now - end);
      }
    });
  }
}

std::string SpanExporter::metrics_text() const {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& t : targets_) out += fmt::format("{}{{target=\"{}\"}} {}\n", name, t->label, value(t->queue));
  };
  if (targets_.empty()) return out;
  family("conclave_trace_export_sent_total", "counter", "Spans a collector accepted.",
         [](const trace::ExportQueue& q) { return q.sent(); });
  family("conclave_trace_export_dropped_total", "counter", "Spans dropped because the export queue was full.",
         [](const trace::ExportQueue& q) { return q.dropped(); });
  family("conclave_trace_export_failed_total", "counter",
         "Spans in batches the collector refused or did not answer in time.",
         [](const trace::ExportQueue& q) { return q.failed(); });
  family("conclave_trace_export_queued", "gauge", "Spans waiting to be exported.",
         [](const trace::ExportQueue& q) { return q.queued(); });
  out += "# HELP conclave_trace_export_delay_seconds From a span's end until its collector accepted it.\n"
         "# TYPE conclave_trace_export_delay_seconds histogram\n";
  for (const auto& t : targets_)
    out += t->delay.text("conclave_trace_export_delay_seconds", fmt::format("target=\"{}\"", t->label));
  return out;
}

}  // namespace conclave::server
