// Logging: one line per event on stderr, with its level and component, as text
//   2026-12-02T14:05:24.061Z INFO  [node] message
// or as JSON (`set_format(Format::kJson)`), one object per line:
//   {"ts":"2026-12-02T14:05:24.061Z","level":"INFO","component":"node","msg":"message"}
// A line written while a traced request is being served carries its ids: Sleuth's
// `[conclave,traceId,spanId]` after the component in text, "trace_id"/"span_id" in JSON, so logs
// and traces join. Thread-safe. Kept tiny so that every module can include it cheaply.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace conclave::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_level(Level level);
Level level();

enum class Format { kText, kJson };
void set_format(Format format);

/// The trace ids of the request this thread is serving now, set by the tracer: a 64-bit trace id
/// has trace_high 0; trace 0 and span 0 is none. Kept as numbers and written as Zipkin's
/// lower-case hex only when a line is written, so a traced request that logs nothing pays nothing.
struct TraceIds {
  uint64_t trace_high = 0, trace_low = 0, span_id = 0;
};
void set_trace_ids(uint64_t trace_high, uint64_t trace_low, uint64_t span_id);
void clear_trace_ids();
TraceIds trace_ids();
/// Sets this thread's trace ids for a scope and puts the previous ones back after it.
class ScopedTrace {
 public:
  ScopedTrace(uint64_t trace_high, uint64_t trace_low, uint64_t span_id) : prev_(trace_ids()) {
    set_trace_ids(trace_high, trace_low, span_id);
  }
  ~ScopedTrace() { set_trace_ids(prev_.trace_high, prev_.trace_low, prev_.span_id); }
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  TraceIds prev_;
};
void write(Level level, std::string_view component, std::string_view message);

template <typename... Args>
void info(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kInfo) write(Level::kInfo, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kWarn) write(Level::kWarn, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::kDebug) write(Level::kDebug, component, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace conclave::log
