#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

#include "common/assert.h"

namespace conclave::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};
thread_local std::string t_trace_id;
thread_local std::string t_span_id;
// Ids given as numbers (set_trace_ids), formatted into the strings above only when a line is
// written: a traced request that logs nothing costs no formatting.
struct PendingIds {
  bool set = false;
  uint64_t high = 0, low = 0, span = 0;
};
thread_local PendingIds t_pending;

void format_pending() {
  if (!t_pending.set) return;
  t_pending.set = false;
  t_trace_id = t_pending.high ? fmt::format("{:016x}{:016x}", t_pending.high, t_pending.low)
                              : fmt::format("{:016x}", t_pending.low);
  t_span_id = fmt::format("{:016x}", t_pending.span);
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}
std::mutex g_mu;
const char* name(Level l) {
  switch (l) {
    case Level::kDebug: return "DEBUG";
    case Level::kInfo: return "INFO";
    case Level::kWarn: return "WARN";
    case Level::kError: return "ERROR";
  }
  return "?";
}
}  // namespace

void set_level(Level level) { g_level = level; }
void set_format(Format format) { g_format = format; }

void set_trace(std::string_view trace_id, std::string_view span_id) {
  t_pending.set = false;
  t_trace_id.assign(trace_id);
  t_span_id.assign(span_id);
}

void set_trace_ids(uint64_t trace_high, uint64_t trace_low, uint64_t span_id) {
  t_pending = PendingIds{true, trace_high, trace_low, span_id};
}
Level level() { return g_level.load(std::memory_order_relaxed); }

ScopedTrace::ScopedTrace(std::string_view trace_id, std::string_view span_id)
    : prev_trace_((format_pending(), t_trace_id)), prev_span_(t_span_id) {
  set_trace(trace_id, span_id);
}

ScopedTrace::~ScopedTrace() { set_trace(prev_trace_, prev_span_); }

void write(Level level, std::string_view component, std::string_view message) {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%s.%03dZ", ts, int(ms % 1000));
  format_pending();
  std::string line;
  if (g_format.load(std::memory_order_relaxed) == Format::kJson) {
    line = "{\"ts\":\"";
    line += stamp;
    line += "\",\"level\":\"";
    line += name(level);
    line += "\",\"component\":";
    json_string(line, component);
    line += ",\"msg\":";
    json_string(line, message);
    if (!t_trace_id.empty()) {
      line += ",\"trace_id\":\"" + t_trace_id + "\",\"span_id\":\"" + t_span_id + "\"";
    }
    line += "}\n";
  } else {
    char head[80];
    std::snprintf(head, sizeof head, "%s %-5s [", stamp, name(level));
    line = head;
    line.append(component);
    line += "] ";
    if (!t_trace_id.empty()) line += "[conclave," + t_trace_id + "," + t_span_id + "] ";
    line.append(message);
    line += '\n';
  }
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace conclave::log

namespace conclave::detail {
void assert_fail(const char* cond, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "ASSERTION FAILED: %s at %s:%d: %s\n", cond, file, line, msg);
  std::fflush(stderr);
  std::abort();
}
}  // namespace conclave::detail
