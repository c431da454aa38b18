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

/// The trace ids of the request this thread is serving now ("" to clear); set by the tracer.
void set_trace(std::string_view trace_id, std::string_view span_id);
/// The same as numbers (a 64-bit trace id has trace_high 0), formatted as Zipkin's lower-case hex
/// only if a line is written before they change: what the tracer sets around every request.
void set_trace_ids(uint64_t trace_high, uint64_t trace_low, uint64_t span_id);
/// Sets this thread's trace ids for a scope and puts the previous ones back after it.
class ScopedTrace {
 public:
  ScopedTrace(std::string_view trace_id, std::string_view span_id);
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  std::string prev_trace_, prev_span_;
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
