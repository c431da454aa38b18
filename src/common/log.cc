#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

#include "common/assert.h"
#include "common/hex.h"

namespace conclave::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};
thread_local TraceIds t_ids;

/// The ids of t_ids as hex: the trace id (16 or 32 digits) and the span id; empty without a trace.
struct HexIds {
  char trace[32], span[16];
  std::string_view trace_id, span_id;
};
HexIds hex_ids() {
  HexIds h;
  if (t_ids.trace_high == 0 && t_ids.trace_low == 0) return h;
  char* end = t_ids.trace_high ? hex16(t_ids.trace_low, hex16(t_ids.trace_high, h.trace)) : hex16(t_ids.trace_low, h.trace);
  h.trace_id = std::string_view(h.trace, static_cast<size_t>(end - h.trace));
  h.span_id = std::string_view(h.span, static_cast<size_t>(hex16(t_ids.span_id, h.span) - h.span));
  return h;
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

void set_trace_ids(uint64_t trace_high, uint64_t trace_low, uint64_t span_id) {
  t_ids = TraceIds{trace_high, trace_low, span_id};
}
void clear_trace_ids() { t_ids = TraceIds{}; }
TraceIds trace_ids() { return t_ids; }
Level level() { return g_level.load(std::memory_order_relaxed); }


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
  const HexIds ids = hex_ids();
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
    if (!ids.trace_id.empty()) {
      line += ",\"trace_id\":\"";
      line += ids.trace_id;
      line += "\",\"span_id\":\"";
      line += ids.span_id;
      line += '"';
    }
    line += "}\n";
  } else {
    char head[80];
    std::snprintf(head, sizeof head, "%s %-5s [", stamp, name(level));
    line = head;
    line.append(component);
    line += "] ";
    if (!ids.trace_id.empty()) {
      line += "[conclave,";
      line += ids.trace_id;
      line += ',';
      line += ids.span_id;
      line += "] ";
    }
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
