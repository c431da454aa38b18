#include "consul/params.h"

#include <fmt/format.h>

#include <cmath>

namespace conclave::consul {

std::optional<int64_t> parse_duration_ms(std::string_view s, int64_t bare_unit_ms) {
  if (s.empty()) return std::nullopt;
  if (s == "0") return 0;
  bool bare = s.find_first_not_of("0123456789") == std::string_view::npos;
  if (bare) {
    if (bare_unit_ms == 0 || s.size() > 15) return std::nullopt;
    return static_cast<int64_t>(std::stoll(std::string(s))) * bare_unit_ms;
  }
  double total_ns = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == start || i - start > 20) return std::nullopt;
    double v = 0;
    try {
      v = std::stod(std::string(s.substr(start, i - start)));
    } catch (...) {
      return std::nullopt;
    }
    size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view unit = s.substr(ustart, i - ustart);
    double mult = 0;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "µs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return std::nullopt;
    total_ns += v * mult;
  }
  if (!std::isfinite(total_ns) || total_ns > 9.2e18) return std::nullopt;
  return static_cast<int64_t>(total_ns / 1e6);
}

std::string tail_of(const std::string& path, std::string_view prefix) {
  return path.size() > prefix.size() ? path.substr(prefix.size()) : std::string();
}

std::string format_duration(int64_t ms) {
  if (ms == 0) return "0s";
  if (ms < 1000) return fmt::format("{}ms", ms);
  int64_t h = ms / 3600000, m = ms / 60000 % 60;
  double sec = static_cast<double>(ms % 60000) / 1000.0;
  std::string secs = ms % 1000 == 0 ? fmt::format("{}", static_cast<int64_t>(sec)) : fmt::format("{}", sec);
  if (h) return fmt::format("{}h{}m{}s", h, m, secs);
  if (m) return fmt::format("{}m{}s", m, secs);
  return secs + "s";
}

std::optional<uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  try {
    return std::stoull(std::string(s));
  } catch (...) {
    return std::nullopt;
  }
}

const json::value* field(const json::object& o, std::string_view name) {
  if (const json::value* v = o.if_contains(name)) return v;
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    if (k.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < k.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(k[i])) == std::tolower(static_cast<unsigned char>(name[i]));
    if (same) return &kv.value();
  }
  return nullptr;
}

net::HttpResponse text_error(int status, std::string message) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(message);
  return r;
}

bool check_datacenter(const net::HttpRequest& req, const std::string& datacenter, net::HttpResponse* error) {
  auto it = req.query.find("dc");
  if (it != req.query.end() && !it->second.empty() && it->second != datacenter) {
    *error = text_error(500, "No path to datacenter");
    return false;
  }
  return true;
}

bool parse_query_options(const net::HttpRequest& req, const std::string& datacenter, QueryOptions* out,
                         net::HttpResponse* error) {
  if (!check_datacenter(req, datacenter, error)) return false;
  bool stale = req.has_query("stale"), consistent = req.has_query("consistent");
  if (stale && consistent) {
    *error = text_error(400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
    return false;
  }
  out->consistency = stale ? Consistency::kStale : consistent ? Consistency::kConsistent : Consistency::kDefault;
  if (auto it = req.query.find("index"); it != req.query.end()) {
    auto v = parse_uint(it->second);
    if (!v) {
      *error = text_error(400, "Invalid index");
      return false;
    }
    out->min_index = *v;
  }
  out->wait_ms = 5 * 60 * 1000;
  if (auto it = req.query.find("wait"); it != req.query.end()) {
    auto v = parse_duration_ms(it->second);
    if (!v || *v < 0) {
      *error = text_error(400, "Invalid wait time");
      return false;
    }
    if (*v > 0) out->wait_ms = std::min<int64_t>(*v, 10 * 60 * 1000);
  }
  return true;
}

}  // namespace conclave::consul
