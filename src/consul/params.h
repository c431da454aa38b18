// Consul's common query parameters and values: Go durations ("15s", "1m30s", "250ms"), unsigned
// indexes, the datacenter check, consistency modes and blocking-query options.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "net/http.h"

namespace conclave::consul {

/// Parses a Go duration into milliseconds. A bare number is taken as `bare_unit_ms` units.
std::optional<int64_t> parse_duration_ms(std::string_view s, int64_t bare_unit_ms = 0);
/// Formats milliseconds as Go's time.Duration.String() does ("15s", "1m0s", "1h0m0s", "250ms").
std::string format_duration(int64_t ms);
/// What follows `prefix` in `path` ("" when nothing does): the name in /v1/catalog/service/<name>.
std::string tail_of(const std::string& path, std::string_view prefix);
std::optional<uint64_t> parse_uint(std::string_view s);

enum class Consistency { kDefault, kConsistent, kStale };

struct QueryOptions {
  Consistency consistency = Consistency::kDefault;
  uint64_t min_index = 0;  // ?index: 0 means "do not block"
  int64_t wait_ms = 0;     // ?wait, with Consul's default (5 min), cap (10 min) and jitter added later
};

/// Reads ?stale, ?consistent, ?index, ?wait and ?dc. On a bad value returns false with the
/// response (400, or 500 "No path to datacenter") in `error`.
bool parse_query_options(const net::HttpRequest& req, const std::string& datacenter, QueryOptions* out,
                         net::HttpResponse* error);
/// Only ?dc (for writes).
bool check_datacenter(const net::HttpRequest& req, const std::string& datacenter, net::HttpResponse* error);

net::HttpResponse text_error(int status, std::string message);

/// A member of a JSON request object, matched as Go's encoding/json matches struct fields:
/// exactly, or else ignoring case (clients send "ttl" as well as "TTL").
const json::value* field(const json::object& o, std::string_view name);

}  // namespace conclave::consul
