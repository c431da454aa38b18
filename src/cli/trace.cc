// `conclave trace`: reads traces back from a node's Zipkin v2 read API (/api/v2/trace/{id},
// /api/v2/traces) and prints them for a terminal: one trace as an indented timeline, or the
// slowest recent traces as a table.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "cli/commands.h"
#include "cli/http_client.h"

namespace conclave::cli {
namespace {

const char* kTraceUsage =
    "Usage: conclave trace [-http-addr=HOST:PORT | -nodes=HOST:PORT,...] TRACE_ID\n"
    "       conclave trace -recent [-limit=N] [-lookback=MS] [-service=NAME] [-http-addr=HOST:PORT]\n\n"
    "Prints one trace kept by the node as an indented timeline (each span's start offset, duration, a bar\n"
    "of where it falls in the trace, its name, service, kind and tags), or with -recent the slowest\n"
    "recent traces (default: 10 of those in the last hour). A node answers with the spans every member\n"
    "made of the trace; -nodes reads it from several nodes' HTTP APIs (each span once).\n";

struct SpanView {
  std::string id, parent, name, service, kind, endpoint;
  int64_t start = 0, duration = 0;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<std::pair<int64_t, std::string>> annotations;  // (epoch µs, value)
};

SpanView view(const json::value& v) {
  const auto& o = v.as_object();
  SpanView s;
  auto text = [&](const char* k) { return o.contains(k) ? str(o.at(k)) : std::string(); };
  s.id = text("id");
  s.parent = text("parentId");
  s.name = text("name");
  s.kind = text("kind");
  if (o.contains("localEndpoint")) {
    const auto& e = o.at("localEndpoint").as_object();
    if (e.contains("serviceName")) s.service = str(e.at("serviceName"));
    std::string ip = e.contains("ipv4") ? str(e.at("ipv4")) : e.contains("ipv6") ? "[" + str(e.at("ipv6")) + "]" : "";
    s.endpoint = ip + (e.contains("port") ? ":" + str(e.at("port")) : "");
  }
  if (o.contains("timestamp")) s.start = o.at("timestamp").to_number<int64_t>();
  if (o.contains("duration")) s.duration = o.at("duration").to_number<int64_t>();
  if (o.contains("tags"))
    for (const auto& [k, val] : o.at("tags").as_object()) s.tags.emplace_back(std::string(k), str(val));
  if (o.contains("annotations"))
    for (const auto& a : o.at("annotations").as_array()) {
      const auto& ao = a.as_object();
      if (ao.contains("timestamp") && ao.contains("value"))
        s.annotations.emplace_back(ao.at("timestamp").to_number<int64_t>(), str(ao.at("value")));
    }
  return s;
}

std::string millis(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", double(us) / 1000.0);
  return buf;
}

std::string utc(int64_t us) {
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(us % 1000000));
  return buf;
}

/// The trace's extent: (first start, last end).
std::pair<int64_t, int64_t> extent(const std::vector<SpanView>& spans) {
  int64_t first = INT64_MAX, last = 0;
  for (const auto& s : spans) {
    first = std::min(first, s.start);
    last = std::max(last, s.start + s.duration);
  }
  return {first, last};
}

/// A span is a root of the printed tree when its parent is not in the trace.
std::vector<const SpanView*> roots(const std::vector<SpanView>& spans) {
  std::set<std::string> ids;
  for (const auto& s : spans) ids.insert(s.id);
  std::vector<const SpanView*> out;
  for (const auto& s : spans)
    if (s.parent.empty() || !ids.count(s.parent)) out.push_back(&s);
  return out;
}

constexpr int kBar = 30;

void print_timeline(const std::string& id, const std::vector<SpanView>& spans) {
  auto [first, last] = extent(spans);
  int64_t total = std::max<int64_t>(last - first, 1);
  std::set<std::string> services, endpoints;
  for (const auto& s : spans) {
    services.insert(s.service);
    endpoints.insert(s.endpoint);
  }
  bool many_nodes = endpoints.size() > 1;  // then each span says which node made it
  std::printf("Trace %s: %zu span%s on %zu service%s, %s, started %s\n\n", id.c_str(), spans.size(),
              spans.size() == 1 ? "" : "s", services.size(), services.size() == 1 ? "" : "s", millis(total).c_str(),
              utc(first).c_str());
  std::multimap<std::string, const SpanView*> children;  // parent id -> child
  for (const auto& s : spans) children.emplace(s.parent, &s);
  // Depth-first, siblings in start order; a span id seen twice (a shared span) prints each time.
  std::vector<std::pair<const SpanView*, int>> order;
  std::vector<std::pair<const SpanView*, int>> stack;
  auto by_start = [](const SpanView* a, const SpanView* b) { return a->start > b->start; };  // reversed: a stack
  auto top = roots(spans);
  std::sort(top.begin(), top.end(), by_start);
  for (const auto* r : top) stack.emplace_back(r, 0);
  std::set<const SpanView*> seen;
  while (!stack.empty()) {
    auto [s, depth] = stack.back();
    stack.pop_back();
    if (!seen.insert(s).second) continue;
    order.emplace_back(s, depth);
    std::vector<const SpanView*> kids;
    auto range = children.equal_range(s->id);
    for (auto it = range.first; it != range.second; ++it)
      if (it->second != s) kids.push_back(it->second);
    std::sort(kids.begin(), kids.end(), by_start);
    for (const auto* k : kids) stack.emplace_back(k, depth + 1);
  }
  std::printf("%12s %12s  %-*s  %s\n", "start", "duration", kBar + 2, "", "span");
  for (const auto& [s, depth] : order) {
    int from = static_cast<int>((s->start - first) * kBar / total);
    int len = std::max(1, static_cast<int>(s->duration * kBar / total));
    from = std::min(from, kBar - 1);
    len = std::min(len, kBar - from);
    std::string bar = "|" + std::string(from, ' ') + std::string(len, '=') + std::string(kBar - from - len, ' ') + "|";
    std::string line = std::string(depth * 2, ' ') + s->name + " [" + s->service +
                       (many_nodes && !s->endpoint.empty() ? " " + s->endpoint : "") +
                       (s->kind.empty() ? "" : " " + s->kind) + "]";
    for (const auto& [k, v] : s->tags) line += " " + k + "=" + v;
    // Annotations at their time in the trace: "committed@+1.050 ms".
    for (const auto& [ts, v] : s->annotations) line += " " + v + "@+" + millis(ts - first);
    std::printf("%12s %12s  %s  %s\n", ("+" + millis(s->start - first)).c_str(), millis(s->duration).c_str(), bar.c_str(),
                line.c_str());
  }
}

int recent(const CommandOpts& o) {
  long limit = 10;
  if (o.flags.count("limit")) {
    limit = std::atol(o.flags.at("limit").c_str());
    if (limit <= 0) return fail("-limit: expected a positive number");
  }
  std::string path = "/api/v2/traces?limit=1000";
  path += "&lookback=" + (o.flags.count("lookback") ? o.flags.at("lookback") : std::string("3600000"));
  if (o.flags.count("service")) path += "&serviceName=" + url_path_escape(o.flags.at("service"));
  json::value v;
  std::string error;
  if (!get_json(o, path, &v, &error)) return fail(error);
  struct Row {
    std::string id, root;
    size_t spans;
    int64_t start, duration;
  };
  std::vector<Row> rows;
  for (const auto& t : v.as_array()) {
    std::vector<SpanView> spans;
    for (const auto& s : t.as_array()) spans.push_back(view(s));
    if (spans.empty()) continue;
    auto [first, last] = extent(spans);
    auto r = roots(spans);
    std::string trace_id = str(t.as_array().front().at("traceId"));
    rows.push_back({trace_id, r.empty() ? spans.front().name : r.front()->name, spans.size(), first, last - first});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.duration > b.duration; });
  if (rows.size() > static_cast<size_t>(limit)) rows.resize(static_cast<size_t>(limit));
  std::vector<std::vector<std::string>> table{{"Trace ID", "Duration", "Spans", "Root", "Started"}};
  for (const auto& r : rows) table.push_back({r.id, millis(r.duration), std::to_string(r.spans), r.root, utc(r.start)});
  print_table(table);
  return 0;
}

}  // namespace

int run_trace(std::vector<std::string> args) {
  CommandOpts o = parse_command_opts(args);
  if (o.flags.count("h") || o.flags.count("help")) {
    std::fputs(kTraceUsage, stdout);
    return 0;
  }
  if (o.flags.count("recent")) {
    if (!o.args.empty()) return fail("-recent takes no trace id");
    return recent(o);
  }
  if (o.args.size() != 1) {
    std::fputs(kTraceUsage, stderr);
    return 1;
  }
  const std::string& id = o.args[0];
  if (id.empty() || id.size() > 32 || id.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    return fail("'" + id + "' is not a trace id (1-32 hex digits)");
  std::vector<std::string> nodes;
  if (o.flags.count("nodes")) {
    std::string list = o.flags.at("nodes");
    for (size_t at = 0; at <= list.size();) {
      size_t comma = std::min(list.find(',', at), list.size());
      std::string a = list.substr(at, comma - at);
      if (a.rfind("http://", 0) == 0) a = a.substr(7);
      if (!a.empty()) nodes.push_back(a);
      at = comma + 1;
    }
    if (nodes.empty()) return fail("-nodes: expected HOST:PORT,...");
  } else {
    nodes.push_back(o.addr);
  }
  std::vector<SpanView> spans;
  std::set<std::string> seen;
  for (const auto& node : nodes) {
    auto r = http_call(node, "GET", "/api/v2/trace/" + id, 10000);
    if (!r) return fail("querying " + node + ": " + r.error().message);
    if (r->status == 404) continue;
    if (r->status != 200) return fail("querying " + node + ": " + std::to_string(r->status) + " " + r->body);
    boost::system::error_code ec;
    auto v = json::parse(r->body, ec);
    if (ec || !v.is_array()) return fail("malformed reply from " + node);
    // A node answers with every member's spans of the trace: with -nodes, each span once.
    for (const auto& s : v.as_array())
      if (seen.insert(json::serialize(s)).second) spans.push_back(view(s));
  }
  if (spans.empty())
    return fail("no trace " + id + (nodes.size() > 1 ? " on these nodes" : " on this node") +
                " (it was not sampled, or is no longer kept)");
  print_timeline(id, spans);
  return 0;
}

}  // namespace conclave::cli
